"""jupyter-server-proxy entry point: a learner's browser reaches their own sandbox.

On a JupyterHub, each learner's notebook server starts a sandbox of its own
(``cerkl-nb with-sandbox``, see :mod:`cerkl_nb.launch.workshop`) on a free loopback port. The
kernels reach it directly; the learner's browser cannot (the port is on the hub's host,
not the learner's machine). jupyter-server-proxy, running inside the learner's own notebook
server, forwards ``/user/<name>/cerkl-sandbox/...`` (and ``/user/<name>/proxy/<port>/...``)
to it, behind the hub's login: nobody else's browser gets there.

The sandbox builds its links and the OpenAPI token URL with the proxy's path because the
launcher starts it with ``--proxy-prefix`` for exactly these two paths, and it trusts
``X-Forwarded-Prefix`` only for them (see ``App.base``).

The entry point is registered in ``pyproject.toml`` under ``jupyter_serverproxy_servers``.
"""

from __future__ import annotations

import os
import sys
from typing import Any
from urllib.parse import urlsplit

__all__ = ["NAME", "setup_cerkl_sandbox"]

#: The path under the learner's server: ``/user/<name>/cerkl-sandbox/``.
NAME = "cerkl-sandbox"


def _published_port() -> int | None:
    """The port of the sandbox this server's launcher started, if there is one."""
    from ..sandbox.ready import default_ready_file, read_ready_file
    from ..spec import ENV_SANDBOX_URL

    url = os.environ.get(ENV_SANDBOX_URL)
    if not url:
        data = read_ready_file(default_ready_file())
        url = data["url"] if data else None
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.hostname not in ("127.0.0.1", "localhost") or not port:
        return None  # only a sandbox on this host's loopback is proxied
    return port


def setup_cerkl_sandbox() -> dict[str, Any]:
    """The jupyter-server-proxy configuration for the learner's sandbox.

    When the launcher already started a sandbox (``$CERKL_SANDBOX_URL`` or the ready-file),
    the proxy forwards to its port and starts nothing. Otherwise the first visit starts
    one (on the port the proxy picks), which publishes itself in the learner's ready-file,
    so the learner's new kernels find it too, and which ends with the notebook server.

    Returns
    -------
    dict
        The ``ServerProcess`` settings jupyter-server-proxy expects.
    """
    from ..sandbox.ready import default_ready_file

    port = _published_port()
    in_hub = bool(os.environ.get("JUPYTERHUB_USER"))
    config: dict[str, Any] = {
        # The sandbox serves everything under /v3 and /_sandbox; the root answers an index.
        "absolute_url": False,
        "new_browser_tab": True,
        "timeout": 30,
        # A tile in the JupyterLab launcher only inside a hub, where the browser cannot
        # reach the sandbox's port any other way.
        "launcher_entry": {"enabled": in_hub, "title": "Cerkl sandbox", "path_info": NAME + "/"},
    }
    if port is not None:
        config.update(command=[], port=port)
    else:
        config["command"] = [
            sys.executable,
            "-m",
            "cerkl_nb.launch.cli",
            "sandbox",
            "--port",
            "{port}",
            "--quiet",
            "--exit-with-parent",
            "--ready-file",
            str(default_ready_file()),
            "--proxy-prefix",
            "{base_url}" + NAME,
            "--proxy-prefix",
            "{base_url}proxy/{port}",
        ]
    return config
