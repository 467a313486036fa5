"""``cerkl-nb with-sandbox -- COMMAND``: one sandbox per user, started with their server.

A JupyterHub's spawner runs it in place of ``jupyterhub-singleuser``
(``c.Spawner.cmd = ["cerkl-nb", "with-sandbox", "--", "jupyterhub-singleuser"]``). It starts
``cerkl-nb sandbox`` on a free loopback port with a fresh random key (its log in
``~/.cerkl-nb/sandbox.log``, mode 0600), waits for its ready-file with the real URL, exports
``CERKL_SANDBOX_URL`` and ``CERKL_SANDBOX_KEY``, then ``exec``\\ s COMMAND: the notebook
server, its kernels and terminals inherit them, and the sandbox ends with that server. When
the sandbox cannot start, COMMAND runs all the same and each notebook starts its own.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..sandbox.ready import default_ready_file, read_ready_file
from ..spec import ENV_SANDBOX_KEY, ENV_SANDBOX_PARENT_PID, ENV_SANDBOX_URL
from .serverproxy import proxy_paths, sandbox_command

__all__ = ["UserSandbox", "exec_with_sandbox", "proxy_prefixes", "start_user_sandbox"]


@dataclass(frozen=True)
class UserSandbox:
    """A sandbox started for this user: where it listens and where it writes."""

    url: str
    key: str = ""
    pid: int = 0
    ready_file: Path = Path()
    log_file: Path = Path()

    def __repr__(self) -> str:  # never the key
        return f"UserSandbox(url={self.url!r}, pid={self.pid}, ready_file={str(self.ready_file)!r})"


def proxy_prefixes(service_prefix: str | None = None) -> list[str]:
    """The paths jupyter-server-proxy serves the sandbox under in this notebook server:
    below ``service_prefix`` (default ``$JUPYTERHUB_SERVICE_PREFIX``); none outside a hub."""
    if service_prefix is None:
        service_prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    return proxy_paths("/" + service_prefix.strip("/") + "/") if service_prefix else []


def start_user_sandbox(
    *,
    port: int = 0,
    ready_file: Path | None = None,
    log_file: Path | None = None,
    timeout_s: float = 60.0,
) -> UserSandbox:
    """Start ``cerkl-nb sandbox`` as a child that ends with this process; wait until ready.

    ``ready_file`` and ``log_file`` default to ``sandbox.json`` and ``sandbox.log`` in
    ``~/.cerkl-nb``; ``timeout_s`` bounds the wait (a cold start on a busy host takes seconds).

    Raises
    ------
    RuntimeError
        When the sandbox exits or is not ready in time (the message names the log).
    """
    ready = Path(ready_file) if ready_file is not None else default_ready_file()
    log = Path(log_file) if log_file is not None else ready.with_suffix(".log")
    key = secrets.token_urlsafe(32)
    # The key goes through the environment: a command line is visible to every user.
    env = dict(os.environ, **{ENV_SANDBOX_KEY: key, ENV_SANDBOX_PARENT_PID: str(os.getpid())})
    env.pop(ENV_SANDBOX_URL, None)
    log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            sandbox_command(str(port), ready, proxy_prefixes()),
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            env=env,
        )
    finally:
        os.close(fd)
    deadline = time.monotonic() + timeout_s
    while True:
        data = read_ready_file(ready)
        if data is not None and data.get("pid") == proc.pid and data.get("key") == key:
            return UserSandbox(data["url"], key, proc.pid, ready, log)
        if proc.poll() is not None:
            raise RuntimeError(f"the sandbox exited with code {proc.returncode}; see {log}")
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"the sandbox was not ready after {timeout_s:g} s; see {log}")
        time.sleep(0.05)  # polling a file the child writes once; it is there in ~0.3 s


def exec_with_sandbox(command: Sequence[str], *, port: int = 0) -> int:
    """Start this user's sandbox, publish it in the environment, then ``exec`` ``command``.

    Returns only when ``command`` is empty (2) or cannot be executed (127).
    """
    if not command:
        print("cerkl-nb with-sandbox: name the command to run after --", file=sys.stderr)
        return 2
    try:
        sb = start_user_sandbox(port=port)
    except (OSError, RuntimeError) as e:
        print(
            f"cerkl-nb with-sandbox: no sandbox ({e}); notebooks will start their own",
            file=sys.stderr,
        )
    else:
        os.environ[ENV_SANDBOX_URL], os.environ[ENV_SANDBOX_KEY] = sb.url, sb.key
        print(
            f"cerkl-nb with-sandbox: Cerkl sandbox running at {sb.url} (log: {sb.log_file})",
            file=sys.stderr,
            flush=True,
        )
    try:
        os.execvp(command[0], list(command))  # noqa: S606 - the spawner's own command
    except OSError as e:
        print(f"cerkl-nb with-sandbox: cannot run {command[0]}: {e}", file=sys.stderr)
        return 127
    return 0  # pragma: no cover - execvp does not return
