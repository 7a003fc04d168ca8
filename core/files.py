"""Files the project writes: whole or not at all, and one writer at a time where that matters.

`atomic_write(path, data)` writes to a unique temporary name beside `path`, fsyncs it, renames it
over `path` and fsyncs the directory, so a reader (or a crash, even SIGKILL) sees the old file or
the new one, never half of either. `exclusive_lock(path)` holds an `flock` on a lock file for a
block: between threads and processes alike, since each call opens its own file description.

Deliberately not here: what goes into the files, and non-blocking "is someone else running"
locks with their own messages (campaign/folder.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from core.errors import InputError


def atomic_write(path: Path | str, data: bytes | str | Callable[[BinaryIO], None], *,
                 tmp_suffix: str = ".tmp") -> None:
    """Write `data` (bytes, UTF-8 text, or a function writing to a binary handle) to `path`.

    The temporary file is `.<name>.<random><tmp_suffix>` in the same directory; a sweeper of
    leftovers can tell its own suffix from another writer's (the campaign runner removes `.tmp`
    files of a killed run, so writers that run beside it use `.part`).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=tmp_suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the rename itself is still atomic
    finally:
        os.close(fd)


@contextmanager
def exclusive_lock(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `lock_file` (created if missing) for the block."""
    import fcntl

    with open(lock_file, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def run_lock(folder: Path, what: str) -> Iterator[None]:
    """One run per folder: a non-blocking `flock` on FOLDER/.lock holding this process's pid
    (the kernel drops it when the process dies). A second run gets an InputError naming the pid
    of `what` ("campaign run", "evaluation") that holds it. No advisory locks (Windows): no lock."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(Path(folder) / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise InputError(f"another {what} (pid {holder}) is working in {folder}; wait for it to "
                             "finish or stop it, then run again") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
