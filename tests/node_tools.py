"""Find the Node tools the tests drive (Newman, Postman's collection SDK, Redocly, ...).

They are pinned in ``tests/node/package.json`` and installed with
``npm ci --prefix tests/node`` (``.ci/run`` does that). A test that needs one calls
:func:`node_tool` (a command such as ``newman``) or :func:`node_module_dir` (a package a
small ``node`` script ``require``\\ s). When the tool is missing the test is skipped with
a reason that says how to install it; under ``CI=true`` it fails instead, because CI
installs them and a skip there would hide a broken install. :func:`run_newman` runs a
collection with Newman and returns its JSON report as a :class:`NewmanRun`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE_MODULES = NODE_DIR / "node_modules"
INSTALL_HINT = "install the test tools with `npm ci --prefix tests/node` (needs node and npm)"

__all__ = [
    "NODE_DIR",
    "NODE_MODULES",
    "NewmanRun",
    "node",
    "node_module_dir",
    "node_tool",
    "run_newman",
]
NEWMAN_TIMEOUT_S = 120


def _missing(what: str) -> None:
    reason = f"{what} is not installed: {INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(f"CI installs the Node test tools, but {reason}", pytrace=False)
    pytest.skip(reason)


def node() -> Path:
    """The ``node`` executable (skips, or fails under CI, when there is none)."""
    found = shutil.which("node")
    if not found:
        _missing("node")
    return Path(found)


def node_tool(name: str) -> Path:
    """The command ``tests/node/node_modules/.bin/<name>``.

    Parameters
    ----------
    name
        The command's name: ``newman``, ``redocly``, ``openapi2postmanv2`` ...

    Returns
    -------
    pathlib.Path
        The executable. Calls ``pytest.skip`` (``pytest.fail`` when ``CI`` is set) when it
        or ``node`` itself is missing.
    """
    path = NODE_MODULES / ".bin" / name
    if not path.exists():
        _missing(f"the Node tool {name!r}")
    node()  # the .bin entries are node scripts: without node they cannot run
    return path


def node_module_dir(name: str) -> Path:
    """The installed package ``tests/node/node_modules/<name>`` (for ``require``).

    Parameters
    ----------
    name
        The package name, scoped or not (``postman-collection``, ``@redocly/cli``).

    Returns
    -------
    pathlib.Path
        Its directory. Skips (fails under ``CI``) when it or ``node`` is missing.
    """
    path = NODE_MODULES / name
    if not (path / "package.json").exists():
        _missing(f"the Node package {name!r}")
    node()
    return path


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
