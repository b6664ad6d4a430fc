"""files.atomic_open: killed writes leave no debris for long, renames are durable, and a
path that cannot be a file gets an error naming why."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import files


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_write_removes_temporaries_of_dead_processes(tmp_path):
    orphan = tmp_path / f".last.npz.{_dead_pid()}-0badf00d.tmp"
    orphan.write_bytes(b"half a checkpoint")
    other_orphan = tmp_path / f".best.npz.{_dead_pid()}-12345678.tmp"
    other_orphan.write_bytes(b"half another")
    ns.save({"a": np.zeros(2)}, tmp_path / "metrics.npz")
    assert sorted(os.listdir(tmp_path)) == ["metrics.npz"]


def test_temporaries_of_running_processes_and_other_files_stay(tmp_path):
    mine = tmp_path / f".last.npz.{os.getpid()}-0badf00d.tmp"  # a write in progress
    mine.write_bytes(b"")
    parent = tmp_path / f".last.npz.{os.getppid()}-0badf00d.tmp"
    parent.write_bytes(b"")
    users = [tmp_path / ".hidden.tmp", tmp_path / "notes.1234-ab.tmp", tmp_path / "x.txt"]
    for path in users:
        path.write_text("mine")
    ns.save({"a": np.zeros(2)}, tmp_path / "w.npz")
    assert all(p.exists() for p in [mine, parent, *users])


def test_the_rename_is_made_durable_by_syncing_the_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(handle):
        synced.append(os.path.realpath(f"/proc/self/fd/{handle}"))
        real_fsync(handle)

    monkeypatch.setattr(os, "fsync", fsync)
    path = ns.save({"a": np.zeros(2)}, tmp_path / "w.npz")
    assert len(synced) == 2, synced
    assert synced[0].endswith(".tmp") and ".w.npz." in synced[0]  # the data, before rename
    assert synced[1] == os.path.realpath(tmp_path)  # then the folder holding the rename
    assert ns.load(path)["a"].shape == (2,)


def test_a_failed_write_leaves_no_temporary(tmp_path):
    with pytest.raises(RuntimeError), files.atomic_open(tmp_path / "x.bin") as handle:
        handle.write(b"abc")
        raise RuntimeError("disk full")
    assert os.listdir(tmp_path) == []


def test_saving_under_a_file_names_the_file_in_the_way(tmp_path):
    (tmp_path / "run").write_text("I am a file")
    with pytest.raises(NotADirectoryError, match=r"run is a file, not a folder"):
        ns.save({"a": np.zeros(2)}, tmp_path / "run" / "sub" / "last.npz")
    assert (tmp_path / "run").read_text() == "I am a file"


def test_saving_onto_a_folder_says_it_is_a_folder(tmp_path):
    (tmp_path / "last.npz").mkdir()
    with pytest.raises(IsADirectoryError, match=r"last.npz: it is a folder"):
        ns.save({"a": np.zeros(2)}, tmp_path / "last.npz")
