"""Find the Node tools the tests drive (Newman, Postman's collection SDK, Redocly, ...).

They are pinned in ``tests/node/package.json`` and installed with
``npm ci --prefix tests/node`` (``.ci/run`` does that). A test that needs one calls
:func:`node_tool` (a command such as ``newman``) or :func:`node_module_dir` (a package a
small ``node`` script ``require``\\ s). When the tool is missing the test is skipped with
a reason that says how to install it; under ``CI=true`` it fails instead, because CI
installs them and a skip there would hide a broken install.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE_MODULES = NODE_DIR / "node_modules"
INSTALL_HINT = "install the test tools with `npm ci --prefix tests/node` (needs node and npm)"

__all__ = ["NODE_DIR", "NODE_MODULES", "node", "node_module_dir", "node_tool"]


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
