"""``cerkl-nb lab``: JupyterLab on the tutorials, with the sandbox already running.

:func:`run_lab` starts a sandbox in a background thread of this process (or reuses the
one ``$CERKL_SANDBOX_URL`` points at, when ``$CERKL_SANDBOX_KEY`` proves it is ours),
exports ``CERKL_SANDBOX_URL`` and ``CERKL_SANDBOX_KEY`` to the environment JupyterLab and
its kernels inherit, so every notebook's ``cerkl_nb.connect()`` finds and may steer the
same sandbox, then runs ``jupyter lab`` opened at notebook 0. When
JupyterLab exits, the sandbox stops. The command line is parsed by :mod:`cerkl_nb.launch.cli`.

The notebooks folder is found, in order: ``--notebooks DIR``; ``./notebooks`` or ``.``
when it holds ``00-start-here.ipynb``; the ``notebooks/`` folder of a source checkout
(next to the ``cerkl_nb`` package). JupyterLab serves the project folder around it when
there is one (:func:`lab_root`), so the files the notebooks mention (``docs/``,
``.env.example``) open in the same Lab, as on Binder.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import spec

__all__ = [
    "DEFAULT_SANDBOX_PORT",
    "FIRST_NOTEBOOK",
    "LabOptions",
    "find_notebooks",
    "lab_command",
    "lab_root",
    "run_lab",
]

#: The tutorial JupyterLab opens first.
FIRST_NOTEBOOK = "00-start-here.ipynb"
#: The sandbox's port when it is free (the same one ``binder/start`` uses).
DEFAULT_SANDBOX_PORT = spec.SANDBOX_DEFAULT_PORT


@dataclass
class LabOptions:
    """What :func:`run_lab` should do.

    Attributes
    ----------
    port
        JupyterLab's port (``None``: JupyterLab's default, 8888 or the next free one).
    no_browser
        Do not open a browser tab.
    sandbox_port
        The sandbox's port; ``0`` picks a free one. When the default port is taken, a free
        one is used instead.
    notebooks
        The notebooks folder (``None``: search for it, see :func:`find_notebooks`).
    extra
        Further arguments for ``jupyter lab``.
    """

    port: int | None = None
    no_browser: bool = False
    sandbox_port: int = DEFAULT_SANDBOX_PORT
    notebooks: Path | None = None
    extra: list[str] = field(default_factory=list)


def _has_tutorials(folder: Path) -> bool:
    return (folder / FIRST_NOTEBOOK).is_file()


def find_notebooks(explicit: Path | None = None, *, cwd: Path | None = None) -> Path:
    """Locate the tutorials folder.

    Parameters
    ----------
    explicit
        A folder the user named; it must hold ``00-start-here.ipynb``.
    cwd
        The directory to search from (the current one by default).

    Raises
    ------
    FileNotFoundError
        With what to do, when no folder with the tutorials is found.
    """
    if explicit is not None:
        folder = Path(explicit).expanduser().resolve()
        if not _has_tutorials(folder):
            raise FileNotFoundError(f"{folder} does not contain {FIRST_NOTEBOOK}")
        return folder
    here = (cwd or Path.cwd()).resolve()
    checkout = Path(__file__).resolve().parents[2] / "notebooks"
    for folder in (here / "notebooks", here, checkout):
        if _has_tutorials(folder):
            return folder
    raise FileNotFoundError(
        f"could not find the tutorial notebooks ({FIRST_NOTEBOOK}) in {here / 'notebooks'}, "
        f"{here} or {checkout}. Run cerkl-nb lab from the project folder (a clone of the "
        "repository), or pass --notebooks DIR."
    )


def _is_root() -> bool:
    geteuid = getattr(os, "geteuid", None)
    return bool(geteuid and geteuid() == 0)


def lab_root(notebooks: Path) -> Path:
    """The folder JupyterLab serves for the tutorials in ``notebooks``.

    The project folder (the notebooks' parent) when it holds the ``docs/`` and
    ``.env.example`` the notebooks mention, so they open in the same Lab; otherwise (a
    copy of the notebooks on their own) the notebooks folder itself.
    """
    notebooks = Path(notebooks).resolve()
    project = notebooks.parent
    if (project / "docs").is_dir() and (project / ".env.example").is_file():
        return project
    return notebooks


def lab_command(
    options: LabOptions,
    notebooks: Path,
    *,
    python: str | None = None,
    is_root: bool | None = None,
) -> list[str]:
    """The ``jupyter lab`` command line :func:`run_lab` runs (JupyterLab opens notebook 0)."""
    root = lab_root(notebooks)
    first = (Path(notebooks).resolve() / FIRST_NOTEBOOK).relative_to(root).as_posix()
    cmd = [
        python or sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.default_url=/lab/tree/{first}",
    ]
    if options.port is not None:
        cmd.append(f"--ServerApp.port={options.port}")
    if options.no_browser:
        cmd.append("--no-browser")
    if (_is_root() if is_root is None else is_root) and "--allow-root" not in options.extra:
        # Jupyter refuses to run as root without it (containers, CI, Binder-like setups).
        cmd.append("--allow-root")
    cmd.extend(options.extra)
    return cmd


def _start_sandbox(port: int, env: Mapping[str, str]) -> tuple[Any, bool]:
    """Return (sandbox, owned): reuse ``$CERKL_SANDBOX_URL`` when ``$CERKL_SANDBOX_KEY``
    proves it is ours, else start one."""
    from .. import sandbox as sandbox_mod

    url, key = env.get("CERKL_SANDBOX_URL"), env.get("CERKL_SANDBOX_KEY")
    if url and key:
        try:
            return sandbox_mod.attach(url, key=key, timeout_s=1.0), False
        except sandbox_mod.SandboxError:
            pass
    try:
        return sandbox_mod.start(port=port), True
    except OSError:
        if port == 0:
            raise
        print(
            f"cerkl-nb lab: port {port} is taken; starting the sandbox on a free port instead.",
            file=sys.stderr,
        )
        return sandbox_mod.start(port=0), True


def run_lab(options: LabOptions) -> int:
    """Start the sandbox and JupyterLab on the tutorials; return JupyterLab's exit code.

    Parameters
    ----------
    options
        What to do; ``cerkl-nb lab`` builds them from its command line
        (:func:`cerkl_nb.launch.cli.parse_options`).
    """
    try:
        notebooks = find_notebooks(options.notebooks)
    except FileNotFoundError as err:
        print(f"cerkl-nb lab: {err}", file=sys.stderr)
        return 2

    if importlib.util.find_spec("jupyterlab") is None:
        print(
            "cerkl-nb lab: JupyterLab is not installed: pip install 'cerkl-nb[lab]'",
            file=sys.stderr,
        )
        return 2

    env = dict(os.environ)
    sb, owned = _start_sandbox(options.sandbox_port, env)
    env["CERKL_SANDBOX_URL"] = sb.root_url
    env["CERKL_SANDBOX_KEY"] = sb.key
    print(
        f"cerkl-nb lab: Cerkl sandbox at {sb.url} "
        f"({'started' if owned else 'already running'}); notebooks in {notebooks}",
        file=sys.stderr,
    )
    cmd = lab_command(options, notebooks)
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = subprocess.Popen(cmd, cwd=notebooks, env=env)
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                # JupyterLab got the same Ctrl-C and asks or shuts down by itself; a
                # second Ctrl-C ends it for good.
                try:
                    return proc.wait(timeout=10)
                except (KeyboardInterrupt, subprocess.TimeoutExpired):
                    proc.terminate()
                    return proc.wait(timeout=30)
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if owned:
            sb.stop()
