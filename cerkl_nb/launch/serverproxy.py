"""jupyter-server-proxy entry point: a learner's browser reaches their own sandbox.

On a JupyterHub each learner's notebook server starts a sandbox of its own on a free
loopback port (:mod:`.workshop`). Their kernels reach it directly; their browser cannot, so
jupyter-server-proxy, inside their own server and behind the hub's login, forwards
``/user/<name>/cerkl-sandbox/...`` (and ``/user/<name>/proxy/<port>/...``) to it. The
sandbox trusts ``X-Forwarded-Prefix`` only for these two paths, which the launcher passes
it as ``--proxy-prefix``. Registered in ``pyproject.toml`` under
``jupyter_serverproxy_servers``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["NAME", "proxy_paths", "sandbox_command", "setup_cerkl_sandbox"]

#: The path under the learner's server: ``/user/<name>/cerkl-sandbox/``.
NAME = "cerkl-sandbox"


def proxy_paths(base_url: str) -> list[str]:
    """The two paths the proxy serves the sandbox under, below the server's ``base_url``."""
    return [base_url + NAME, base_url + "proxy/{port}"]


def sandbox_command(port: str, ready_file: Path, prefixes: Sequence[str], *flags: str) -> list[str]:
    """``cerkl-nb sandbox`` as a launcher's child: it ends with its parent, says it is ready
    in ``ready_file``, and builds its links for the proxy ``prefixes``."""
    cmd = [sys.executable, "-m", "cerkl_nb.launch.cli", "sandbox", "--port", port, *flags]
    cmd += ["--exit-with-parent", "--ready-file", str(ready_file)]
    for prefix in prefixes:
        cmd += ["--proxy-prefix", prefix]
    return cmd


def _published_port() -> int | None:
    """The port of the sandbox this server's launcher started, when it runs on loopback."""
    from ..sandbox.ready import default_ready_file, read_ready_file
    from ..spec import ENV_SANDBOX_URL

    url = os.environ.get(ENV_SANDBOX_URL) or (read_ready_file(default_ready_file()) or {}).get(
        "url"
    )
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError:
        return None
    return port if parts.hostname in ("127.0.0.1", "localhost") and port else None


def setup_cerkl_sandbox() -> dict[str, Any]:
    """The ``ServerProcess`` settings jupyter-server-proxy expects for the learner's sandbox.

    When the launcher already started a sandbox (``$CERKL_SANDBOX_URL`` or the ready-file),
    the proxy forwards to its port and starts nothing. Otherwise the first visit starts one
    on the port the proxy picks; it publishes itself in the learner's ready-file (so their
    new kernels find it too) and ends with the notebook server.
    """
    from ..sandbox.ready import default_ready_file

    port = _published_port()
    config: dict[str, Any] = {
        # The sandbox serves everything under /v3 and /_sandbox; the root answers an index.
        "absolute_url": False,
        "new_browser_tab": True,
        "timeout": 30,
        # A launcher tile only inside a hub, where the browser has no other way there.
        "launcher_entry": {
            "enabled": bool(os.environ.get("JUPYTERHUB_USER")),
            "title": "Cerkl sandbox",
            "path_info": NAME + "/",
        },
    }
    if port is not None:
        config.update(command=[], port=port)
    else:
        ready = default_ready_file()
        config["command"] = sandbox_command("{port}", ready, proxy_paths("{base_url}"), "--quiet")
    return config
