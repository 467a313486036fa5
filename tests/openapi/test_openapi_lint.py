"""Redocly's linter (``@redocly/cli lint``, recommended rules) accepts the description."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from node_tools import node_tool

pytestmark = pytest.mark.slow  # runs Redocly's CLI (Node)

LINT_TIMEOUT_S = 120


def lint(spec_file: Path) -> dict:
    """Run ``redocly lint --format=json`` on ``spec_file`` and return its report."""
    env = {
        **os.environ,
        # Offline and quiet: no usage telemetry, no "new version" check.
        "REDOCLY_TELEMETRY": "off",
        "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
    }
    done = subprocess.run(
        [str(node_tool("redocly")), "lint", "--format=json", str(spec_file)],
        capture_output=True,
        text=True,
        timeout=LINT_TIMEOUT_S,
        env=env,
        cwd=spec_file.parent,
        check=False,
    )
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise AssertionError(
            f"redocly printed no JSON report:\n{done.stdout}\n{done.stderr}"
        ) from None


def test_redocly_reports_no_errors_and_no_warnings(spec_file):
    report = lint(spec_file)
    problems = [
        f"{p['severity']} {p['ruleId']}: {p['message']} at {p['location'][0]['pointer']}"
        for p in report["problems"]
    ]
    assert report["totals"]["errors"] == 0, problems
    # docs/sandbox.md promises to justify every warning; there are none to justify.
    assert report["totals"]["warnings"] == 0, problems


def test_redocly_finds_a_planted_error(spec_file):
    """The lint can fail: ``nullable`` beside a ``$ref`` with no ``type`` is an error."""
    doc = json.loads(spec_file.read_text(encoding="utf-8"))
    item = doc["components"]["schemas"]["Story"]["properties"]
    item["author"] = {"allOf": [{"$ref": "#/components/schemas/Ref"}], "nullable": True}
    spec_file.write_text(json.dumps(doc), encoding="utf-8")
    report = lint(spec_file)
    assert report["totals"]["errors"] == 1
    assert report["problems"][0]["ruleId"] == "nullable-type-sibling"
