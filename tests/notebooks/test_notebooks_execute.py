"""Execute every tutorial against a sandbox and prove the saved file holds no secret.

Each notebook runs top to bottom in a fresh ``python3`` kernel with nbclient, keeping
widget state (nbclient's default, and what ``nbconvert --execute`` or papermill would
save). The kernel gets a client ID and secret of this test's own, registered on a sandbox
that runs in this process. Every token the sandbox mints is recorded as it is minted
(``SandboxConfig(record_issued_tokens=True)``, read with ``Sandbox.issued_tokens()``). The
executed file, outputs and metadata, is then searched for the secret, for the Basic header
built from it, for every token issued during the run, and for any 40-hex token-shaped
string at all; none may appear.

The kernel's HTTP(S) proxy is a dead loopback port with only loopback exempt, so any
request to the internet would fail the run. Executed copies are saved under
``test-artifacts/notebooks/`` (git-ignored) for debugging, with a ``timings.json`` of
seconds per notebook.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbclient import NotebookClient
from node_tools import run_newman

import cerkl_nb.sandbox
from cerkl_nb.sandbox.settings import DEMO_CLIENT_SECRET, SandboxConfig

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"
NODE_BIN = ROOT / "tests" / "node" / "node_modules" / ".bin"
HEX40 = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{40}(?![0-9a-fA-F])")
# Cerkl's documented sample token and the reconstructed refresh token next to it may be
# quoted in markdown; they are not secrets.
ALLOWED_HEX = {
    "e37b98a75db58f83edaaccdb75d15c3a38ae5e38",
    "5d0c0f3b8e7a4c1d9f2e6b7a8c9d0e1f2a3b4c5d",
}
CELL_TIMEOUT_S = 120
TIMINGS: dict[str, float] = {}

pytestmark = pytest.mark.timeout(600)


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@pytest.fixture(scope="module")
def tutorial_sandbox():
    """A sandbox in this process, a client of the test's own, and every token it mints."""
    sb = cerkl_nb.sandbox.start(port=0, config=SandboxConfig(record_issued_tokens=True))
    client_id = "nb-test-" + secrets.token_hex(4)
    # Letters and digits only; long enough that a chance match is impossible.
    secret = "S" + secrets.token_hex(24) + "x"
    sb.register_client(client_id, secret)
    try:
        yield SimpleNamespace(sb=sb, client_id=client_id, secret=secret)
    finally:
        sb.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")


def _kernel_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERKL_")}
    env.pop("MPLBACKEND", None)  # let the kernel use its inline backend, as in JupyterLab
    # No network beyond loopback: HTTP(S) anywhere else goes to a dead proxy and fails.
    dead_proxy = "http://127.0.0.1:9"
    loopback = "127.0.0.1,localhost,::1"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = dead_proxy
    env["NO_PROXY"] = env["no_proxy"] = loopback
    # Postman's Newman, for notebook 8's round trip, when the Node test tools are installed.
    if NODE_BIN.is_dir():
        env["PATH"] = f"{NODE_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def _execute(
    path: Path, workdir: Path, env: dict[str, str], artifact: str | None = None
) -> tuple[nbformat.NotebookNode, float]:
    nb = nbformat.read(path, as_version=4)
    # The example Postman files sit next to the notebooks, as in JupyterLab.
    shutil.copytree(path.parent / "postman", workdir / "postman", dirs_exist_ok=True)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    assert client.store_widget_state, (
        "the leak test needs widget state saved, as nbclient's default"
    )
    started = time.perf_counter()
    try:
        client.execute(env=env)
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, ARTIFACTS / (artifact or path.name))
    return nb, time.perf_counter() - started


def _assert_no_leak(text: str, secrets_: dict[str, str], minted: list[str]) -> None:
    for what, value in secrets_.items():
        assert value not in text, f"the {what} appears in the executed notebook"
    leaked = [t for t in minted if t in text]
    assert not leaked, f"{len(leaked)} issued token(s) appear in the executed notebook"
    shaped = sorted(set(HEX40.findall(text)) - ALLOWED_HEX)
    assert not shaped, f"token-shaped strings in the executed notebook: {len(shaped)} found"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_and_leaks_nothing(path: Path, tutorial_sandbox, tmp_path: Path) -> None:
    ts = tutorial_sandbox
    env = _kernel_env(
        {
            "CERKL_CLIENT_ID": ts.client_id,
            "CERKL_CLIENT_SECRET": ts.secret,
            "CERKL_BASE_URL": ts.sb.url,
            "CERKL_SANDBOX_URL": ts.sb.url,
            "CERKL_SANDBOX_KEY": ts.sb.key,
        }
    )
    minted_before = len(ts.sb.issued_tokens())
    nb, elapsed = _execute(path, tmp_path, env)
    TIMINGS[path.stem] = round(elapsed, 1)

    text = nbformat.writes(nb)
    basic = base64.b64encode(f"{ts.client_id}:{ts.secret}".encode()).decode()
    minted = ts.sb.issued_tokens()
    _assert_no_leak(
        text,
        {"client secret": ts.secret, "Basic header value": basic, "sandbox key": ts.sb.key},
        minted,
    )
    assert len(minted) > minted_before, "the notebook never asked the test's sandbox for a token"

    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.get("output_type") == "error"
    ]
    assert not errors
    if path.name.startswith("08-") and (NODE_BIN / "newman").exists():
        # With Newman installed, notebook 8 must really run its export, not skip it ...
        assert "Newman ran the exported collection green, twice in a row" in text
        # ... and the files it leaves for the reader run green on a fresh sandbox too.
        _newman_twice_on_a_fresh_sandbox(tmp_path / "exports", tmp_path)


def _newman_twice_on_a_fresh_sandbox(exports: Path, tmp_path: Path) -> None:
    collection = exports / "cerkl-round-trip.postman_collection.json"
    environment = exports / "cerkl-round-trip.postman_environment.json"
    items = len(json.loads(collection.read_text())["item"])
    fresh = cerkl_nb.sandbox.start(port=0)
    try:
        for n in (1, 2):
            run = run_newman(
                collection,
                tmp_path,
                environment=environment,
                env_vars={
                    "baseUrl": fresh.url,
                    "clientId": fresh.client_id,
                    "clientSecret": fresh.client_secret,
                },
                tag=f"fresh-{n}",
            )
            assert run.failures == [] and run.returncode == 0, run.output
            assert len(run.executions) == items
            assert min(run.assertions_per_request()) >= 1
    finally:
        fresh.stop()


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    ["00-start-here.ipynb", "02-access-token.ipynb"],
    ids=["00-unconfigured", "02-unconfigured"],
)
def test_runs_with_no_configuration_at_all(name: str, tmp_path: Path) -> None:
    """What a newcomer does: no .env, no variables; the kernel starts its own sandbox."""
    env = _kernel_env({})
    nb, _ = _execute(ROOT / "notebooks" / name, tmp_path, env, "unconfigured-" + name)
    text = nbformat.writes(nb)
    assert DEMO_CLIENT_SECRET not in text, "the demo secret is printed (a bad habit to teach)"
    shaped = sorted(set(HEX40.findall(text)) - ALLOWED_HEX)
    assert not shaped, "token-shaped strings in the executed notebook"
