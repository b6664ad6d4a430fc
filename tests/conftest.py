import numpy as np
import pytest

import nnscratch as ns


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same generator state and default dtype."""
    ns.manual_seed(0)
    ns.set_default_dtype(np.float32)
    yield
    ns.set_default_dtype(np.float32)
