import numpy as np
import torch

from nnscratch import functional as F
from oracle import check_gradient, compare_with_torch, rng


def test_oracle_helpers_work_on_mul():
    a, b = rng().standard_normal((3, 4)), rng(1).standard_normal((4,))
    for dtype in (np.float64, np.float32):
        compare_with_torch(F.mul, torch.mul, [a, b], dtype)
    check_gradient(F.mul, [a, b])
