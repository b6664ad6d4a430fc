"""Seeded fuzzing of ns.load: thousands of damaged and hostile checkpoints, each of which
must either raise ns.CheckpointError or load exactly what was saved; nothing else."""

import io
import random
import struct
import time
import warnings
import zipfile

import numpy as np

import nnscratch as ns
from nnscratch import nn, optim
from test_io import _npy, _raw_npy  # the hand-made .npy members of the refusal tests

BYTE_MUTATIONS_PER_SEED = 1750  # plus 288 hostile loads: > 2,000 loads of each of the 3 files

# (offset from the signature, width) of every numeric field of the three zip headers.
_FIELDS = {
    b"PK\x03\x04": [(4, 2), (6, 2), (8, 2), (10, 2), (12, 2), (14, 4), (18, 4), (22, 4),
                    (26, 2), (28, 2)],
    b"PK\x01\x02": [(4, 2), (6, 2), (8, 2), (10, 2), (12, 2), (14, 2), (16, 4), (20, 4),
                    (24, 4), (28, 2), (30, 2), (32, 2), (34, 2), (36, 2), (38, 4), (42, 4)],
    b"PK\x05\x06": [(4, 2), (6, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2)],
}


def _state_dict():
    ns.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    return model, model.state_dict()


def _checkpoint():
    model, _ = _state_dict()
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    model(ns.randn(5, 3)).sum().backward()
    optimizer.step()
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3,
            "history": {"loss": [1.5, 0.5], "acc": [0.25, 0.75]}, "note": None,
            "rng": ns.backend.get_rng_state()}


def _members(data: bytes) -> list:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(name, archive.read(name)) for name in archive.namelist()]


