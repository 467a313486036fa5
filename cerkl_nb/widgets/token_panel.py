"""TokenPanel: the live view of a TokenManager's token (an anywidget).

The countdown runs in the browser (``static/token_panel.js``): Python sets the absolute
``expires_at`` once per token, and the page counts down against ``Date.now()`` with a
``setInterval``. No kernel message is sent per tick, and the countdown keeps going while
the kernel is busy in another cell.

The panel listens to the :class:`~cerkl_nb.auth.TokenManager`, so a refresh done by code
or by auto-refresh shows at once. Listener events that arrive on another thread are
relayed to the main thread (see :mod:`cerkl_nb.widgets._common`).

No part of the access or refresh token is ever in a synced trait: the panel shows
``Token.masked()``. "Copy token" sends the token once, in a custom comm message (not
saved in widget state), which the page writes to the clipboard.
"""

from __future__ import annotations

import pathlib
import time
import uuid
from typing import Any

import anywidget
import traitlets

from ..errors import CerklError
from ..redact import redact
from ..token import Token
from ._bridge import page_module
from ._common import MainThreadRelay, clock_text, describe_error, log

__all__ = ["TokenPanel"]

_STATIC = pathlib.Path(__file__).parent / "static"
#: What the Token row shows: the mask alone (the type is in its own row).
_MASK = "••••••••"

_HOW_WORDS = {
    "fetch": "new token (client credentials)",
    "refresh": "refreshed with the refresh token",
    "fallback": "refresh token refused; got a new token with client credentials",
    None: "token updated",
}


