"""The in-browser site, built and driven in Chromium with nothing but loopback.

The site is built once per test session (``python lite/build.py``), or taken from
``$CERKL_LITE_SITE`` when ``.ci/run`` has built it already. ``site_driver.py`` then serves
it with ``python -m http.server`` on 127.0.0.1 and drives Debian's Chromium through
Playwright, inside a network namespace that has only loopback (``unshare -n``) where the
machine allows one. These tests read what it saw.

They are real-browser tests (marked ``ui`` and ``slow``): without Chromium, Playwright,
Node.js or npm they skip with the reason, except under ``CI=true``, where that is a
failure. The timings go to the end of the test output (see ``conftest.py``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPORT

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "lite"
DRIVER = Path(__file__).with_name("site_driver.py")
CHROMIUM = os.environ.get("CERKL_CHROMIUM", "/usr/bin/chromium")

pytestmark = [pytest.mark.ui, pytest.mark.slow, pytest.mark.timeout(3600)]


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the in-browser site cannot be tested: {reason}", pytrace=False)
    pytest.skip(reason)


def _can_unshare() -> bool:
    """True when this process may make a network namespace of its own (root, usually)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.fixture(scope="session")
def lite_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built site: ``$CERKL_LITE_SITE``, or a fresh build for this session."""
    given = os.environ.get("CERKL_LITE_SITE")
    if given:
        site = Path(given)
        if not (site / "jupyter-lite.json").exists():
            pytest.fail(f"CERKL_LITE_SITE={given} is not a built site", pytrace=False)
        return site
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            _missing(f"building the site needs {tool}")
    try:
        import jupyterlite_core  # noqa: F401
        import jupyterlite_pyodide_kernel  # noqa: F401
    except ImportError:
        _missing("building the site needs: pip install -r lite/build-requirements.txt")
    site = tmp_path_factory.mktemp("lite") / "_site"
    subprocess.run(
        [sys.executable, str(REPO / "lite" / "build.py"), "--output", str(site)],
        check=True,
        timeout=1800,
    )
    return site


@pytest.fixture(scope="session")
def visit(lite_site: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run the driver once: cold and warm visits of notebook 00, then every tutorial."""
    if not Path(CHROMIUM).exists():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        _missing("playwright is not installed (pip install playwright)")
    out = tmp_path_factory.mktemp("lite-visit") / "result.json"
    args = [
        str(DRIVER),
        "--site",
        str(lite_site),
        "--out",
        str(out),
        "--artifacts",
        str(ARTIFACTS),
        "--chromium",
        CHROMIUM,
    ]
    if _can_unshare():
        # Only loopback exists in there, for the server and the browser alike.
        cmd = ["unshare", "-n", sys.executable, *args, "--loopback-up"]
        isolation = "a network namespace with only loopback (unshare -n)"
    else:
        cmd = [sys.executable, *args]
        isolation = "no network namespace (unshare -n is not allowed here)"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3000, cwd=REPO)
    if not out.exists():
        pytest.fail(f"the site driver failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result = json.loads(out.read_text())
    result["isolation"] = isolation
    _report(result)
    return result


def _report(result: dict) -> None:
    REPORT.append(f"in-browser site: served on loopback, {result['isolation']}")
    for key in ("cold", "warm"):
        v = result.get(key)
        if v:
            REPORT.append(
                f"notebook 00, {key} visit: Lab UI {v['ui_s']:.1f} s, kernel idle "
                f"{v['kernel_idle_s']:.1f} s, first 200 at {v['first_200_s']:.1f} s after "
                "navigation"
            )
    for nb in result.get("notebooks", []):
        state = nb.get("failure") or f"{len(nb.get('prompts', []))} code cells run"
        REPORT.append(f"  {nb['notebook']}: {state} ({nb.get('seconds', '?')} s)")
    REPORT.append(f"screenshots: {ARTIFACTS.relative_to(REPO)}/")


def _errors(outputs: list[str]) -> list[str]:
    """The stderr outputs that are errors (a traceback), not warnings."""
    return [o[:500] for o in outputs if "Traceback" in o or re.search(r"^\w+Error\b", o, re.M)]


def test_the_site_makes_no_request_beyond_loopback(visit):
    assert visit["outside"] == []
    if visit["isolation"].startswith("a network namespace"):
        assert visit["interfaces"] == ["lo"]


def test_notebook_00_reaches_the_first_200_cold_and_warm(visit):
    for key in ("cold", "warm"):
        v = visit[key]
        assert v["prompts"] and all(re.match(r"^\[\d+\]:$", p) for p in v["prompts"]), v["prompts"]
        assert _errors(v["stderr"]) == []
        assert 0 < v["ui_s"] <= v["kernel_idle_s"] <= v["first_200_s"]


def test_the_token_countdown_ticks_in_the_browser(visit):
    for key in ("cold", "warm"):
        before, after = visit[key]["countdown"]
        assert re.match(r"^\d\d:\d\d:\d\d$", before) and before != after


@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb")),
)
def test_every_tutorial_runs_all_cells_in_the_browser(visit, name):
    (seen,) = [nb for nb in visit["notebooks"] if nb["notebook"] == name]
    assert "failure" not in seen, seen.get("failure")
    prompts = seen["prompts"]
    unnumbered = [i for i, p in enumerate(prompts) if not re.match(r"^\[\d+\]:$", p)]
    assert prompts and unnumbered == [], f"code cells {unnumbered} did not run: {prompts}"
    assert _errors(seen["stderr"]) == []
