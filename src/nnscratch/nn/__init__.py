"""Modules, layers, losses, initializers and regularization (PyTorch's names)."""

from . import init, utils
from .activation import (
    BRU,
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Sparsemax,
    Step,
    Tanh,
)
from .attention import MultiheadAttention
from .containers import ModuleDict, ModuleList, Sequential
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .dropout import Dropout, GaussianNoise
from .embedding import Embedding
from .linear import Flatten, Identity, Linear, Unflatten
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CategoricalCrossEntropy,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
)
from .module import Module
from .normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from .parameter import Parameter
from .pooling import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    LPPool2d,
    MaxPool1d,
    MaxPool2d,
    Upsample,
)
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .regularization import penalty
from .transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "BRU", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "CategoricalCrossEntropy",
    "CrossEntropyLoss", "Dropout", "ELU", "Flatten", "GaussianNoise", "GELU", "HuberLoss",
    "Identity",
    "GroupNorm", "L1Loss", "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "Module",
    "ModuleDict", "ModuleList", "NLLLoss", "Parameter", "ReLU", "Sequential", "SiLU",
    "Sigmoid", "Softmax", "Softplus", "Sparsemax", "Step", "Tanh", "Unflatten", "init",
    "penalty", "utils",
    "Conv1d", "Conv2d", "ConvTranspose2d",
    "AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm2d", "LPPool2d", "MaxPool1d", "MaxPool2d",
    "Upsample",
    "Embedding", "GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell",
    "RNNCellBase",
    "MultiheadAttention", "TransformerEncoder", "TransformerEncoderLayer",
]
