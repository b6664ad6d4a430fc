"""Tools around the framework: gradient checking, model summaries, shapes and
receptive fields, plots of training runs, the computational graph behind a tensor."""

from . import image_plots, plot
from .fcd import fcd, frechet_distance
from .gradcheck import GradcheckError, gradcheck
from .graph import graph, graph_nodes, to_dot
from .shapes import (
    RFRow,
    conv_output_shape,
    conv_transpose_output_shape,
    pool_output_shape,
    receptive_field,
)
from .summary import SummaryRow, summary, summary_rows

__all__ = ["GradcheckError", "RFRow", "SummaryRow", "conv_output_shape",
           "conv_transpose_output_shape", "fcd", "frechet_distance", "gradcheck", "graph",
           "graph_nodes", "plot", "to_dot",
           "pool_output_shape", "image_plots", "receptive_field", "summary", "summary_rows"]
