"""Fixtures for the sandbox conformance tests.

The ``sandbox`` (session) and ``fresh_sandbox`` (per test) fixtures come from
``tests/conftest.py`` (the shipped pytest plugin). Here: authenticated clients on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sandbox_helpers import Api, get_token


@pytest.fixture()
def api(sandbox: Any) -> Iterator[Api]:
    """An authenticated client on the shared session sandbox."""
    with requests.Session() as s:
        yield Api(sandbox, s, get_token(sandbox)["access_token"])


@pytest.fixture()
def fresh_api(fresh_sandbox: Any) -> Iterator[Api]:
    """An authenticated client on a sandbox of its own."""
    with requests.Session() as s:
        yield Api(fresh_sandbox, s, get_token(fresh_sandbox)["access_token"])
