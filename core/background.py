"""Detached command-line runs that outlive the page that started them (campaign batches, evals).

A run lives in its own folder: the page writes `job.json` there, starts `promptrag batch|eval
... -o FOLDER` in a new session (so closing the tab, or the server, does not end it), and reads the
folder back later from any session. This module is the process side shared by `campaign/jobs.py`
and `evaluation/jobs.py`:

- `spawn(command, log, env)`: start the command detached, its output appended to `log`;
- `alive(pid, out_dir)`: whether that pid is still our run for `out_dir` (not a zombie, not a pid
  the system gave to another program since);
- `terminate(pid)`: SIGTERM to the run's process group (the command stops cleanly on it);
- `read_json` / `write_json` (atomic) / `read_tail` / `now`: the small file helpers both use.

Deliberately not here: what a run's states mean and how its progress is counted (each workflow's
jobs.py), and locking (core/files.py `exclusive_lock`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.files import atomic_write

# A run folder's files and states, the same for campaigns and evaluations
JOB_FILE = "job.json"
JOB_LOCK = ".job.lock"
STATUS_FILE = "status.json"
FINAL_STATES = ("finished", "failed", "cancelled")
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")  # a run id is a folder name: no path parts

# Runs this process started: polled so an ended child is reaped (no zombie that looks alive).
_CHILDREN: dict[int, subprocess.Popen] = {}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; {} when the file is missing, torn or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict[str, Any]) -> None:
    # ".part", not ".tmp": a starting runner sweeps OUT/.*.tmp (left by a killed run) and
    # must not take a file this process is still writing.
    atomic_write(path, json.dumps(data, indent=2, default=str), tmp_suffix=".part")


def read_tail(path: Path, limit: int = 4000) -> str:
    """The last `limit` bytes of a log as text ("" when there is none)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    return data[-limit:].decode("utf-8", errors="replace")


def reap() -> None:
    """Collect the exit status of every run this process started that has ended."""
    for pid, child in list(_CHILDREN.items()):
        if child.poll() is not None:
            _CHILDREN.pop(pid, None)


def alive(pid: int | None, out_dir: Path, *, started_by_hand: bytes | None = None) -> bool:
    """Whether `pid` is still our run for `out_dir` (not a zombie, not a reused pid).

    `started_by_hand`: the subcommand (b"batch") of a run a user may have started in a shell with
    a relative `-o` path, recognised by that word and the folder's name.
    """
    if not pid:
        return False
    reap()
    proc = Path(f"/proc/{pid}")
    if proc.parent.is_dir() and Path("/proc/self").exists():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
            return False
        if os.fsencode(str(out_dir)) in cmdline:
            return True
        if started_by_hand is None:
            return False
        name = os.fsencode(out_dir.name)
        return started_by_hand in cmdline and any(arg.rstrip(b"/").endswith(name) for arg in cmdline)
    try:  # no /proc (macOS): the best we can do
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def spawn(command: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Start `command` in a new session, its output appended to `log` (after a dated header); the pid.
    `env`: variables added to this process's environment for it (e.g. who its paid calls are for)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    with open(log, "ab") as out:
        out.write(f"\n[{now()}] {' '.join(command[1:])}\n".encode())
        out.flush()
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 env=env, start_new_session=True, close_fds=True)
    _CHILDREN[child.pid] = child
    return child.pid


def terminate(pid: int) -> None:
    """SIGTERM to the run: its whole process group when it leads one (ours do), else the pid alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
