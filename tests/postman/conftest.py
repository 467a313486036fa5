"""Run what cerkl-nb exports and imports through Postman's own tools.

Newman (Postman's command-line collection runner) and ``postman-collection`` (Postman's
collection SDK) come from ``tests/node`` (see ``tests/node_tools.py``). Every test talks
HTTP to a sandbox started in this process on a free port.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from node_tools import node, node_module_dir, node_tool

import cerkl_nb.sandbox
from cerkl_nb.sandbox import Sandbox
from cerkl_nb.sandbox.config import SandboxConfig

NEWMAN_TIMEOUT_S = 120


@pytest.fixture
def fresh() -> Iterator[Sandbox]:
    """A new sandbox (its own data, its own tokens) that records every token it issues."""
    sb = cerkl_nb.sandbox.start(port=0, config=SandboxConfig(record_issued_tokens=True))
    try:
        yield sb
    finally:
        sb.stop()


@dataclass
class NewmanRun:
    """What one ``newman run`` reported (from its JSON reporter)."""

    returncode: int
    report: dict[str, Any]
    output: str

    @property
    def stats(self) -> dict[str, Any]:
        return self.report["run"]["stats"]

    @property
    def executions(self) -> list[dict[str, Any]]:
        """One execution per item sent, in order.

        The JSON reporter also lists each request a script sends (``pm.sendRequest``, the
        token request) under the item that sent it, with the same id: the last entry for
        an id is the item's own request.
        """
        last: dict[str, dict[str, Any]] = {}
        for e in self.report["run"]["executions"]:
            last.pop(e["id"], None)
            last[e["id"]] = e
        return list(last.values())

    @property
    def script_requests(self) -> int:
        """How many requests scripts sent (the collection's token requests)."""
        return self.stats["requests"]["total"] - len(self.executions)

    @property
    def failures(self) -> list[dict[str, Any]]:
        return self.report["run"]["failures"]

    def statuses(self) -> list[tuple[str, int | None]]:
        """``(item name, status)`` per request sent, in order."""
        return [(e["item"]["name"], (e.get("response") or {}).get("code")) for e in self.executions]

    def assertions_per_request(self) -> list[int]:
        return [len(e.get("assertions") or []) for e in self.executions]


def run_newman(
    collection: Path,
    tmp_path: Path,
    *,
    environment: Path | None = None,
    env_vars: Mapping[str, str] | None = None,
    folders: Sequence[str] = (),
    tag: str = "run",
) -> NewmanRun:
    """``newman run`` with the CLI and JSON reporters; returns the parsed report."""
    report = tmp_path / f"newman-{tag}.json"
    cmd = [str(node_tool("newman")), "run", str(collection)]
    if environment is not None:
        cmd += ["-e", str(environment)]
    for key, value in (env_vars or {}).items():
        cmd += ["--env-var", f"{key}={value}"]
    for folder in folders:
        cmd += ["--folder", folder]
    cmd += [
        "--reporters",
        "cli,json",
        "--reporter-json-export",
        str(report),
        "--timeout-request",
        "10000",
        "--color",
        "off",
        "--disable-unicode",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=NEWMAN_TIMEOUT_S)
    if not report.exists():
        pytest.fail(f"newman wrote no report:\n{proc.stdout}\n{proc.stderr}")
    return NewmanRun(proc.returncode, json.loads(report.read_text()), proc.stdout + proc.stderr)


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
