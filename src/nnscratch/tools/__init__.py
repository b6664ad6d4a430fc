"""Tools around the framework: gradient checking, model summaries, plots of training runs."""

from . import plot
from .gradcheck import GradcheckError, gradcheck
from .summary import SummaryRow, summary, summary_rows

__all__ = ["GradcheckError", "SummaryRow", "gradcheck", "plot", "summary", "summary_rows"]
