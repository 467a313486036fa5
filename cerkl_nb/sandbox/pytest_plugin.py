"""pytest fixtures for testing against the sandbox.

Use them from your own ``conftest.py``::

    from cerkl_nb.sandbox.pytest_plugin import fresh_sandbox, sandbox  # noqa: F401

``sandbox`` is one in-process server shared by the whole session (fast; state persists
between tests, so tests should create their own records rather than count seeded ones).
``fresh_sandbox`` is a new server with its own port and pristine state for one test,
stopped afterwards; use it when a test changes faults, the clock or configuration.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import Sandbox, SandboxConfig, start

__all__ = ["sandbox", "fresh_sandbox"]


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """One in-process sandbox for the whole test session."""
    sb = start(config=SandboxConfig())
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture()
def fresh_sandbox() -> Iterator[Sandbox]:
    """A sandbox of its own (port, data, tokens, faults, clock) for one test."""
    sb = start(config=SandboxConfig())
    try:
        yield sb
    finally:
        sb.stop()
