"""Fixtures shared by every test layer.

The sandbox fixtures come from the plugin the package ships, so users' own test suites
can use them the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cerkl_nb.sandbox.pytest_plugin import fresh_sandbox, sandbox  # noqa: F401


@pytest.fixture(scope="session")
def _test_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cerkl-nb-state")


@pytest.fixture(autouse=True)
def _private_state_dir(request, monkeypatch, _test_state_dir) -> None:
    """Keep tests away from the real ``~/.cerkl-nb``.

    ``ensure()`` attaches to the sandbox named in the user's ready-file there, so a sandbox
    someone runs for this user (``cerkl-nb with-sandbox``) would otherwise change what a
    test sees. The workshop tests in ``tests/hub`` choose their own state directories.
    """
    if "CERKL_NB_STATE_DIR" not in os.environ and "hub" not in request.node.path.parts:
        monkeypatch.setenv("CERKL_NB_STATE_DIR", str(_test_state_dir))
