"""Fixtures shared by every test layer.

The sandbox fixtures come from the plugin the package ships, so users' own test suites
can use them the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cerkl_nb.sandbox.pytest_plugin import fresh_sandbox, sandbox  # noqa: F401


@pytest.fixture(scope="session")
def _test_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cerkl-nb-state")


@pytest.fixture(autouse=True)
def _private_state_dir(request, monkeypatch, _test_state_dir) -> None:
    """Keep tests away from the real ``~/.cerkl-nb``.

    ``ensure()`` attaches to the sandbox named in the user's ready-file there, so a sandbox
    someone runs for this user (``cerkl-nb with-sandbox``) would otherwise change what a
    test sees. The workshop tests in ``tests/hub`` choose their own state directories.
    """
    if "CERKL_NB_STATE_DIR" not in os.environ and "hub" not in request.node.path.parts:
        monkeypatch.setenv("CERKL_NB_STATE_DIR", str(_test_state_dir))


# The quick tier (`python -m pytest -m "not slow and not ui"`): the core, the sandbox and the
# widgets' kernel side. Whole folders that start JupyterLab, JupyterHub, a browser, a
# JupyterLite site or executed notebooks are slow, and so is every test that runs a Node
# tool (Newman, Postman's SDK, Redocly, httpyac): they stay in the full suite CI runs.
_SLOW_FOLDERS = frozenset({"ui", "hub", "lite", "notebooks", "binder"})
_NODE_RUNNERS = frozenset({"run_newman", "run_node", "node_tool", "node_module_dir"})
_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            folder = item.path.resolve().relative_to(_TESTS).parts[0]
        except ValueError:
            continue
        code = getattr(getattr(item, "function", None), "__code__", None)
        runs_node = code is not None and not _NODE_RUNNERS.isdisjoint(code.co_names)
        if folder in _SLOW_FOLDERS or item.path.name == "test_readme_commands.py" or runs_node:
            item.add_marker(pytest.mark.slow)
