"""Imitate a Binder (repo2docker) build in a clean virtual environment, then run every tutorial.

What repo2docker does with this repository, step by step:

1. copy the repository into the user's home directory;
2. ``pip install -r binder/requirements.txt`` (from that directory);
3. run ``binder/postBuild`` there;
4. start the server through ``binder/start``, which must end with ``exec "$@"``.

This test does the same in a temporary "home", with a ``python -m venv`` that has no system
site-packages (pip's download cache is reused, so a warm run takes a minute or two), and
then executes every notebook with ``jupyter nbconvert --execute`` *through* ``binder/start``
with no credentials anywhere, exactly like a reader opening the Binder link. The executed
notebooks are checked for errors, for the sandbox that ``binder/start`` started, and for
token-shaped strings; copies go to ``test-artifacts/binder/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
ARTIFACTS = ROOT / "test-artifacts" / "binder"
HEX40 = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{40}(?![0-9a-fA-F])")
IGNORE = shutil.ignore_patterns(
    ".git",
    "test-artifacts",
    ".venv",
    "venv",
    "__pycache__",
    "*.egg-info",
    ".env",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".ipynb_checkpoints",
    "build",
    "dist",
    "bench",
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float, log: Path) -> None:
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            rc = proc.wait(timeout=timeout)
        finally:
            # binder/start leaves the sandbox running in the background (Binder's container
            # ends it); here we end the process group this test started, by its id.
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    assert rc == 0, f"{cmd[0]} failed with exit code {rc}; see {log}"


def test_binder_configuration_is_complete() -> None:
    assert (BINDER / "requirements.txt").is_file()
    for script in ("postBuild", "start"):
        path = BINDER / script
        assert path.is_file()
        assert os.access(path, os.X_OK), f"binder/{script} must be executable"
        assert path.read_text().startswith("#!/usr/bin/env bash")
    assert 'exec "$@"' in (BINDER / "start").read_text()
    reqs = (BINDER / "requirements.txt").read_text()
    assert "-e" not in reqs.split() and "\n.\n" not in reqs, "local installs belong in postBuild"


def test_binder_build_runs_every_notebook(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(ROOT, home, ignore=IGNORE)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bindir = venv / "bin"
    pyvenv = (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in pyvenv, pyvenv

    cache = subprocess.run(
        [sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True
    ).stdout.strip()
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CERKL_", "PYTHON", "JUPYTER", "MPL", "VIRTUAL_ENV"))
    }
    env.update(
        PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        IPYTHONDIR=str(tmp_path / "ipython"),
        MPLCONFIGDIR=str(tmp_path / "mpl"),
        CERKL_SANDBOX_PORT=str(port),
        TMPDIR=str(tmp_path),
    )
    if cache and "disabled" not in cache.lower():
        env["PIP_CACHE_DIR"] = cache

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "build.log"
    log.write_text("")
    python = str(bindir / "python")

    # 2. requirements, 3. postBuild, both from the copied repository, like repo2docker.
    _run(
        [python, "-m", "pip", "install", "-r", "binder/requirements.txt"],
        cwd=home,
        env=env,
        timeout=900,
        log=log,
    )
    _run(["bash", "binder/postBuild"], cwd=home, env=env, timeout=600, log=log)
    # The image serves the tutorials only: JupyterLab's news prompt is off in it.
    page_config = json.loads(
        (venv / "etc" / "jupyter" / "labconfig" / "page_config.json").read_text()
    )
    assert page_config["disabledExtensions"]["@jupyterlab/apputils-extension:announcements"]

    # The kernel the notebooks will run in is the venv's, not the system's.
    specs = subprocess.run(
        [str(bindir / "jupyter"), "kernelspec", "list", "--json"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    python3 = json.loads(specs)["kernelspecs"]["python3"]
    argv0 = python3["spec"]["argv"][0]
    assert argv0 in ("python", python) or argv0.startswith(str(venv)), python3

    # 4. binder/start wraps the command, as it wraps the notebook server on Binder. From
    # here on nothing may need the network: HTTP(S) beyond loopback goes to a dead proxy.
    run_env = dict(env, NO_PROXY="127.0.0.1,localhost,::1", no_proxy="127.0.0.1,localhost,::1")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        run_env[name] = run_env[name.lower()] = "http://127.0.0.1:9"
    out = tmp_path / "executed"
    notebooks = sorted(
        str(p.relative_to(home)) for p in (home / "notebooks").glob("[0-9][0-9]-*.ipynb")
    )
    assert len(notebooks) == 9
    _run(
        [
            "bash",
            "binder/start",
            str(bindir / "jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=120",
            "--ExecutePreprocessor.kernel_name=python3",
            "--output-dir",
            str(out),
            *notebooks,
        ],
        cwd=home,
        env=run_env,
        timeout=900,
        log=log,
    )

    log_text = log.read_text()
    assert f"sandbox running at http://127.0.0.1:{port}" in log_text, (
        "binder/start did not start the sandbox"
    )
    for name in notebooks:
        executed = out / Path(name).name
        assert executed.is_file(), f"{name} was not executed"
        shutil.copy(executed, ARTIFACTS / executed.name)
        nb = nbformat.read(executed, as_version=4)
        text = nbformat.writes(nb)
        errors = [
            o
            for c in nb.cells
            if c.cell_type == "code"
            for o in c.outputs
            if o.get("output_type") == "error"
        ]
        assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
        assert not HEX40.findall(text), f"{name}: token-shaped strings in the executed notebook"
    first = (out / "00-start-here.ipynb").read_text()
    assert f"127.0.0.1:{port}/v3" in first, (
        "notebook 0 did not use the sandbox binder/start started"
    )


def _declared() -> dict[str, str]:
    """Name -> version specifier of the runtime dependencies and the `lab` extra's closure."""
    import tomllib
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    found: dict[str, str] = {}
    todo = [*project["dependencies"], *extras["lab"]]
    while todo:
        req = Requirement(todo.pop())
        if req.name == project["name"]:
            todo += [r for extra in req.extras for r in extras[extra]]
        else:
            found[req.name.lower()] = str(req.specifier)
    return found


def _pinned() -> dict[str, str]:
    pins = {}
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"binder/requirements.txt: {line!r} is not pinned with =="
            pins[name.strip().lower()] = version.strip()
    return pins


def test_binder_pins_exact_versions_inside_the_declared_ranges() -> None:
    from packaging.specifiers import SpecifierSet

    declared, pinned = _declared(), _pinned()
    assert sorted(pinned) == sorted(declared), "pin exactly what the lab extra needs"
    for name, version in pinned.items():
        assert version in SpecifierSet(declared[name]), f"{name}=={version} vs {declared[name]}"


@pytest.mark.parametrize(
    ("name", "vulnerable"),
    [("requests", "2.32.3"), ("jupyterlab", "4.2.4"), ("tqdm", "4.66.2")],
)
def test_dependency_floors_exclude_versions_with_known_advisories(name, vulnerable) -> None:
    from packaging.specifiers import SpecifierSet

    assert vulnerable not in SpecifierSet(_declared()[name])
