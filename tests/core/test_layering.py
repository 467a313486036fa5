"""What importing costs: `import cerkl_nb` loads no UI, IPython, tqdm or pandas, the sandbox
loads no requests, and no import changes logging or http.client (each in a subprocess)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

FORBIDDEN = ("ipywidgets", "anywidget", "traitlets", "IPython", "tqdm", "pandas", "dotenv")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_import_cerkl_nb_loads_no_ui_or_heavy_modules() -> None:
    mods = _modules_after("import cerkl_nb")
    loaded = sorted(m for m in mods if m.split(".")[0] in FORBIDDEN)
    assert not loaded, f"import cerkl_nb loaded {loaded}"
    assert not any(
        m.startswith("cerkl_nb.widgets") or m.startswith("cerkl_nb.sandbox") for m in mods
    )


def test_core_objects_work_without_the_ui() -> None:
    code = (
        "import cerkl_nb\n"
        "c = cerkl_nb.Credentials('id', 'secret-123')\n"
        "s = cerkl_nb.Settings(base_url='http://127.0.0.1:1/v3')\n"
        "tm = cerkl_nb.TokenManager(c, s)\n"
        "cl = cerkl_nb.CerklClient(tm)\n"
        "cerkl_nb.filters_json(email__contains='@x')\n"
        "repr(cl); cl.close()"
    )
    mods = _modules_after(code)
    assert not [m for m in mods if m.split(".")[0] in FORBIDDEN]


def test_public_names_and_lazy_dashboard() -> None:
    import cerkl_nb

    for name in cerkl_nb.__all__:
        if name != "dashboard":
            assert hasattr(cerkl_nb, name), name
    assert "dashboard" in cerkl_nb.__all__ and "dashboard" in dir(cerkl_nb)


_GLOBAL_STATE = (
    "import http.client, json, logging\n"
    "state = {n: [type(f).__name__ for f in logging.getLogger(n).filters]\n"
    "         for n in ['', 'urllib3', 'urllib3.connectionpool', 'requests']}\n"
    "state['http.client.print'] = 'print' in vars(http.client)\n"
    "print(json.dumps(state))\n"
)


def _global_state_after(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\n{_GLOBAL_STATE}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_importing_and_using_the_core_leaves_logging_and_http_client_untouched() -> None:
    untouched = _global_state_after("")
    assert untouched["http.client.print"] is False
    for code in (
        "import cerkl_nb",
        "import cerkl_nb, cerkl_nb.client, cerkl_nb.auth, cerkl_nb.paging, cerkl_nb.sandbox",
        "import cerkl_nb\n"
        "c = cerkl_nb.CerklClient(cerkl_nb.TokenManager(cerkl_nb.Credentials('i', 'secret-1'),"
        " cerkl_nb.Settings(base_url='http://127.0.0.1:1/v3')))\nrepr(c)",
    ):
        assert _global_state_after(code) == untouched, code


def test_log_redaction_of_other_libraries_is_an_explicit_call() -> None:
    state = _global_state_after("import cerkl_nb\ncerkl_nb.install_log_redaction()")
    assert state["http.client.print"] is True
    assert state["urllib3"] == state["requests"] == ["RedactingFilter"]
    assert state[""] == []  # the root logger stays the application's


def test_the_sandbox_and_the_api_facts_load_without_requests() -> None:
    for code in ("import cerkl_nb.sandbox", "import cerkl_nb.spec", "import cerkl_nb"):
        mods = _modules_after(code)
        assert "requests" not in mods and "urllib3" not in mods, code


# -- the walk of one API call --------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
# Leaves: modules that call nothing above them (facts, errors, clocks, redaction, the token,
# the settings). A walk is told by the other modules it passes through.
LEAVES = {f"cerkl_nb.{m}" for m in ("spec", "errors", "clock", "redact", "token", "config")}


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports when it is imported (not under
    TYPE_CHECKING, not inside functions)."""
    graph: dict[str, set[str]] = {}
    for path in (ROOT / "cerkl_nb").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name if parts[-1] == "__init__" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = (
                    (f"{base}.{node.module}" if node.module else base)
                    if node.level
                    else (node.module or "")
                )
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        graph[name] = found
    # A module's own packages are imported before it by Python itself: not an edge.
    return {
        m: {t for t in deps if t in graph and t != m and not m.startswith(t + ".")}
        for m, deps in graph.items()
    }


def _above(graph: dict[str, set[str]], module: str) -> set[str]:
    """The modules that import ``module``, directly or through others."""
    out: set[str] = set()
    todo = [m for m, deps in graph.items() if module in deps]
    while todo:
        m = todo.pop()
        if m not in out:
            out.add(m)
            todo += [n for n, deps in graph.items() if m in deps]
    return out


def _walk(call: Callable[[], object]) -> list[tuple[str | None, str]]:
    """(caller, callee) for every call that enters a module other than the caller's,
    leaves and code outside the package (requests, the sandbox) seen through."""

    def module(frame: FrameType | None) -> str | None:
        name = frame.f_globals.get("__name__", "") if frame is not None else ""
        inside = name.startswith("cerkl_nb.") and not name.startswith("cerkl_nb.sandbox")
        return name if inside and name not in LEAVES else None

    entries: list[tuple[str | None, str]] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        callee = module(frame) if event == "call" else None
        if callee is None:
            return
        caller = frame.f_back
        while caller is not None and module(caller) is None:
            caller = caller.f_back
        if module(caller) != callee:
            entries.append((module(caller), callee))

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return entries


def test_import_time_imports_have_no_cycle() -> None:
    graph = _import_graph()
    cycles = sorted(m for m in graph if m in _above(graph, m))
    assert not cycles, cycles


def test_one_api_call_walks_through_four_modules_and_climbs_back_up_once(
    sandbox, make_client
) -> None:
    client = make_client(sandbox)
    client.request("GET", "subscriber")  # a token held, every module imported
    entries = _walk(lambda: client.request("GET", "subscriber"))
    modules = {callee for _, callee in entries}
    assert modules == {
        "cerkl_nb.client",
        "cerkl_nb.session",
        "cerkl_nb.auth",
        "cerkl_nb.postman.history",
    }, entries
    graph = _import_graph()
    # A climb back up: a call into a module that imports the caller (a call-back).
    climbs = [(a, b) for a, b in entries if a is not None and b in _above(graph, a)]
    assert climbs == [("cerkl_nb.session", "cerkl_nb.auth")], entries
