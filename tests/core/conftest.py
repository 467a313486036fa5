"""Fixtures for the core tests: a fake clock, sandbox-backed clients, a loopback server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cerkl_nb import CerklClient, Credentials, FakeClock, Settings, TokenManager

from .loopback import LoopbackServer


@pytest.fixture(autouse=True)
def private_files() -> Iterator[None]:
    """Files the tests write are private (0600), as a careful user's .env is."""
    old = os.umask(0o077)
    yield
    os.umask(old)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    srv = LoopbackServer()
    yield srv
    srv.close()


def sandbox_settings(sb: Any, **overrides: Any) -> Settings:
    return Settings.for_sandbox(sb).replace(**overrides) if overrides else Settings.for_sandbox(sb)


@pytest.fixture
def make_client() -> Iterator[Callable[..., CerklClient]]:
    """Build a client on a sandbox: make_client(sb, clock=..., client=(id, secret), **settings)."""
    made: list[CerklClient] = []

    def make(
        sb: Any,
        *,
        clock: FakeClock | None = None,
        client: tuple[str, str] | None = None,
        **overrides: Any,
    ) -> CerklClient:
        creds = Credentials(*client) if client else Credentials.for_sandbox(sb)
        settings = sandbox_settings(sb, **overrides)
        tm = TokenManager(creds, settings, clock=clock)
        c = CerklClient(tm)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def stat(sb: Any, *keys: str) -> Any:
    """Read a nested value from sb.stats(), e.g. stat(sb, "token_requests")."""
    value: Any = sb.stats()
    for k in keys:
        value = value[k]
    return value
