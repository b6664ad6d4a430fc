"""A short training whose matrix products are large enough for a multi-threaded BLAS to
split their inner dimension; prints a hash of the final weights (test_determinism.py)."""

import hashlib
import sys

import numpy as np

import nnscratch as ns
from nnscratch import nn, optim


def main(deterministic: bool) -> None:
    if deterministic:
        ns.use_deterministic_algorithms(True)
    data = np.random.default_rng(0)
    x = ns.tensor(data.normal(size=(128, 50000)).astype(np.float32))
    y = ns.tensor(data.integers(0, 4, size=128))
    ns.manual_seed(0)
    model = nn.Sequential(nn.Linear(50000, 64), nn.ReLU(), nn.Linear(64, 4))
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        optimizer.zero_grad()
        loss = ns.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    digest = hashlib.sha256()
    for value in model.state_dict().values():
        digest.update(np.ascontiguousarray(value).tobytes())
    print(digest.hexdigest())


if __name__ == "__main__":
    main(sys.argv[1] == "deterministic")
