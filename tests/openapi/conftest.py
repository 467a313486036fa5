"""Fixtures for the tests of the sandbox's OpenAPI description.

The description is always the one a running sandbox serves (``/v3/openapi.json``), so
the tests check what a user would download, not a copy built on the side.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openapi_helpers import served_description

from cerkl_nb.sandbox import Sandbox


@pytest.fixture
def spec_file(sandbox: Sandbox, tmp_path: Path) -> Path:
    """The session sandbox's description, written to a file for the Node tools."""
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(served_description(sandbox), indent=1), encoding="utf-8")
    return path
