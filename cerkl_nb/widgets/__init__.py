"""The widget layer of cerkl_nb (the ``widgets`` extra: ipywidgets and anywidget).

Each widget is a thin layer over a public core object, and each button has a public
method twin: :class:`CredentialsForm` (client ID / secret / environment → a token),
:class:`TokenPanel` (the live token, with a countdown that ticks in the browser),
:class:`ApiExplorer` (build, send and inspect requests) and :func:`dashboard` (all three,
connected to the sandbox when no credentials are set). ``import cerkl_nb`` never imports
this package; ``cerkl_nb.dashboard()`` does, when called.
"""

from __future__ import annotations

from .credentials import CredentialsForm
from .dashboard import Dashboard, dashboard
from .explorer import ApiExplorer, current_client
from .token_panel import TokenPanel

__all__ = [
    "CredentialsForm",
    "TokenPanel",
    "ApiExplorer",
    "Dashboard",
    "dashboard",
    "current_client",
]
