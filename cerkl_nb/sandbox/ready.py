"""A sandbox started for one user: its ready-file, and ending with its parent.

On a shared host (a JupyterHub, Binder) a sandbox runs as a child of the user's notebook
server. Once it listens, it publishes its root URL, admin key and process id in a
ready-file in the user's own state directory (``~/.cerkl-nb``, or ``$CERKL_NB_STATE_DIR``),
written atomically with mode 0600 in a 0700 directory; a reader takes only a regular file
of its own user that nobody else can read. It stops (removing its file, releasing its
port) when its parent ends: Linux's ``PR_SET_PDEATHSIG`` plus a thread that watches the
parent's process id, for other systems and a parent that ended before the ``prctl`` call.
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
    "default_ready_file",
    "default_state_dir",
    "exit_with_parent",
    "read_ready_file",
    "remove_ready_file",
    "write_ready_file",
]

_PR_SET_PDEATHSIG = 1


def default_state_dir() -> Path:
    """The user's own cerkl-nb state directory: ``$CERKL_NB_STATE_DIR`` or ``~/.cerkl-nb``."""
    configured = os.environ.get(ENV_STATE_DIR)
    return Path(configured).expanduser() if configured else Path.home() / ".cerkl-nb"


def default_ready_file() -> Path:
    """Where this user's hub-started sandbox publishes itself: one file per notebook
    server (JupyterHub's named servers each get their own, ``$JUPYTERHUB_SERVER_NAME``)."""
    name = os.environ.get("JUPYTERHUB_SERVER_NAME") or ""
    safe = "".join(c for c in name if c.isalnum() or c in "-_.")[:64]
    return default_state_dir() / (f"sandbox-{safe}.json" if safe else "sandbox.json")


def write_ready_file(path: Path, *, url: str, key: str, pid: int | None = None) -> None:
    """Publish a running sandbox's root ``url`` and ``key`` atomically in ``path`` (its
    directory made, mode 0700, when missing), readable by its owner only; ``pid`` (default:
    this process) lets only the process that wrote it remove it."""
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
    """End this process when its parent (``parent``, default: the current one) ends.

    ``on_parent_exit`` is called from the watcher thread (polling every ``poll_s``) once
    the parent is gone; the default sends this process SIGTERM, so the same clean shutdown
    runs as for a ``kill``. Returns the started daemon watcher thread.
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
