"""Tools around the framework: gradient checking (more to come: summary, shapes, plots)."""

from .gradcheck import GradcheckError, gradcheck

__all__ = ["GradcheckError", "gradcheck"]
