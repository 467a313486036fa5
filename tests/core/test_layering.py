"""What importing costs: `import cerkl_nb` loads no UI, IPython, tqdm or pandas, the sandbox
loads no requests, and no import changes logging or http.client (each in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

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
