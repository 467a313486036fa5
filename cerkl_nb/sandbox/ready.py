"""A sandbox started for one user: where it says it is ready, and how it ends with its parent.

On a shared host (a JupyterHub, Binder) a sandbox runs as a child of the user's notebook
server. Two things make that safe:

* **The ready-file.** Once the sandbox listens (on a free port, when asked for port 0) it
  writes its root URL, its admin key and its process id as JSON into a file in the user's
  own state directory (``~/.cerkl-nb`` unless ``$CERKL_NB_STATE_DIR`` says otherwise). The
  file is written under a temporary name and renamed into place, so a reader never sees
  half of it, and it is created with mode 0600 in a 0700 directory, so only its owner can
  read the key. A reader takes it only when it is a regular file owned by the reader's own
  user and readable by nobody else: another user's file is never taken, even when
  a path is shared by mistake.
* **Exit with the parent.** The sandbox asks the kernel (Linux ``prctl(PR_SET_PDEATHSIG)``)
  for SIGTERM when its parent ends, and also watches its parent process id from a thread
  (every platform, and the case where the parent ended before the ``prctl`` call). Either
  way it stops, removes its ready-file and releases its port: no orphan keeps serving.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..spec import ENV_STATE_DIR

__all__ = [
    "ENV_STATE_DIR",
    "default_state_dir",
    "default_ready_file",
    "exit_with_parent",
    "read_ready_file",
    "remove_ready_file",
    "write_ready_file",
]

#: Overrides the per-user state directory (default ``~/.cerkl-nb``).
_PR_SET_PDEATHSIG = 1


def default_state_dir() -> Path:
    """The user's own cerkl-nb state directory: ``$CERKL_NB_STATE_DIR`` or ``~/.cerkl-nb``."""
    configured = os.environ.get(ENV_STATE_DIR)
    return Path(configured).expanduser() if configured else Path.home() / ".cerkl-nb"


def default_ready_file() -> Path:
    """Where this user's hub-started sandbox publishes itself.

    One file per notebook server: JupyterHub's named servers of one user each get their
    own (``$JUPYTERHUB_SERVER_NAME``).
    """
    name = os.environ.get("JUPYTERHUB_SERVER_NAME") or ""
    safe = "".join(c for c in name if c.isalnum() or c in "-_.")[:64]
    return default_state_dir() / (f"sandbox-{safe}.json" if safe else "sandbox.json")


def write_ready_file(path: Path, *, url: str, key: str, pid: int | None = None) -> None:
    """Publish a running sandbox atomically, readable by its owner only.

    Parameters
    ----------
    path
        The ready-file. Its directory is created (mode 0700) when missing.
    url
        The sandbox's root URL (``http://127.0.0.1:PORT``).
    key
        Its admin key.
    pid
        The sandbox's process id (default: this process), so that only the process that
        wrote the file removes it.
    """
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pid = os.getpid() if pid is None else pid
    body = json.dumps({"url": url, "key": key, "pid": pid}).encode()
    tmp = path.with_name(f".{path.name}.{pid}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)  # readers see the old file or the whole new one, never half


def read_ready_file(path: Path) -> dict[str, Any] | None:
    """The published ``{"url", "key", "pid"}``, or ``None``.

    ``None`` when the file is missing, is not a regular file, belongs to another user, can
    be read by anyone but its owner, or does not hold a URL and a key.
    """
    try:
        fd = os.open(Path(path), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        getuid = getattr(os, "getuid", None)
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077 or st.st_size > 4096:
            return None
        if getuid is not None and st.st_uid != getuid():
            return None
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if not (isinstance(data.get("url"), str) and isinstance(data.get("key"), str)):
        return None
    return data


def remove_ready_file(path: Path, pid: int | None = None) -> None:
    """Remove the ready-file when it is still the one process ``pid`` (default: this one)
    wrote; a newer sandbox's file is left alone."""
    pid = os.getpid() if pid is None else pid
    data = read_ready_file(path)
    if data is not None and data.get("pid") == pid:
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()


def _set_pdeathsig(sig: int) -> bool:
    """Ask Linux to send ``sig`` when the parent ends; False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def exit_with_parent(
    on_parent_exit: Callable[[], None] | None = None,
    *,
    parent: int | None = None,
    poll_s: float = 0.5,
) -> threading.Thread:
    """End this process when its parent ends.

    Parameters
    ----------
    on_parent_exit
        Called (from a watcher thread) once the parent is gone; the default sends this
        process SIGTERM, so the same clean shutdown runs as for a ``kill``.
    poll_s
        How often the watcher compares the parent process id.

    Returns
    -------
    threading.Thread
        The daemon watcher thread (already started).
    """
    parent = os.getppid() if parent is None else parent
    act = on_parent_exit or (lambda: os.kill(os.getpid(), signal.SIGTERM))
    _set_pdeathsig(signal.SIGTERM)
    stop = threading.Event()

    def watch() -> None:
        # Also covers a parent that ended before prctl ran, and non-Linux systems: an
        # orphan is re-parented, so its parent id changes.
        while not stop.wait(poll_s):
            if os.getppid() != parent:
                act()
                return

    thread = threading.Thread(target=watch, name="cerkl-nb-parent-watch", daemon=True)
    thread.start()
    return thread