class TokenPanel(anywidget.AnyWidget):
    """Token type, masked token, issue/expiry times, live countdown, lifetime bar, buttons.

    Parameters
    ----------
    client
        A :class:`~cerkl_nb.client.CerklClient` or a :class:`~cerkl_nb.auth.TokenManager`
        (or ``None``; attach one later with :meth:`set_client`).

    Notes
    -----
    Buttons and methods: Refresh → :meth:`refresh`, Get New Access Token → :meth:`get_new_token`,
    Auto-refresh → :meth:`set_auto_refresh`, Copy token → :meth:`copy_token`.
    """

    # The page code shares its clipboard helper with the bridge (see page_module).
    _esm = page_module("token_panel.js")
    _css = _STATIC / "token_panel.css"

    has_client = traitlets.Bool(False).tag(sync=True)
    environment = traitlets.Unicode("").tag(sync=True)
    token_type = traitlets.Unicode("").tag(sync=True)
    masked_token = traitlets.Unicode("").tag(sync=True)
    #: Epoch milliseconds (0 = no token), so the page can use them with ``Date``.
    issued_at = traitlets.Float(0.0).tag(sync=True)
    expires_at = traitlets.Float(0.0).tag(sync=True)
    lifetime_s = traitlets.Float(0.0).tag(sync=True)
    #: The effective leeway: below this remaining time the state is "refresh soon".
    leeway_s = traitlets.Float(0.0).tag(sync=True)
    #: ``manager clock − real clock`` in ms; 0 with the system clock, non-zero under a
    #: FakeClock, so the page's countdown matches the manager's notion of "now".
    clock_offset_ms = traitlets.Float(0.0).tag(sync=True)
    has_refresh_token = traitlets.Bool(False).tag(sync=True)
    #: ``none``, ``fresh``, ``stale`` or ``expired`` when last synced (the page recomputes
    #: it live from the countdown).
    state = traitlets.Unicode("none").tag(sync=True)
    last_refresh = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    #: A warning shown above the buttons (the dashboard's "environment changed" notice).
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

    # -- public API ------------------------------------------------------------------------
    @property
    def token_manager(self) -> Any:
        """The :class:`~cerkl_nb.auth.TokenManager` shown, or ``None``."""
        return self._tm

    def set_client(self, client: Any) -> None:
        """Show the token of ``client`` (a CerklClient or a TokenManager) from now on."""
        tm = getattr(client, "token_manager", client)
        if tm is self._tm:
            self.sync()
            return
        if self._remove_listener is not None:
            self._remove_listener()
        self._tm = tm
        self._last_token = None
        self._remove_listener = tm.add_listener(self._on_token_event)
        settings = tm.settings
        self.environment = (
            f"Sandbox · {settings.base_url}" if settings.is_loopback else settings.base_url
        )
        self.has_client = True
        self.error = ""
        self.last_refresh = ""
        self.auto_refresh = bool(tm.auto_refresh)
        self.sync()

    def sync(self) -> None:
        """Copy the manager's current token and state into the panel (main thread)."""
        self._relay.drain()
        tm = self._tm
        if tm is None:
            return
        tok = tm.token
        self.busy = bool(tm.busy)
        self.state = str(tm.state)
        if tok is None:
            self.token_type = ""
            self.masked_token = ""
            self.issued_at = self.expires_at = self.lifetime_s = 0.0
            self.has_refresh_token = False
            self._last_token = None
            return
        if tok is not self._last_token:
            new_value = self._last_token is None or (
                tok.access_token != self._last_token.access_token
            )
            self._last_token = tok
            with self.hold_sync():
                self.token_type = tok.token_type
                self.masked_token = _MASK  # the type has its own row
                self.issued_at = tok.issued_at * 1000.0
                self.expires_at = tok.expires_at * 1000.0
                self.lifetime_s = float(tok.lifetime_s)
                self.leeway_s = float(tm.settings.leeway_for(tok.lifetime_s))
                self.clock_offset_ms = (tm.clock.time() - time.time()) * 1000.0
                self.has_refresh_token = bool(tok.has_refresh_token)
                if new_value:
                    self.token_serial += 1

    def refresh(self, *, raise_errors: bool = False) -> Token | None:
        """Refresh the token (refresh-token grant, else a new client-credentials token).

        Returns
        -------
        Token | None
            The new token, or ``None`` when it failed (the error is shown in the panel).
        """
        return self._run("refresh", raise_errors)

    def get_new_token(self, *, raise_errors: bool = False) -> Token | None:
        """Get a brand-new client-credentials token ("Get New Access Token")."""
        return self._run("fetch", raise_errors)

    def set_auto_refresh(self, on: bool) -> None:
        """Turn the manager's automatic refresh before requests on or off."""
        self.auto_refresh = bool(on)  # the observer applies it to the manager

    def copy_token(self) -> None:
        """Put the access token on the browser's clipboard.

        The token travels once, in a custom comm message the page writes to
        ``navigator.clipboard``; it is never a trait, so it is not saved with the notebook.
        Returns nothing, so calling it as the last line of a cell prints nothing.
        """
        tm = self._tm
        tok = tm.token if tm is not None else None
        if tok is None:
            self.error = "No token to copy yet: click Get New Access Token first."
            return
        self.send(
            {
                "kind": "copy",
                "nonce": uuid.uuid4().hex,
                "text": tok.access_token.get_secret_value(),
                "what": "access token",
            }
        )

    def close(self) -> None:
        """Stop listening to the manager and close the widget."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        super().close()

    # -- internals ---------------------------------------------------------------------------
    def _run(self, what: str, raise_errors: bool) -> Token | None:
        tm = self._tm
        if tm is None:
            self.error = "No client yet: get a token with the credentials form first."
            return None
        self._relay.drain()
        self.busy = True
        self.error = ""
        try:
            token = tm.refresh() if what == "refresh" else tm.fetch()
        except Exception as err:
            if not isinstance(err, CerklError):
                log.error("token %s failed unexpectedly", what, exc_info=True)
            self._show_error(err)
            self.last_refresh = f"{_clock()} · {what} failed"
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
        # May run on any thread (the one that made the request): relay to the main thread.
        self._relay.call(lambda: self._apply_event(event))

    def _apply_event(self, event: Any) -> None:
        if event.kind == "busy":
            self.busy = bool(event.busy)
            return
        if event.kind == "token":
            self.error = ""
            self.last_refresh = f"{_clock(event.at)} · {_HOW_WORDS.get(event.how, event.how)}: ok"
        elif event.kind == "error":
            text = redact(str(event.error)) if event.error is not None else "token request failed"
            self.last_refresh = f"{_clock(event.at)} · failed"
            self.error = text
        self.sync()

    def _on_auto_refresh_trait(self, change: dict[str, Any]) -> None:
        if self._tm is not None:
            self._tm.auto_refresh = bool(change["new"])

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        try:
            kind = content.get("kind") if isinstance(content, dict) else None
            if kind == "hello":
                self.send({"kind": "hello"})  # a kernel is listening: not a saved snapshot
            elif kind == "refresh":
                self.refresh()
            elif kind == "new_token":
                self.get_new_token()
            elif kind == "auto_refresh":
                self.set_auto_refresh(bool(content.get("value")))
            elif kind == "copy_token":
                self.copy_token()
            elif kind == "copied":
                if not content.get("ok"):
                    self.error = redact(
                        str(content.get("error") or "The browser refused the copy.")
                    )
            else:
                log.warning("TokenPanel: unknown front-end message %r", kind)
        except Exception as err:  # never let a click die silently inside ipywidgets
            log.error("TokenPanel message %r failed", content, exc_info=True)
            self._show_error(err)

    def __repr__(self) -> str:
        return f"TokenPanel(state={self.state!r}, token_type={self.token_type!r}, masked=True)"


def _clock(at: float | None = None) -> str:
    """``at`` (default: now) in the widgets' one time format."""
    return clock_text(at or time.time())
