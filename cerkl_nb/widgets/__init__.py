"""The widget layer of cerkl_nb (needs the ``widgets`` extra: ipywidgets and anywidget).

Three widgets, each a thin layer over a public core object, and a dashboard that composes
them:

* :class:`CredentialsForm`: client ID / secret / environment → a token
  (:meth:`~CredentialsForm.submit`, :meth:`~CredentialsForm.load_env`,
  :meth:`~CredentialsForm.save_env`).
* :class:`TokenPanel`: the live token view with a browser-side countdown
  (:meth:`~TokenPanel.refresh`, :meth:`~TokenPanel.get_new_token`,
  :meth:`~TokenPanel.set_auto_refresh`, :meth:`~TokenPanel.copy_token`).
* :class:`ApiExplorer`: build, send and inspect requests (:meth:`~ApiExplorer.send`,
  :meth:`~ApiExplorer.rerun`, :meth:`~ApiExplorer.copy_as_curl`,
  :meth:`~ApiExplorer.copy_as_python`, :meth:`~ApiExplorer.insert_code_cell`).
* :func:`dashboard`: all three, connected to the sandbox when no credentials are set.

``import cerkl_nb`` never imports this package; ``cerkl_nb.dashboard()`` does, lazily.
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
