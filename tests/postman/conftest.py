"""Run what cerkl-nb exports and imports through Postman's own tools.

Newman (Postman's command-line collection runner) and ``postman-collection`` (Postman's
collection SDK) come from ``tests/node`` (see ``tests/node_tools.py``). Every test talks
HTTP to a sandbox started in this process on a free port.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from node_tools import NewmanRun, node, node_module_dir, run_newman

import cerkl_nb.sandbox
from cerkl_nb.sandbox import Sandbox
from cerkl_nb.sandbox.settings import SandboxConfig

__all__ = ["NewmanRun", "fresh", "run_newman", "run_node"]


@pytest.fixture
def fresh() -> Iterator[Sandbox]:
    """A new sandbox (its own data, its own tokens) that records every token it issues."""
    sb = cerkl_nb.sandbox.start(port=0, config=SandboxConfig(record_issued_tokens=True))
    try:
        yield sb
    finally:
        sb.stop()


def run_node(script: str, *args: str, module: str) -> Any:
    """Run a small Node script that ``require``\\ s ``module``; return its JSON output."""
    mod_dir = node_module_dir(module)
    proc = subprocess.run(
        [str(node()), "-e", script, str(mod_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
