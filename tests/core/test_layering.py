"""The one rule: `import cerkl_nb` loads no UI, IPython, tqdm or pandas (in a subprocess)."""

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
