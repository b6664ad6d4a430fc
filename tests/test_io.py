"""ns.save / ns.load: plain arrays + JSON, never pickle, atomic writes."""

import os
import zipfile

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import nn, optim


def test_model_and_optimizer_state_round_trip(tmp_path):
    ns.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    loss = model(ns.randn(5, 3)).sum()
    loss.backward()
    optimizer.step()
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                  "epoch": 3, "history": {"loss": [1.5, 0.5]}, "note": None,
                  "rng": ns.backend.get_rng_state()}
    path = ns.save(checkpoint, tmp_path / "run" / "last.npz")
    loaded = ns.load(path)
    assert loaded["epoch"] == 3 and loaded["history"] == {"loss": [1.5, 0.5]}
    assert loaded["note"] is None and loaded["rng"] == checkpoint["rng"]
    for name, value in checkpoint["model"].items():
        np.testing.assert_array_equal(loaded["model"][name], value)
        assert loaded["model"][name].dtype == value.dtype
    assert list(loaded["model"]) == list(checkpoint["model"])
    fresh = optim.Adam(model.parameters(), lr=0.5)
    fresh.load_state_dict(loaded["optimizer"])  # int parameter indices survive JSON
    assert fresh.param_groups[0]["lr"] == 0.01
    np.testing.assert_array_equal(fresh.state[model[0].weight]["exp_avg"],
                                  optimizer.state[model[0].weight]["exp_avg"])


def test_tensors_and_numpy_scalars_are_stored_as_plain_values(tmp_path):
    path = ns.save({"t": ns.tensor([1.0, 2.0]), "s": np.float32(2.5), "i": np.int64(3)},
                   tmp_path / "x.npz")
    loaded = ns.load(path)
    assert loaded["t"].tolist() == [1.0, 2.0] and loaded["s"] == 2.5 and loaded["i"] == 3


def test_load_never_unpickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"__header__": np.array([{"x": 1}], dtype=object)})
    with pytest.raises(ns.CheckpointError, match="never objects or pickles"):
        ns.load(path)


def test_load_rejects_foreign_and_damaged_files(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.ones(3))
    with pytest.raises(ValueError, match="no nnscratch header"):
        ns.load(foreign)
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"not a zip file")
    with pytest.raises(ns.CheckpointError, match="not an nnscratch .npz file"):
        ns.load(damaged)
    good = ns.save({"a": np.ones(100)}, tmp_path / "good.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ns.CheckpointError, match="damaged"):
        ns.load(truncated)
    with pytest.raises(FileNotFoundError, match="no file"):
        ns.load(tmp_path / "missing.npz")


def test_unsavable_objects_raise_before_touching_the_file(tmp_path):
    path = ns.save({"a": np.zeros(2)}, tmp_path / "keep.npz")
    before = path.read_bytes()
    with pytest.raises(TypeError, match="cannot store a object"):
        ns.save({"a": object()}, path)
    assert path.read_bytes() == before


def test_a_crash_while_writing_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = ns.save({"a": np.zeros(2)}, tmp_path / "keep.npz")
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        ns.save({"a": np.ones(2)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.npz"]


def test_file_is_a_plain_npz(tmp_path):
    path = ns.save({"w": np.arange(3.0)}, tmp_path / "w.npz")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["__header__.npy", "a0.npy"]
