"""Helpers shared by the widgets: controls, status lines, error handling, threads, Binder.

Threading choice
----------------
Core objects call their listeners in whatever thread caused the event (a request made
from a thread pool, for instance). Widgets must not be updated from a non-main thread:
ipykernel 7 sends comm messages from the main thread only, and updates from elsewhere
are lost or raise. :class:`MainThreadRelay` therefore applies work immediately when it
is already on the main thread, and otherwise hands it to the kernel's event loop with
``call_soon_threadsafe`` (the loop runs on the main thread, so the update happens as
soon as the kernel is idle or yields). Without a running loop (plain Python, tests) the
work is queued and applied on the next main-thread interaction (:meth:`drain`).
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import ipywidgets as widgets

from ..errors import CerklError
from ..redact import redact
from ._bridge import LiveStatus

__all__ = [
    "log",
    "is_binder",
    "is_main_thread",
    "MainThreadRelay",
    "StatusLine",
    "esc",
    "describe_error",
    "guarded",
    "on_click",
    "button",
    "labelled",
    "clock_text",
    "set_busy",
    "is_busy",
]

log = logging.getLogger("cerkl_nb.widgets")

F = TypeVar("F", bound=Callable[..., Any])

_BINDER_VARS = ("BINDER_SERVICE_HOST", "BINDER_LAUNCH_HOST", "BINDER_REPO_URL", "BINDER_REF_URL")


def is_binder(env: Mapping[str, str] | None = None) -> bool:
    """True when running on mybinder.org (its launcher sets ``BINDER_*`` variables).

    Parameters
    ----------
    env
        The environment to inspect; ``os.environ`` by default.
    """
    env = os.environ if env is None else env
    return any(env.get(name) for name in _BINDER_VARS)


def is_main_thread() -> bool:
    """True on the interpreter's main thread (where the kernel handles widget messages)."""
    return threading.current_thread() is threading.main_thread()


class MainThreadRelay:
    """Run callables on the main thread: now if possible, else via the kernel's loop.

    Parameters
    ----------
    on_error
        Called with an exception raised by relayed work (the widgets show it).
    """

    def __init__(self, on_error: Callable[[BaseException], None] | None = None) -> None:
        try:
            # Inside a kernel the cell runs within the shell's event loop on the main
            # thread; remember it so other threads can hand work back to it.
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._pending: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._on_error = on_error

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the main thread as soon as possible."""
        if is_main_thread():
            self.drain()
            self._run(fn)
            return
        with self._lock:
            self._pending.append(fn)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self.drain)
            except RuntimeError:  # loop closed between the check and the call
                pass

    def drain(self) -> None:
        """Apply queued work (main thread only; a no-op elsewhere)."""
        if not is_main_thread():
            return
        with self._lock:
            pending, self._pending = self._pending, []
        for fn in pending:
            self._run(fn)

    @property
    def pending(self) -> int:
        """How many updates wait for the main thread."""
        with self._lock:
            return len(self._pending)

    def _run(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as err:  # a UI update must never break the core's request
            log.exception("widget update failed")
            if self._on_error is not None:
                self._on_error(err)


def esc(text: object) -> str:
    """Redact, then HTML-escape, any text that goes into an HTML widget."""
    return html.escape(redact(text))


class StatusLine:
    """Mixin for a widget with a status line: ``self.status`` (a :class:`LiveStatus`).

    :attr:`status_text` and :attr:`status_kind` mirror what the line shows, in plain
    (redacted) text, for tests and scripts.
    """

    status: LiveStatus
    _status_kind: str = "info"
    _status_text: str = ""

    @property
    def status_text(self) -> str:
        """The status line as plain text."""
        return self._status_text

    @property
    def status_kind(self) -> str:
        """``"info"``, ``"ok"``, ``"warn"``, ``"error"`` or ``"busy"``."""
        return self._status_kind

    def _set_status(self, kind: str, text: str) -> None:
        self._status_kind = kind
        self._status_text = redact(text)
        with self.status.hold_sync():
            self.status.kind = kind
            self.status.text = self._status_text


def describe_error(err: BaseException) -> str:
    """Plain words for an error: the core's message (already redacted) or a generic one."""
    if isinstance(err, CerklError):
        return str(err)
    if isinstance(err, ValueError):
        return redact(str(err))
    return redact(f"Unexpected error ({type(err).__name__}): {err}. See the log for details.")


