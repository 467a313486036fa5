"""pytest fixtures for testing against the sandbox.

Use them from your own ``conftest.py``::

    from cerkl_nb.sandbox.pytest_plugin import fresh_sandbox, sandbox  # noqa: F401

``sandbox`` is one in-process server for the whole session (state persists between tests,
so tests should create their own records rather than count seeded ones); ``fresh_sandbox``
is a server with pristine state for one test, for tests that change faults, the clock or
the configuration.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import Sandbox, SandboxConfig, start

__all__ = ["fresh_sandbox", "sandbox"]


def _sandbox() -> Iterator[Sandbox]:
    """A sandbox of its own (port, data, tokens, faults, clock), stopped afterwards."""
    with start(config=SandboxConfig()) as sb:
        yield sb


sandbox = pytest.fixture(scope="session", name="sandbox")(_sandbox)
fresh_sandbox = pytest.fixture(name="fresh_sandbox")(_sandbox)
