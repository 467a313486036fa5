"""Injectable time, so a test can move a 12-hour token to its last second in microseconds.

``time()`` is the wall clock (Unix seconds), used for display and for ``expires_at``;
``monotonic()`` is used for deadlines, so an NTP step backwards cannot keep a dead token
alive. On Linux :class:`SystemClock` reads ``CLOCK_BOOTTIME``, which, unlike
``time.monotonic()``, keeps counting while the machine is suspended; elsewhere tokens also
check the wall clock (see :mod:`cerkl_nb.token`).
"""

from __future__ import annotations

import functools
import threading
import time as _time
from collections.abc import Callable

__all__ = ["Clock", "SystemClock", "FakeClock", "SYSTEM_CLOCK"]


class Clock:
    """The interface: wall time, monotonic time and sleep."""

    def time(self) -> float:
        """The wall-clock time in Unix seconds."""
        raise NotImplementedError

    def monotonic(self) -> float:
        """A monotonic time in seconds (only differences are meaningful)."""
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        raise NotImplementedError


def _pick_monotonic() -> Callable[[], float]:
    """``CLOCK_BOOTTIME`` (counts through suspend) where it works, else ``time.monotonic``.

    Having the constant is not enough: Pyodide (the in-browser tutorials) defines it, and
    reading that clock there fails with EINVAL.
    """
    boottime = getattr(_time, "CLOCK_BOOTTIME", None)
    if boottime is not None:
        try:
            _time.clock_gettime(boottime)
        except OSError:
            pass
        else:
            return functools.partial(_time.clock_gettime, boottime)
    return _time.monotonic


_monotonic = _pick_monotonic()


class SystemClock(Clock):
    """The real clock."""

    def time(self) -> float:
        return _time.time()

    def monotonic(self) -> float:
        return _monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            _time.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


class FakeClock(Clock):
    """A clock that only moves when told to; ``sleep`` advances it at once.

    ``start`` is the initial wall-clock time; :attr:`sleeps` lists every duration passed to
    :meth:`sleep`, so tests can check the back-off.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._wall = float(start)
        self._mono = 1000.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def time(self) -> float:
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds``."""
        with self._lock:
            self._wall += seconds
            self._mono += seconds

    def jump_wall(self, seconds: float) -> None:
        """Move only the wall clock (an NTP correction); monotonic time is unaffected."""
        with self._lock:
            self._wall += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds > 0:
            self.advance(seconds)

    def __repr__(self) -> str:
        return f"FakeClock(time={self._wall:.3f})"
