"""``cerkl-nb lab``: JupyterLab on the tutorials, with the sandbox already running.

:func:`run_lab` starts a sandbox in a thread of this process (or reuses the one
``$CERKL_SANDBOX_URL`` names, when ``$CERKL_SANDBOX_KEY`` proves it is ours) and exports both
variables to JupyterLab, so every kernel's ``cerkl_nb.connect()`` finds and may steer it.
JupyterLab opens at notebook 0, with no "get notified about Jupyter news?" prompt in front
of it (:data:`LAB_CONFIG`); when it exits, the sandbox stops.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..spec import ENV_SANDBOX_KEY, ENV_SANDBOX_URL, SANDBOX_DEFAULT_PORT
from .tutorials import FIRST_NOTEBOOK, copy_tutorials, default_folder, tutorials_source

__all__ = [
    "CHECKOUT_NOTEBOOKS",
    "DEFAULT_SANDBOX_PORT",
    "LAB_CONFIG",
    "LabOptions",
    "find_notebooks",
    "lab_command",
    "lab_env",
    "lab_root",
    "open_tutorials",
    "run_lab",
]

#: The tutorials of the source checkout this package runs from, when it runs from a clone.
CHECKOUT_NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
#: A Jupyter config folder for the tutorial server only (on ``JUPYTER_CONFIG_PATH``): its
#: page config switches JupyterLab's news prompt off; the user's own settings stay as they are.
LAB_CONFIG = Path(__file__).with_name("jupyter")
#: The sandbox's port when it is free (the same one ``binder/start`` uses).
DEFAULT_SANDBOX_PORT = SANDBOX_DEFAULT_PORT


@dataclass
class LabOptions:
    """What :func:`run_lab` should do (``cerkl-nb lab``'s command line)."""

    #: JupyterLab's port (``None``: JupyterLab's default, 8888 or the next free one).
    port: int | None = None
    no_browser: bool = False
    #: ``0`` picks a free port; when the default one is taken, a free one is used instead.
    sandbox_port: int = DEFAULT_SANDBOX_PORT
    #: The tutorials folder (``None``: :func:`find_notebooks` searches for it).
    notebooks: Path | None = None
    #: Further arguments for ``jupyter lab``.
    extra: list[str] = field(default_factory=list)
    #: Where to copy the tutorials the package ships, or find that copy (see
    #: :func:`open_tutorials`).
    into: Path | None = None


def _has_tutorials(folder: Path) -> bool:
    return (folder / FIRST_NOTEBOOK).is_file()


def find_notebooks(explicit: Path | None = None, *, cwd: Path | None = None) -> Path:
    """The tutorials folder: ``explicit``, else ``./notebooks`` or ``.`` (from ``cwd``) when
    it holds notebook 0, else the ``notebooks/`` of the source checkout around the package.

    Raises
    ------
    FileNotFoundError
        With what to do, when no folder holds the tutorials.
    """
    if explicit is not None:
        folder = Path(explicit).expanduser().resolve()
        if not _has_tutorials(folder):
            raise FileNotFoundError(f"{folder} does not contain {FIRST_NOTEBOOK}")
        return folder
    here = (cwd or Path.cwd()).resolve()
    for folder in (here / "notebooks", here, CHECKOUT_NOTEBOOKS):
        if _has_tutorials(folder):
            return folder
    raise FileNotFoundError(
        f"could not find the tutorial notebooks ({FIRST_NOTEBOOK}) in {here / 'notebooks'}, "
        f"{here} or {CHECKOUT_NOTEBOOKS}. Pass --notebooks DIR, or --into DIR for a copy."
    )


def open_tutorials(options: LabOptions, *, cwd: Path | None = None) -> tuple[Path, str]:
    """The notebooks folder ``cerkl-nb lab`` opens, and a line on what it copied there.

    In a clone (or a folder with the tutorials) it is :func:`find_notebooks`'s answer, as it
    always was. Otherwise, or with ``--into DIR``, it is a copy of the tutorials the package
    ships in a folder of the user's own (default ``./cerkl-nb-tutorials``), made the first
    time and reused as it is later (:func:`~cerkl_nb.launch.tutorials.copy_tutorials`).
    """
    if options.into is None:
        try:
            return find_notebooks(options.notebooks, cwd=cwd), ""
        except FileNotFoundError:
            if options.notebooks is not None or tutorials_source() is None:
                raise
    report = copy_tutorials(options.into or default_folder(cwd))
    return report.notebooks, report.summary()


def lab_root(notebooks: Path) -> Path:
    """The folder JupyterLab serves: the notebooks' parent when it holds the ``docs/`` and
    ``.env.example`` they mention (so those open in the same Lab, as on Binder), otherwise
    the notebooks folder itself."""
    notebooks = Path(notebooks).resolve()
    project = notebooks.parent
    if (project / "docs").is_dir() and (project / ".env.example").is_file():
        return project
    return notebooks


def lab_command(
    options: LabOptions, notebooks: Path, *, python: str | None = None, is_root: bool | None = None
) -> list[str]:
    """The ``jupyter lab`` command line :func:`run_lab` runs (JupyterLab opens notebook 0)."""
    root = lab_root(notebooks)
    first = (Path(notebooks).resolve() / FIRST_NOTEBOOK).relative_to(root).as_posix()
    cmd = [python or sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}"]
    cmd.append(f"--LabApp.default_url=/lab/tree/{first}")
    if options.port is not None:
        cmd.append(f"--ServerApp.port={options.port}")
    if options.no_browser:
        cmd.append("--no-browser")
    if is_root is None:
        is_root = getattr(os, "geteuid", lambda: -1)() == 0
    if is_root and "--allow-root" not in options.extra:
        # Jupyter refuses to run as root without it (containers, CI, Binder-like setups).
        cmd.append("--allow-root")
    return cmd + list(options.extra)


def lab_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with :data:`LAB_CONFIG` first on ``JUPYTER_CONFIG_PATH``."""
    paths = [str(LAB_CONFIG), *filter(None, [env.get("JUPYTER_CONFIG_PATH")])]
    return {**env, "JUPYTER_CONFIG_PATH": os.pathsep.join(paths)}


def _start_sandbox(port: int, env: Mapping[str, str]) -> tuple[Any, bool]:
    """Return (sandbox, owned): the published one when its key proves it is ours, else a
    new one (on a free port when ``port`` is taken)."""
    from .. import sandbox

    url, key = env.get(ENV_SANDBOX_URL), env.get(ENV_SANDBOX_KEY)
    if url and key:
        try:
            return sandbox.attach(url, key=key, timeout_s=1.0), False
        except sandbox.SandboxError:
            pass
    try:
        return sandbox.start(port=port), True
    except OSError:
        if port == 0:
            raise
        print(f"cerkl-nb lab: port {port} is taken; using a free port instead.", file=sys.stderr)
        return sandbox.start(port=0), True


def run_lab(options: LabOptions) -> int:
    """Start the sandbox and JupyterLab on the tutorials; return JupyterLab's exit code."""
    if importlib.util.find_spec("jupyterlab") is None:
        print(
            "cerkl-nb lab: JupyterLab is not installed: pip install 'cerkl-nb[lab]'",
            file=sys.stderr,
        )
        return 2
    try:
        notebooks, copied = open_tutorials(options)
    except OSError as err:
        print(f"cerkl-nb lab: {err}", file=sys.stderr)
        return 2
    if copied:
        print(f"cerkl-nb lab: {copied}".replace("\n", "\n  "), file=sys.stderr)

    env = lab_env(os.environ)
    sb, owned = _start_sandbox(options.sandbox_port, env)
    env[ENV_SANDBOX_URL], env[ENV_SANDBOX_KEY] = sb.root_url, sb.key
    state = "started" if owned else "already running"
    print(
        f"cerkl-nb lab: Cerkl sandbox at {sb.url} ({state}); notebooks in {notebooks}",
        file=sys.stderr,
    )
    proc: subprocess.Popen[bytes] | None = None
    if threading.current_thread() is threading.main_thread():
        # A SIGTERM (a supervisor, `kill`) ends JupyterLab and the sandbox too, as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        proc = subprocess.Popen(lab_command(options, notebooks), cwd=notebooks, env=env)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            # JupyterLab got the same Ctrl-C and shuts down (or asks) by itself; a second
            # Ctrl-C, or 10 s without an answer, ends it for good.
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
