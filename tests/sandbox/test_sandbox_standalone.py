"""The sandbox stands alone: it imports nothing from the client but ``cerkl_nb.spec``,
not even ``requests``, its own modules import each other without a cycle, and it serves
every endpoint ``cerkl_nb.spec`` describes."""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import cerkl_nb.sandbox

PACKAGE = pathlib.Path(cerkl_nb.sandbox.__file__).parent
ALLOWED_OUTSIDE = {"cerkl_nb", "cerkl_nb.spec"}


def _runtime_nodes(tree: ast.AST):
    """Every node, except what sits under ``if TYPE_CHECKING:`` (never imported at run time)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", "") == "TYPE_CHECKING":
                todo.extend(child.orelse)
                continue
            todo.append(child)


def _imports(path: pathlib.Path) -> set[str]:
    """Every cerkl_nb module ``path`` imports at run time (in any function too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ["cerkl_nb", "sandbox"]
    out: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("cerkl_nb"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("cerkl_nb"):
                if mod == "cerkl_nb.sandbox" or node.module is None:
                    # "from . import x" names submodules
                    out.update(f"{mod}.{a.name}" for a in node.names)
                out.add(mod)
    return out


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.glob("*.py"):
        name = "cerkl_nb.sandbox" if path.stem == "__init__" else f"cerkl_nb.sandbox.{path.stem}"
        graph[name] = _imports(path)
    return graph


def test_the_sandbox_imports_only_cerkl_nb_api_from_the_package():
    outside = {
        (mod, dep)
        for mod, deps in _graph().items()
        for dep in deps
        if not dep.startswith("cerkl_nb.sandbox") and dep not in ALLOWED_OUTSIDE
    }
    assert outside == set()


def test_the_sandbox_modules_import_each_other_without_a_cycle():
    names = _graph_names()
    graph = {m: {d for d in deps if d in names} - {m} for m, deps in _graph().items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def _graph_names() -> set[str]:
    return {
        "cerkl_nb.sandbox" if p.stem == "__init__" else f"cerkl_nb.sandbox.{p.stem}"
        for p in PACKAGE.glob("*.py")
    }


def test_importing_and_running_the_sandbox_loads_neither_requests_nor_the_client():
    code = """
import json, sys, urllib.request
import cerkl_nb.sandbox as sandbox
after_import = sorted(sys.modules)
sb = sandbox.start()
req = urllib.request.Request(
    sb.token_url, data=b"grant_type=client_credentials",
    headers={"Content-Type": "application/x-www-form-urlencoded"},
)
import base64
req.add_header("Authorization", "Basic " + base64.b64encode(
    f"{sb.client_id}:{sb.client_secret}".encode()).decode())
with urllib.request.urlopen(req, timeout=10) as r:
    assert json.load(r)["token_type"] == "Bearer"
sb.stop()
print(json.dumps([after_import, sorted(sys.modules)]))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    for loaded in json.loads(out.stdout):
        foreign = [
            m
            for m in loaded
            if m == "requests"
            or m.startswith("requests.")
            or (
                m.startswith("cerkl_nb")
                and not m.startswith("cerkl_nb.sandbox")
                and m not in ALLOWED_OUTSIDE
            )
        ]
        assert foreign == []


def test_every_endpoint_of_cerkl_nb_api_has_a_handler():
    from cerkl_nb.sandbox.app import App
    from cerkl_nb.sandbox.routes import ROUTES
    from cerkl_nb.spec import ENDPOINTS

    assert [r.endpoint for r in ROUTES] == list(ENDPOINTS)
    for route in ROUTES:
        if route.endpoint.kind != "token":  # the token endpoint is served before routing
            assert callable(getattr(App, route.handler, None)), route.endpoint.key
