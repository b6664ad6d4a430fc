"""Atomic, durable file writes: everything nnscratch writes goes through `atomic_open`.

The contract:
- A crash (even SIGKILL or power loss) leaves either the old file or the new one at
  `path`, never half of one: the data goes to a temporary file beside `path`, is
  fsync'ed, renamed onto `path`, and then the folder is fsync'ed so the rename itself
  survives a power loss.
- Temporary files are named `.{name}.{pid}-{random}.tmp`. A write that was killed leaves
  one behind; the next write to any file of that folder removes those whose process is
  gone (the pid no longer runs), so killed runs do not pile up files. Temporary files of
  live processes (another run writing into the same folder) are left alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

_TEMPORARY = re.compile(r"^\..+\.(\d+)-[0-9a-f]+\.tmp$")


def _process_is_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    except OSError:
        return True  # cannot tell: keep its file
    return True


def remove_orphans(folder) -> list[Path]:
    """Delete temporary files in `folder` left by writes whose process no longer runs;
    returns what was removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match and entry.is_file(follow_symlinks=False) \
                and not _process_is_running(int(match.group(1))):
            with contextlib.suppress(OSError):  # a concurrent cleaner got there first
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable; a no-op where folders cannot be opened."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the rename still happened
    finally:
        os.close(handle)


def _make_parent(path: Path) -> None:
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(
                f"cannot write {path}: {parent} is a file, not a folder"
            )
    path.parent.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb"):
    """Open a temporary file beside `path` for writing; on success it is flushed to disk
    and renamed onto `path` (durably), on any error it is removed and `path` is left as
    it was. Orphans of earlier killed writes in the same folder are removed first."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a folder")
    _make_parent(path)
    remove_orphans(path.parent)
    temporary = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(handle, mode) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
