"""Injectable time.

Everything in cerkl_nb that needs the time takes a :class:`Clock`, so a test can move a
12-hour token to its last second in microseconds and no test ever sleeps to wait.

``time()`` is the wall clock (Unix seconds), used for display and for ``expires_at``;
``monotonic()`` is used for deadlines, so an NTP step backwards cannot keep a dead token
alive. On Linux :class:`SystemClock` reads ``CLOCK_BOOTTIME``, which, unlike
``time.monotonic()``, keeps counting while the machine is suspended. Elsewhere the
monotonic clock may stop during a suspend, which is why tokens also check the wall clock
(see :mod:`cerkl_nb.token`).
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
        """Return the wall-clock time in Unix seconds."""
        raise NotImplementedError

    def monotonic(self) -> float:
        """Return a monotonic time in seconds (only differences are meaningful)."""
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        raise NotImplementedError


def _pick_monotonic() -> Callable[[], float]:
    """``CLOCK_BOOTTIME`` (counts through suspend) when the platform has it, else monotonic."""
    boottime = getattr(_time, "CLOCK_BOOTTIME", None)
    if boottime is not None:
        try:
            _time.clock_gettime(boottime)
        except OSError:  # pragma: no cover - an old kernel
            pass
        else:
            return functools.partial(_time.clock_gettime, boottime)
    return _time.monotonic  # pragma: no cover - not Linux


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
    """A clock that only moves when told to; ``sleep`` advances it instantly.

    Parameters
    ----------
    start
        The initial wall-clock time (Unix seconds).

    Attributes
    ----------
    sleeps
        Every duration passed to :meth:`sleep`, so tests can assert on back-off.
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