def _zip(members, compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are one of the hostile cases
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


def _json_member(text: bytes) -> bytes:
    return _npy(np.frombuffer(text, dtype=np.uint8))


def _same(a, b) -> bool:
    """Exactly equal: same types, dict key order, dtypes, shapes and values."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    return a == b or (a != a and b != b)


def _flip_bits(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    cut = rng.randrange(len(data))
    return data[:cut] if rng.random() < 0.8 else data[cut:]  # lose the end, or the start


def _random_bytes(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(len(data))
    span = bytes(rng.randrange(256) for _ in range(rng.choice((1, 4, 16, 64))))
    if rng.random() < 0.3:  # insert instead of overwrite: shifts every later offset
        return data[:start] + span + data[start:]
    return data[:start] + span + data[start + len(span):]


def _edit_zip_field(data: bytes, rng: random.Random) -> bytes:
    signature = rng.choice(list(_FIELDS))
    offsets = [i for i in range(len(data)) if data.startswith(signature, i)]
    if not offsets:
        return _flip_bits(data, rng)
    base = rng.choice(offsets)
    field, width = rng.choice(_FIELDS[signature])
    fmt = "<H" if width == 2 else "<I"
    top = 2 ** (8 * width) - 1
    old = struct.unpack_from(fmt, data, base + field)[0] if base + field + width <= len(data) else 0
    value = rng.choice((0, 1, top, top - 1, rng.randrange(top + 1), (old + 1) & top,
                        (old - 1) & top, old ^ (1 << rng.randrange(8 * width)), 8, 12, 14, 99))
    out = bytearray(data)
    if base + field + width <= len(out):
        struct.pack_into(fmt, out, base + field, value)
    return bytes(out)


def _hostile_files(saved: bytes, rng: random.Random) -> list:
    """Archives with valid CRCs whose content is hostile or inconsistent: each must be
    refused by the checks themselves, not by a checksum."""
    members = _members(saved)
    names = [n for n, _ in members if n != "__header__.npy"]
    hostile_npys = [
        _npy(np.array([{"evil": 1}], dtype=object), allow_pickle=True),  # pickle-bearing
        _raw_npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", b"\0" * 8),
        _raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (10**12,), }", b"\0" * 8),
        _raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2**40, 2**40), }"),
        _raw_npy("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }", b"\0" * 4),
        _raw_npy("{'descr': '<f8', 'fortran_order': 1, 'shape': (1,), }", b"\0" * 8),
        _raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': " + "(" * 500 + ")" * 500
                 + ", }"),
        _raw_npy("__import__('os').system('echo pwned')"),
        _npy(np.zeros(3, dtype=np.complex64)),  # wrong dtype for what the header declares
        _npy(np.zeros((1, 1, 1))),  # wrong shape
        _npy(np.asfortranarray(np.zeros((2, 3)))),  # wrong order
        b"\x93NUMPY\x02\x00\xff\xff\xff\xff",
        b"",
    ]
    hostile_headers = [
        b"[" * 50_000 + b"]" * 50_000,
        b'{"format": "nnscratch-checkpoint", "version": 1, "content": '
        + b"[" * 500 + b"]" * 500 + b"}",
        b"[]", b"null", b"1e999", b'"header"', b"{", b"\xff\xfe\x00",
        b'{"format": "nnscratch-checkpoint", "version": 1}',
        b'{"format": "nnscratch-checkpoint", "version": 99, "content": {}}',
        b'{"format": "nnscratch-checkpoint", "version": 1, "content": {"a": {"__array__": 9999}}}',
        b'{"format": "nnscratch-checkpoint", "version": 1, "content": {"a": {"__array__": 1e3}}}',
        b'{"format": "nnscratch-checkpoint", "version": 1, "content": {"a": {"__array__": 0}},'
        b' "arrays": [{"dtype": "|O", "shape": [1], "fortran_order": false}]}',
        b'{"format": "nnscratch-checkpoint", "version": 1, "content": {"1": 0,'
        b' "__int_keys__": [' + b"1" * 5000 + b"]}}",
    ]
    files = []
    for npy in hostile_npys:
        victim = rng.choice(names)
        files.append(_zip([(n, npy if n == victim else d) for n, d in members]))
    for text in hostile_headers:
        files.append(_zip([(n, _json_member(text) if n == "__header__.npy" else d)
                           for n, d in members]))
    victim = rng.choice(names)
    files.append(_zip(members + [(victim, _npy(np.ones(1)))]))  # the same name twice
    files.append(_zip(members + [(victim.removesuffix(".npy"), _npy(np.ones(1)))]))
    files.append(_zip([(n, d) for n, d in members if n != victim]))  # a referenced member gone
    files.append(_zip(members, zipfile.ZIP_BZIP2))
    files.append(_zip(members, zipfile.ZIP_LZMA))
    return files


def test_damaged_and_hostile_checkpoints_only_ever_raise_checkpoint_error(tmp_path):
    rng = random.Random(12)
    _, state = _state_dict()
    seeds = {}
    for name, obj in [("state_dict", state), ("checkpoint", _checkpoint())]:
        path = ns.save(obj, tmp_path / f"{name}.npz")
        seeds[name] = (path.read_bytes(), ns.load(path))
    stored = seeds["checkpoint"][0]
    seeds["deflated"] = (_zip(_members(stored), zipfile.ZIP_DEFLATED), seeds["checkpoint"][1])
    mutators = [_flip_bits, _truncate, _random_bytes, _edit_zip_field]
    counts = {"clear error": 0, "identical load": 0, "anything else": 0}
    surprises = []
    path = tmp_path / "mutant.npz"

    def attempt(data: bytes, expected, how: str):
        path.write_bytes(data)
        try:
            loaded = ns.load(path)
        except ns.CheckpointError as error:
            assert str(path) in str(error) and "allow_pickle" not in str(error)
            counts["clear error"] += 1
            return
        except Exception as error:  # noqa: BLE001 - counting exactly these is the test
            surprises.append(f"{how}: {type(error).__name__}: {error}"[:300])
            counts["anything else"] += 1
            return
        if expected is not None and _same(loaded, expected):
            counts["identical load"] += 1
        else:
            surprises.append(f"{how}: loaded something else")
            counts["anything else"] += 1

    start = time.perf_counter()
    for name, (data, expected) in seeds.items():
        for i in range(BYTE_MUTATIONS_PER_SEED):
            mutate = mutators[i % len(mutators)]
            attempt(mutate(data, rng), expected, f"{name} {mutate.__name__} #{i}")
        for i, hostile in enumerate(_hostile_files(data, rng)):
            attempt(hostile, None, f"{name} hostile #{i}")  # None: must be refused
            for j in range(8):
                attempt(rng.choice(mutators)(hostile, rng), None, f"{name} hostile #{i}.{j}")
    elapsed = time.perf_counter() - start
    total = sum(counts.values())
    print(f"\nns.load fuzz: {total} files in {elapsed:.1f} s: {counts}")
    assert total >= 3 * 2000
    assert counts["anything else"] == 0, "\n".join(surprises[:20])