def _shielded(name: str, call: Callable[[], Any], report: Callable[[BaseException], None]) -> Any:
    """Run ``call()``; pass any exception to ``report`` (see :func:`guarded`)."""
    try:
        return call()
    except (CerklError, ValueError) as err:
        report(err)
    except Exception as err:
        log.error("widget handler %s failed: %s", name, redact(err), exc_info=True)
        report(err)
    return None


def guarded(report: Callable[[Any, BaseException], None]) -> Callable[[F], F]:
    """Decorate a widget event handler so that no exception escapes into ipywidgets.

    ipywidgets only logs exceptions raised by callbacks, where a newcomer never looks.
    Expected errors (:class:`CerklError`, :class:`ValueError` from bad input) are shown
    with ``report(self, err)``; anything else is shown the same way *and* logged at
    ERROR with its traceback (the test suite fails on such records). For buttons,
    :func:`on_click` does the same without a handler method.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            return _shielded(
                fn.__qualname__, lambda: fn(self, *args, **kwargs), lambda err: report(self, err)
            )

        return wrapper  # type: ignore[return-value]

    return decorate


def on_click(
    control: widgets.Button, action: Callable[[], Any], report: Callable[[BaseException], None]
) -> None:
    """Call ``action()`` (a public method: the button's twin) on each click of ``control``.

    Errors are handled as by :func:`guarded`: shown with ``report(err)``, and logged at
    ERROR when unexpected; none escapes into ipywidgets.
    """
    name = getattr(action, "__qualname__", repr(action))
    control.on_click(lambda _button: _shielded(name, action, report))


def set_busy(control: widgets.Button, busy: bool) -> None:
    """Mark ``control`` busy without disabling it.

    A disabled button drops the keyboard focus to ``<body>``; a busy one keeps it. The
    front-end bridge (``static/bridge.js``) turns the ``cerkl-busy`` class into
    ``aria-disabled``/``aria-busy`` and drops clicks on the button meanwhile.
    """
    if busy:
        control.add_class("cerkl-busy")
    else:
        control.remove_class("cerkl-busy")


def is_busy(control: widgets.Button) -> bool:
    """True while ``control`` is marked busy (see :func:`set_busy`)."""
    return "cerkl-busy" in control._dom_classes


def button(description: str, tooltip: str, *, primary: bool = False) -> widgets.Button:
    """A button as wide as its label; ``primary`` for the widget's main action.

    No icon: ipywidgets draws it with an icon font whose glyph becomes the start of the
    button's accessible name.
    """
    return widgets.Button(
        description=description,
        tooltip=tooltip,
        button_style="primary" if primary else "",
        layout=widgets.Layout(width="auto"),
    )


def labelled(
    kind: type[widgets.DOMWidget],
    description: str,
    width: str,
    *,
    height: str | None = None,
    **kwargs: Any,
) -> Any:
    """A ``kind`` control (``Text``, ``Dropdown`` ...) with its label in a 110px column.

    ``width`` is the widest it gets: in a narrower output it shrinks with the output
    (no horizontal scrolling at 400 px).
    """
    control = kind(
        description=description,
        style={"description_width": "110px"},
        layout=widgets.Layout(width="100%", max_width=width, height=height),
        **kwargs,
    )
    control.add_class("cerkl-field")
    return control


def clock_text(at: float, now: float | None = None) -> str:
    """``at`` (Unix seconds) as 24-hour local time with its zone, with the date when not today.

    The one time format of the widgets: ``"16:05:46 UTC"`` or ``"2026-11-30 04:05:46 UTC"``.
    """
    local = time.localtime(at)
    text = time.strftime("%H:%M:%S %Z", local)
    today = time.localtime(time.time() if now is None else now)
    if local[:3] != today[:3]:
        text = time.strftime("%Y-%m-%d ", local) + text
    return text
