"""The quick-start dashboard: credentials form, token panel and API explorer in one call.

With no credentials configured, :func:`cerkl_nb.connect` attaches to (or starts) the local
sandbox and the form is pre-filled with its demo client: click **Get New Access Token**,
then **Send** (``GET /subscriber`` is preselected) for a first 200.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from ..redact import install_log_redaction
from .credentials import CredentialsForm
from .explorer import ApiExplorer
from .token_panel import TokenPanel


class Dashboard(widgets.VBox):
    """The three widgets, wired together: :attr:`form`, :attr:`panel` and :attr:`explorer`.

    ``client`` is the :class:`~cerkl_nb.client.CerklClient` to start with (``None``: the
    form builds one when the user submits credentials).
    """

    def __init__(self, client: Any = None, **kwargs: Any) -> None:
        self.form = CredentialsForm(client, with_panel=True)
        self.panel = TokenPanel(client)
        self.explorer = ApiExplorer(client)
        # A new client (other credentials / environment) replaces the one shown below.
        self.form.on_client(self._use_client)
        self.form.on_token(self._use_client)
        # Another environment in the form: warn and block Send until a client for it exists.
        self.form.on_environment(lambda _form: self._check_environment())
        # A token renewed elsewhere (panel buttons, auto-refresh): keep the form's text true.
        self.panel.observe(self._on_new_token, names="token_serial")
        heading = "<h3 style='margin:10px 0 4px'>{}</h3>".format
        parts = [
            widgets.HTML(heading("1 · Credentials")),
            self.form,
            widgets.HTML(heading("2 · Access token")),
            self.panel,
            widgets.HTML(heading("3 · API explorer")),
            self.explorer,
        ]
        super().__init__(parts, **kwargs)
        self.add_class("cerkl-dashboard")
        self._check_environment()
        self.explorer.set_anchor(self.model_id)

    @property
    def client(self) -> Any:
        """The client the widgets use now."""
        return self.form.client

    def close(self) -> None:
        """Close the dashboard and every widget in it."""
        for name in ("form", "panel", "explorer"):  # absent when __init__ failed part-way
            if hasattr(self, name):
                getattr(self, name).close()
        super().close()

    def _use_client(self, client: Any) -> None:
        self.panel.set_client(client)
        if self.explorer.client is not client:
            self.explorer.set_client(client)
        self._check_environment()

    def _check_environment(self) -> None:
        """Warn (panel, explorer) and block Send while the form targets another environment."""
        used = self.explorer.client
        notice = ""
        if used is not None and self.form.client is not None and self.form.environment_changed():
            notice = (
                f"Environment changed to {self.form.target()[0]}: click Get New Access Token "
                f"to connect. Until then the token and requests still use "
                f"{used.settings.base_url}, and Send is disabled."
            )
        self.panel.notice = notice
        self.explorer.set_environment_notice(notice)

    def _on_new_token(self, _change: Any) -> None:
        if self.form.client is not None and not self.form.busy:
            self.form.show_token()

    def __repr__(self) -> str:
        return f"Dashboard(form={self.form!r}, panel={self.panel!r}, explorer={self.explorer!r})"


def dashboard(client: Any = None, **connect_kwargs: Any) -> Dashboard:
    """Build the quick-start dashboard (display it: make it the cell's last expression).

    Parameters
    ----------
    client
        A client to use. By default :func:`cerkl_nb.connect` picks real credentials when
        they are configured (arguments, environment, ``.env``) and the local sandbox
        otherwise.
    **connect_kwargs
        Passed to :func:`cerkl_nb.connect` when ``client`` is ``None``.
    """
    # An explicit, idempotent call (never made on import): widget texts are redacted
    # already; this also covers log records of the libraries underneath.
    install_log_redaction()
    if client is not None and connect_kwargs:
        raise TypeError(
            "dashboard() takes either a client or connect() arguments, not both: "
            + ", ".join(sorted(connect_kwargs))
        )
    if client is None:
        from ..client import connect

        client = connect(**connect_kwargs)
    return Dashboard(client)
