"""TokenPanel: the live view of a TokenManager's token (an anywidget).

Python sets the absolute ``expires_at`` once per token; the page (``static/token_panel.js``)
counts down against ``Date.now()``: no kernel message per tick, and it keeps going while
the kernel is busy. The panel listens to the :class:`~cerkl_nb.auth.TokenManager`, so a
refresh done by code or by auto-refresh shows at once. No part of a token is ever in a
synced trait; "Copy token" sends it once, in a one-off message the page writes to the
clipboard.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import anywidget
import traitlets

from ..redact import redact
from ..token import Token
from ._bridge import STATIC, page_module
from ._common import MainThreadRelay, clock_text, describe_error, log, shielded

_MASK = "••••••••"
_HOW_WORDS = {
    "fetch": "new token (client credentials)",
    "refresh": "refreshed with the refresh token",
    "fallback": "refresh token refused; got a new token with client credentials",
}


class TokenPanel(anywidget.AnyWidget):
    """Token type, masked token, issue/expiry times, live countdown, lifetime bar, buttons.

    ``client`` is a :class:`~cerkl_nb.client.CerklClient` or a
    :class:`~cerkl_nb.auth.TokenManager` (or ``None``: see :meth:`set_client`). Buttons:
    Refresh → :meth:`refresh`, Get New Access Token → :meth:`get_new_token`, Auto-refresh
    → :meth:`set_auto_refresh`, Copy token → :meth:`copy_token`.
    """

    _esm = page_module("token_panel.js")
    _css = STATIC / "token_panel.css"

    has_client = traitlets.Bool(False).tag(sync=True)
    environment = traitlets.Unicode("").tag(sync=True)
    token_type = traitlets.Unicode("").tag(sync=True)
    masked_token = traitlets.Unicode("").tag(sync=True)
    #: Epoch milliseconds (0 = no token), for the page's ``Date``.
    issued_at = traitlets.Float(0.0).tag(sync=True)
    expires_at = traitlets.Float(0.0).tag(sync=True)
    lifetime_s = traitlets.Float(0.0).tag(sync=True)
    #: Below this remaining time the token is "refresh soon".
    leeway_s = traitlets.Float(0.0).tag(sync=True)
    #: ``manager clock − real clock`` in ms (non-zero under a FakeClock), so the page
    #: counts down against the manager's notion of "now".
    clock_offset_ms = traitlets.Float(0.0).tag(sync=True)
    has_refresh_token = traitlets.Bool(False).tag(sync=True)
    #: ``none``, ``fresh``, ``stale`` or ``expired`` when last synced (the page recomputes
    #: it live from the countdown).
    state = traitlets.Unicode("none").tag(sync=True)
    last_refresh = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    #: A warning above the buttons (the dashboard's "environment changed" notice).
    notice = traitlets.Unicode("").tag(sync=True)
    auto_refresh = traitlets.Bool(True).tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    #: Increments with every new token, so the page can announce "token refreshed".
    token_serial = traitlets.Int(0).tag(sync=True)

    def __init__(self, client: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tm: Any = None
        self._remove_listener: Any = None
        self._relay = MainThreadRelay(on_error=self._show_error)
        self._last_token: Token | None = None
        self.on_msg(self._on_front_end_msg)
        self.observe(self._on_auto_refresh_trait, names="auto_refresh")
        if client is not None:
            self.set_client(client)

    @property
    def token_manager(self) -> Any:
        """The :class:`~cerkl_nb.auth.TokenManager` shown, or ``None``."""
        return self._tm

    def set_client(self, client: Any) -> None:
        """Show the token of ``client`` (a CerklClient or a TokenManager) from now on."""
        tm = getattr(client, "token_manager", client)
        if tm is not self._tm:
            if self._remove_listener is not None:
                self._remove_listener()
            self._tm = tm
            self._last_token = None
            self._remove_listener = tm.add_listener(self._on_token_event)
            url = tm.settings.base_url
            self.environment = f"Sandbox · {url}" if tm.settings.is_loopback else url
            self.has_client = True
            self.error = self.last_refresh = ""
            self.auto_refresh = bool(tm.auto_refresh)
        self.sync()

    def sync(self) -> None:
        """Copy the manager's current token and state into the panel (main thread)."""
        self._relay.drain()
        tm = self._tm
        if tm is None:
            return
        tok, last = tm.token, self._last_token
        self.busy = bool(tm.busy)
        self.state = str(tm.state)
        if tok is last:
            return
        self._last_token = tok
        with self.hold_sync():
            if tok is None:
                self.token_type = self.masked_token = ""
                self.issued_at = self.expires_at = self.lifetime_s = 0.0
                self.has_refresh_token = False
                return
            self.token_type = tok.token_type
            self.masked_token = _MASK  # the type has its own row
            self.issued_at = tok.issued_at * 1000.0
            self.expires_at = tok.expires_at * 1000.0
            self.lifetime_s = float(tok.lifetime_s)
            self.leeway_s = float(tm.settings.leeway_for(tok.lifetime_s))
            self.clock_offset_ms = (tm.clock.time() - time.time()) * 1000.0
            self.has_refresh_token = bool(tok.has_refresh_token)
            if last is None or tok.access_token != last.access_token:
                self.token_serial += 1

    def refresh(self, *, raise_errors: bool = False) -> Token | None:
        """Refresh the token (refresh-token grant, else a new client-credentials token).

        Returns the new token, or ``None`` when that failed (the panel shows the error).
        """
        return self._run("refresh", raise_errors)

    def get_new_token(self, *, raise_errors: bool = False) -> Token | None:
        """Get a brand-new client-credentials token ("Get New Access Token")."""
        return self._run("fetch", raise_errors)

    def set_auto_refresh(self, on: bool) -> None:
        """Turn the manager's automatic refresh before requests on or off."""
        self.auto_refresh = bool(on)  # the observer applies it to the manager

    def copy_token(self) -> None:
        """Put the access token on the browser's clipboard (in a one-off message)."""
        tok = self._tm.token if self._tm is not None else None
        if tok is None:
            self.error = "No token to copy yet: click Get New Access Token first."
            return
        text = tok.access_token.get_secret_value()
        self.send({"kind": "copy", "nonce": uuid.uuid4().hex, "text": text, "what": "access token"})

    def close(self) -> None:
        """Stop listening to the manager and close the widget."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        super().close()

    def _run(self, how: str, raise_errors: bool) -> Token | None:
        tm = self._tm
        if tm is None:
            self.error = "No client yet: get a token with the credentials form first."
            return None
        self._relay.drain()
        self.busy = True
        self.error = ""
        try:
            token = tm.refresh() if how == "refresh" else tm.fetch()
        except Exception as err:
            self._show_error(err)
            self.last_refresh = f"{clock_text()} · {how} failed"
            if raise_errors:
                raise
            return None
        finally:
            self.busy = False
        self.sync()
        return token

    def _show_error(self, err: BaseException) -> None:
        self.error = describe_error(err)

    def _on_token_event(self, event: Any) -> None:
        # Runs on the thread that made the request: relay to the main thread.
        self._relay.call(lambda: self._apply_event(event))

    def _apply_event(self, event: Any) -> None:
        if event.kind == "busy":
            self.busy = bool(event.busy)
            return
        if event.kind == "token":
            self.error = ""
            how = _HOW_WORDS.get(event.how, "token updated")
            self.last_refresh = f"{clock_text(event.at or None)} · {how}: ok"
        elif event.kind == "error":
            self.error = redact(event.error) if event.error else "token request failed"
            self.last_refresh = f"{clock_text(event.at or None)} · failed"
        self.sync()

    def _on_auto_refresh_trait(self, change: dict[str, Any]) -> None:
        if self._tm is not None:
            self._tm.auto_refresh = bool(change["new"])

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("kind") if isinstance(content, dict) else None
        actions = {
            "hello": lambda: self.send({"kind": "hello"}),  # a kernel answers: not a snapshot
            "refresh": self.refresh,
            "new_token": self.get_new_token,
            "auto_refresh": lambda: self.set_auto_refresh(bool(content.get("value"))),
            "copy_token": self.copy_token,
            "copied": lambda: content.get("ok") or self._copy_refused(content.get("error")),
        }
        if kind not in actions:
            log.warning("TokenPanel: unknown front-end message %r", kind)
            return
        shielded(actions[kind], self._show_error)()

    def _copy_refused(self, why: str | None) -> None:
        self.error = redact(why or "The browser refused the copy.")

    def __repr__(self) -> str:
        return f"TokenPanel(state={self.state!r}, token_type={self.token_type!r}, masked=True)"
