"""The widget layer (the ``widgets`` extra): thin views over the core's public objects.

:class:`CredentialsForm`, :class:`TokenPanel`, :class:`ApiExplorer` and :func:`dashboard`
(all three, on the sandbox when no credentials are set); every button has a public method
twin. ``import cerkl_nb`` never imports this package; ``cerkl_nb.dashboard()`` does.
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
