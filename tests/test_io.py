"""ns.save / ns.load: plain arrays + JSON, never pickle, atomic writes."""

import gzip
import io
import json
import os
import pickle
import struct
import warnings
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


# --- Refusals: every damaged or foreign file raises ns.CheckpointError naming it ------------

def _npy(array, allow_pickle=False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=allow_pickle)
    return buffer.getvalue()


def _raw_npy(header: str, data: bytes = b"") -> bytes:
    """A version-1 .npy member with a hand-written header dict (possibly a lie)."""
    text = header.encode("latin1") + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def _header(content, arrays=None, **fields) -> bytes:
    header = {"format": "nnscratch-checkpoint", "version": 1, "content": content, **fields}
    if arrays is not None:
        header["arrays"] = arrays
    return _npy(np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))


def _zip(path, members, compression=zipfile.ZIP_STORED):
    """Write (name, bytes) pairs as they are: duplicates and odd names included."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", compression) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return path


def _refused(path, *fragments):
    """ns.load(path) raises CheckpointError naming the file and every fragment."""
    with pytest.raises(ns.CheckpointError) as caught:
        ns.load(path)
    message = str(caught.value)
    assert str(path) in message and "allow_pickle" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _central_entries(data: bytes):
    """Offsets of the zip central-directory entries in data."""
    offset = data.find(b"PK\x01\x02")
    while offset != -1:
        yield offset
        offset = data.find(b"PK\x01\x02", offset + 4)


def test_checkpoint_error_is_a_value_error():
    assert issubclass(ns.CheckpointError, ValueError)


@pytest.mark.parametrize(("data", "what"), [
    (gzip.compress(b"hello"), "it is a gzip file"),
    (b"epoch,loss\n1,0.5\n", "it is text"),
    (b"", "it is empty"),
    (pickle.dumps({"a": 1}), "pickle"),
    (bytes(range(256)), "neither a zip archive nor text"),
])
def test_files_that_are_not_zip_archives_say_what_they_are(tmp_path, data, what):
    path = tmp_path / "x.npz"
    path.write_bytes(data)
    _refused(path, "not an nnscratch .npz file (a zip archive of .npy arrays with a JSON "
                   "header)", what)


def test_an_npy_renamed_npz_is_named_as_such(tmp_path):
    path = tmp_path / "weights.npz"
    np.save(path.with_suffix(".npy"), np.ones(3))
    path.with_suffix(".npy").rename(path)
    _refused(path, "not an nnscratch .npz file", "it is a single .npy array")


def test_foreign_npz_has_no_header(tmp_path):
    np.savez(tmp_path / "f.npz", a=np.ones(3))
    _refused(tmp_path / "f.npz", "no nnscratch header")


def test_unsupported_compression_and_encryption_are_refused(tmp_path):
    bz = _zip(tmp_path / "bz.npz", [("__header__.npy", _header({"a": 1}))], zipfile.ZIP_BZIP2)
    _refused(bz, "compression method 12", "'__header__.npy'")
    good = ns.save({"a": np.ones(3)}, tmp_path / "good.npz").read_bytes()
    for field, value, fragment in [(10, 99, "compression method 99"), (8, 1, "encrypted")]:
        data = bytearray(good)
        for entry in _central_entries(good):
            data[entry + field:entry + field + 2] = struct.pack("<H", value)
        path = tmp_path / f"edited{field}.npz"
        path.write_bytes(bytes(data))
        _refused(path, fragment)


def test_damaged_deflate_stream_is_refused(tmp_path):
    content = {"a": np.arange(1000.0)}
    path = tmp_path / "z.npz"
    arrays = [{"dtype": "<f8", "shape": [1000], "fortran_order": False}]
    _zip(path, [("__header__.npy", _header({"a": {"__array__": 0}}, arrays)),
                ("a0.npy", _npy(content["a"]))], zipfile.ZIP_DEFLATED)
    np.testing.assert_array_equal(ns.load(path)["a"], content["a"])
    data = bytearray(path.read_bytes())
    start = data.find(b"a0.npy") + len(b"a0.npy") + 40  # inside a0's compressed bytes
    data[start:start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    _refused(path, "damaged")


def test_missing_member_is_refused(tmp_path):
    path = _zip(tmp_path / "m.npz", [("__header__.npy", _header({"a": {"__array__": 1}}))])
    _refused(path, "refers to 'a1.npy', which it lacks")


@pytest.mark.parametrize(("header", "fragment"), [
    (b"[1, 2]", "a JSON list, not an object"),
    (b'"text"', "a JSON str, not an object"),
    (b"{not json", "its JSON ("),
    (b"\xff\xfe", "its JSON ("),
    (b"[" * 100_000 + b"]" * 100_000, "its JSON nests too deeply"),
    (json.dumps({"format": "nnscratch-checkpoint", "version": 1}).encode(), "no 'content'"),
    (json.dumps({"format": "other", "version": 1, "content": 1}).encode(), "format 'other'"),
    (json.dumps({"format": "nnscratch-checkpoint", "version": True, "content": 1}).encode(),
     "version True"),
    (json.dumps({"format": "nnscratch-checkpoint", "version": 1,
                 "content": {"x": [[[[1]]]]} | {"y": json.loads("[" * 150 + "]" * 150)}}
                ).encode(), "nests deeper than 100 levels"),
])
def test_headers_that_are_not_the_expected_json_object_are_refused(tmp_path, header, fragment):
    path = _zip(tmp_path / "h.npz",
                [("__header__.npy", _npy(np.frombuffer(header, dtype=np.uint8)))])
    _refused(path, "header", fragment)


@pytest.mark.parametrize(("content", "fragment"), [
    ({"a": {"__array__": True}}, "bad array reference"),
    ({"a": {"__array__": -1}}, "bad array reference"),
    ({"a": {"__array__": "0"}}, "bad array reference"),
    ({"a": {"__array__": 0, "b": 1}}, "bad array reference"),
    ({"1": 2, "__int_keys__": ["2"]}, "bad __int_keys__"),
    ({"01": 2, "__int_keys__": ["01"]}, "bad __int_keys__"),
    ({"1": 2, "__int_keys__": "1"}, "bad __int_keys__"),
])
def test_malformed_content_is_refused(tmp_path, content, fragment):
    path = _zip(tmp_path / "c.npz", [("__header__.npy", _header(content)),
                                     ("a0.npy", _npy(np.ones(2)))])
    _refused(path, fragment)


def test_header_that_is_not_bytes_is_refused(tmp_path):
    path = _zip(tmp_path / "h.npz", [("__header__.npy", _npy(np.ones(3)))])
    _refused(path, "its header is a float64 array")


def test_pickles_and_object_arrays_are_never_loaded(tmp_path):
    pickled = _npy(np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    for name in ("a0.npy", "__header__.npy"):
        members = [("__header__.npy", _header({"a": {"__array__": 0}})), ("a0.npy", pickled)]
        members = [(n, pickled if n == name else d) for n, d in members]
        path = _zip(tmp_path / f"p{name}.npz", members)
        _refused(path, "'|O' array", "never objects or pickles")
    structured = _npy(np.zeros(2, dtype=[("x", "<f4")]))
    path = _zip(tmp_path / "s.npz", [("__header__.npy", _header({"a": {"__array__": 0}})),
                                     ("a0.npy", structured)])
    _refused(path, "only bool and numeric arrays")


def test_huge_declared_shape_is_refused_before_allocating(tmp_path):
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    path = _zip(tmp_path / "huge.npz", [("__header__.npy", _header({"a": {"__array__": 0}})),
                                        ("a0.npy", _raw_npy(header, b"\0" * 64))])
    _refused(path, "declares a (1000000000000,) <f8 array (8000000000000 bytes)",
             "holds 64 bytes")


def test_total_declared_memory_beyond_the_limit_is_refused(tmp_path, monkeypatch):
    path = ns.save({"a": np.ones(100), "b": np.ones(100)}, tmp_path / "big.npz")
    monkeypatch.setattr(ns.io_checks, "MAX_LOAD_BYTES", 1500)
    _refused(path, "declares 1600 bytes of arrays, more than the 1500-byte limit")
    monkeypatch.setattr(ns.io_checks, "MAX_LOAD_BYTES", 1600)
    assert ns.load(path)["b"].shape == (100,)


def test_declared_sizes_beyond_the_file_are_refused(tmp_path):
    good = ns.save({"a": np.ones(3)}, tmp_path / "good.npz").read_bytes()
    for field, fragment in [(20, "beyond the file's"),
                            (24, "declares 4294967294 bytes")]:
        data = bytearray(good)
        for entry in _central_entries(good):  # compressed size, then uncompressed size
            data[entry + field:entry + field + 4] = struct.pack("<I", 2**32 - 2)
        path = tmp_path / f"sizes{field}.npz"
        path.write_bytes(bytes(data))
        _refused(path, "damaged", fragment)


def test_duplicate_and_ambiguous_member_names_are_refused(tmp_path):
    header = ("__header__.npy", _header({"a": {"__array__": 0}}))
    twice = _zip(tmp_path / "twice.npz", [header, ("a0.npy", _npy(np.ones(2))),
                                          ("a0.npy", _npy(np.zeros(2)))])
    _refused(twice, "holds the member 'a0.npy' twice")
    both = _zip(tmp_path / "both.npz", [header, ("a0", _npy(np.zeros(2))),
                                        ("a0.npy", _npy(np.ones(2)))])
    _refused(both, "holds both 'a0' and 'a0.npy'")


def test_members_that_do_not_match_the_declared_layout_are_refused(tmp_path):
    content = {"a": {"__array__": 0}}
    for declared, fragment in [
        ({"dtype": "<f8", "shape": [3], "fortran_order": False}, "the header declares <f8 (3,)"),
        ({"dtype": "<f4", "shape": [2], "fortran_order": False}, "the header declares <f4 (2,)"),
        ({"dtype": "<f4", "shape": [3], "fortran_order": True}, "fortran_order=True"),
        ({"dtype": "<f4", "shape": "3"}, "no valid layout for array 0"),
    ]:
        path = _zip(tmp_path / "layout.npz", [("__header__.npy", _header(content, [declared])),
                                              ("a0.npy", _npy(np.ones(3, np.float32)))])
        _refused(path, fragment)
    path = _zip(tmp_path / "few.npz", [("__header__.npy", _header(content, [])),
                                       ("a0.npy", _npy(np.ones(3, np.float32)))])
    _refused(path, "no valid layout for array 0")


def test_an_npy_header_alone_is_validated_when_the_header_declares_no_layout(tmp_path):
    content = {"a": {"__array__": 0}}
    old = _zip(tmp_path / "old.npz", [("__header__.npy", _header(content)),
                                      ("a0.npy", _npy(np.arange(6.0).reshape(2, 3)))])
    assert ns.load(old)["a"].tolist() == [[0, 1, 2], [3, 4, 5]]  # files from before "arrays"
    for header, fragment in [
        ("{'descr': '<f8', 'shape': (-1,), 'fortran_order': False}", "invalid shape"),
        ("{'descr': '<f8', 'shape': (2,)}", "unreadable array header"),
        ("__import__('os')", "unreadable array header"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", "holds 8 bytes"),
    ]:
        path = _zip(tmp_path / "npy.npz", [("__header__.npy", _header(content)),
                                           ("a0.npy", _raw_npy(header, b"\0" * 8))])
        _refused(path, "'a0.npy'", fragment)
    path = _zip(tmp_path / "short.npz", [("__header__.npy", _header(content)),
                                         ("a0.npy", b"\x93NUMPY")])
    _refused(path, "member 'a0.npy' is cut short")


def test_only_members_the_header_references_are_read(tmp_path):
    path = _zip(tmp_path / "extra.npz", [
        ("__header__.npy", _header({"a": {"__array__": 0}})), ("a0.npy", _npy(np.ones(2))),
        ("a1.npy", _npy(np.array([{"x": 1}], dtype=object), allow_pickle=True)),
        ("junk.bin", b"\xff" * 100)])
    assert ns.load(path)["a"].tolist() == [1.0, 1.0]


def test_fortran_order_and_byte_order_round_trip(tmp_path):
    fortran = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    big = np.arange(4, dtype=">i4")
    loaded = ns.load(ns.save({"f": fortran, "b": big, "e": np.zeros((0, 3))}, tmp_path / "o.npz"))
    np.testing.assert_array_equal(loaded["f"], fortran)
    assert loaded["b"].dtype == big.dtype and loaded["b"].tolist() == [0, 1, 2, 3]
    assert loaded["e"].shape == (0, 3)


# --- ns.save refuses keys it cannot read back, leaving the file as it was ----------------

@pytest.mark.parametrize(("obj", "error", "fragment"), [
    ({True: np.ones(2)}, TypeError, "cannot store the dict key True (bool)"),
    ({1.5: 1}, TypeError, "cannot store the dict key 1.5 (float)"),
    ({(1, 2): 1}, TypeError, "cannot store the dict key (1, 2) (tuple)"),
    ({None: 1}, TypeError, "cannot store the dict key None"),
    ({"__int_keys__": ["1"]}, ValueError, "'__int_keys__' is reserved"),
    ({"x": {"__array__": 0}}, ValueError, "'__array__' is reserved"),
    ({1: np.ones(2), "1": np.zeros(2)}, ValueError, "would both be stored as '1'"),
    ({"1": 0, np.int64(1): 0}, ValueError, "would both be stored as '1'"),
    (json.loads("[" * 120 + "]" * 120), ValueError, "nests deeper than 100 levels"),
])
def test_save_refuses_keys_it_cannot_read_back(tmp_path, obj, error, fragment):
    path = ns.save({"a": np.zeros(2)}, tmp_path / "keep.npz")
    before = path.read_bytes()
    with pytest.raises(error) as caught:
        ns.save(obj, path)
    assert fragment in str(caught.value)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["keep.npz"]


def test_numpy_scalars_that_are_not_plain_values_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store a date;"):
        ns.save({"t": np.datetime64("2026-01-01")}, tmp_path / "t.npz")
    assert not (tmp_path / "t.npz").exists()


def test_int_keys_including_numpy_ints_come_back_as_ints(tmp_path):
    state = {0: {"step": 1}, np.int64(7): [1, 2], -3: "x", "name": {10: np.ones(1)}}
    loaded = ns.load(ns.save(state, tmp_path / "k.npz"))
    assert list(loaded) == [0, 7, -3, "name"] and all(type(k) is int for k in list(loaded)[:3])
    assert loaded[7] == [1, 2] and loaded["name"][10].tolist() == [1.0]
