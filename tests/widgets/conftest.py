"""Fixtures for the headless widget tests.

``widget_errors`` (autouse) fails any test during which a widget callback raised.
ipywidgets catches exceptions in button/message callbacks and only logs them
(``CallbackDispatcher`` → the ``traitlets`` logger, "Exception in callback ..."); our own
handlers log unexpected exceptions to ``cerkl_nb.widgets`` at ERROR; the core logs a
failing listener ("token listener ... failed"). Any of these during a test is a bug a
newcomer would never see, so the test fails.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

import cerkl_nb
from cerkl_nb.clock import FakeClock

_WATCHED = ("traitlets", "ipywidgets", "cerkl_nb")


def is_callback_error(record: logging.LogRecord) -> bool:
    """True for a log record that means a widget or listener callback raised."""
    msg = record.getMessage()
    if record.name.startswith(("traitlets", "ipywidgets")):
        return "Exception in callback" in msg or record.levelno >= logging.ERROR
    if record.name.startswith("cerkl_nb.widgets"):
        return record.levelno >= logging.ERROR
    if record.name.startswith("cerkl_nb"):
        return "listener" in msg and record.levelno >= logging.ERROR
    return False


class WidgetErrors(logging.Handler):
    """Collects callback-error records; :meth:`check` fails the test when there are any."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if is_callback_error(record):
            self.records.append(record)

    def clear(self) -> None:
        self.records.clear()

    def check(self) -> None:
        if self.records:
            lines = [f"{r.name}: {r.getMessage()}" for r in self.records]
            self.records = []
            pytest.fail("a widget callback raised:\n" + "\n".join(lines), pytrace=False)


@pytest.fixture(autouse=True)
def widget_errors() -> Iterator[WidgetErrors]:
    handler = WidgetErrors()
    loggers = [logging.getLogger(name) for name in _WATCHED]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    handler.check()


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch) -> Iterator[None]:
    """No real credentials leak in: no CERKL_* or BINDER_* variables, no .env above."""
    for key in list(os.environ):
        if key.startswith(("CERKL_", "BINDER_")):
            monkeypatch.delenv(key, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield


@pytest.fixture()
def sandbox_env(sandbox, monkeypatch):
    """Make ``cerkl_nb.connect()`` / ``sandbox.ensure()`` use the session sandbox."""
    monkeypatch.setenv("CERKL_SANDBOX_URL", sandbox.url)
    # The proof of ownership attach() asks for.
    monkeypatch.setenv("CERKL_SANDBOX_KEY", sandbox.key)
    return sandbox


@pytest.fixture()
def client(sandbox):
    """A client for the session sandbox's demo client."""
    c = cerkl_nb.connect(sandbox=sandbox)
    yield c
    c.close()


@pytest.fixture()
def own_client(sandbox, request):
    """A client with credentials of the test's own, registered with the sandbox."""
    import secrets

    cid = f"test-{request.node.name[:40]}-{secrets.token_hex(3)}"
    secret = "s3cret-" + secrets.token_hex(16)
    sandbox.register_client(cid, secret)
    return cid, secret


@pytest.fixture()
def fake_clock() -> FakeClock:
    import time

    return FakeClock(start=time.time())
