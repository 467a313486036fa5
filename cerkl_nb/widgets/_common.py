"""What the widgets share: stock controls, the error guard, the main-thread relay, the time."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import html
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..errors import CerklError
from ..redact import redact

log = logging.getLogger("cerkl_nb.widgets")

_BINDER_VARS = ("BINDER_SERVICE_HOST", "BINDER_LAUNCH_HOST", "BINDER_REPO_URL", "BINDER_REF_URL")


def is_binder() -> bool:
    """True on mybinder.org, whose launcher sets ``BINDER_*`` variables."""
    return any(os.environ.get(name) for name in _BINDER_VARS)


def esc(text: object) -> str:
    """Redact, then HTML-escape, any text that goes into an HTML widget."""
    return html.escape(redact(text))


def describe_error(err: BaseException) -> str:
    """Plain words for an error a widget shows: the core's message (already redacted).

    An unexpected error (not a :class:`CerklError`, nor a :class:`ValueError` from bad
    input) gets a generic sentence, and is logged at ERROR with its traceback: a bug that
    ipywidgets would otherwise swallow (the test suite fails on such records).
    """
    if isinstance(err, (CerklError, ValueError)):
        return redact(str(err))
    log.error("unexpected error in a widget: %s", redact(err), exc_info=err)
    return redact(f"Unexpected error ({type(err).__name__}): {err}. See the log for details.")


def shielded(action: Callable[..., Any], report: Callable[[BaseException], None]) -> Any:
    """``action`` wrapped so that no exception escapes into ipywidgets: ``report`` shows it.

    ipywidgets only logs what a callback raises, where a newcomer never looks.
    """

    def run(*args: Any) -> Any:
        try:
            return action(*args)
        except Exception as err:
            report(err)
            return None

    return run


def on_click(
    control: widgets.Button, action: Callable[[], Any], report: Callable[[BaseException], None]
) -> None:
    """Call ``action()`` (a public method: the button's twin) on each click, shielded."""
    run = shielded(action, report)
    control.on_click(lambda _button: run())


def set_busy(control: widgets.Button, busy: bool) -> None:
    """Mark ``control`` busy without disabling it.

    A disabled button drops the keyboard focus to ``<body>``; a busy one keeps it. The
    page code (``static/bridge.js``) turns the ``cerkl-busy`` class into
    ``aria-disabled``/``aria-busy`` and drops clicks on the button meanwhile.
    """
    (control.add_class if busy else control.remove_class)("cerkl-busy")


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


def labelled(kind: type[widgets.DOMWidget], label: str, width: str, tip: str, **kwargs: Any) -> Any:
    """A ``kind`` control (``Text``, ``Dropdown`` ...) with its label in a 110px column.

    ``width`` is the widest it gets: in a narrower output it shrinks with the output (no
    horizontal scrolling at 400 px); ``tip`` is its tooltip.
    """
    layout = widgets.Layout(width="100%", max_width=width, height=kwargs.pop("height", None))
    style = {"description_width": "110px"}
    control = kind(description=label, tooltip=tip, style=style, layout=layout, **kwargs)
    control.add_class("cerkl-field")
    return control


def clock_text(at: float | None = None, now: float | None = None) -> str:
    """``at`` (Unix seconds, default now) as the widgets' one time format.

    24-hour local time with its zone, with the date when not today: ``"16:05:46 UTC"`` or
    ``"2026-11-30 04:05:46 UTC"``.
    """
    local = time.localtime(time.time() if at is None else at)
    text = time.strftime("%H:%M:%S %Z", local)
    if local[:3] != time.localtime(time.time() if now is None else now)[:3]:
        text = time.strftime("%Y-%m-%d ", local) + text
    return text


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class MainThreadRelay:
    """Run callables on the main thread: now if possible, else via the kernel's loop.

    Core objects call their listeners in whatever thread caused the event (a request made
    from a thread pool), but ipykernel 7 sends comm messages from the main thread only:
    updates from elsewhere are lost or raise. So work from another thread goes to the
    kernel's event loop (``call_soon_threadsafe``); without a running loop (plain Python,
    tests) it waits for the next main-thread interaction (:meth:`drain`). ``on_error``
    gets what relayed work raised (the widget shows it).
    """

    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        try:
            # A cell runs inside the shell's event loop on the main thread: remember it so
            # other threads can hand work back to it.
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._pending: collections.deque[Callable[[], None]] = collections.deque()
        self._on_error = on_error

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the main thread as soon as possible."""
        self._pending.append(fn)  # a deque: appends from any thread are safe
        if _on_main_thread():
            self.drain()
        elif self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self.drain)

    def drain(self) -> None:
        """Apply queued work, oldest first (on the main thread; elsewhere a no-op)."""
        while self._pending and _on_main_thread():
            # A UI update must never break the core's request.
            shielded(self._pending.popleft(), self._on_error)()
