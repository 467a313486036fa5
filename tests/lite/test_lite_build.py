"""The build's own logic, on small wheels made here (fast; no network, no Node.js).

The whole build is exercised by ``test_lite_site.py``; these tests pin the rules it relies
on: what the site's Pyodide lock lists, what a wheel keeps, and which files are pruned.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import marshal
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"lite_{name}", REPO / "lite" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


build = _load("build")
compile_wheels = _load("compile_wheels")


def _wheel(folder: Path, name: str, version: str, files: dict[str, str], requires=()) -> Path:
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{dist}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as z:
        for n, text in files.items():
            z.writestr(n, text)
        z.writestr(f"{dist}.dist-info/METADATA", meta)
        z.writestr(f"{dist}.dist-info/RECORD", "")
    return path


def test_dependencies_are_read_for_the_browser(tmp_path):
    whl = _wheel(
        tmp_path,
        "demo",
        "1.0",
        {"demo/__init__.py": ""},
        requires=[
            "requests>=2",
            "pexpect; sys_platform != 'emscripten'",
            "tzdata; sys_platform == 'emscripten'",
            "pytest; extra == 'test'",
        ],
    )
    name, version, tops, deps = build.wheel_metadata(whl)
    assert (name, version, tops, deps) == ("demo", "1.0", ["demo"], ["requests", "tzdata"])


def test_the_lock_lists_exactly_the_shipped_wheels(tmp_path):
    pyodide = tmp_path / "pyodide"
    pyodide.mkdir()
    lock = {
        "info": {},
        "packages": {
            "six": {
                "name": "six",
                "version": "1",
                "file_name": "six-1-py3-none-any.whl",
                "sha256": "x",
                "depends": [],
                "imports": ["six"],
            },
            "pandas": {
                "name": "pandas",
                "version": "3",
                "file_name": "pandas.whl",
                "sha256": "y",
                "depends": ["numpy"],
                "imports": ["pandas"],
            },
        },
    }
    (pyodide / "pyodide-lock.json").write_text(json.dumps(lock))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    six = _wheel(wheels, "six", "1.17.0", {"six.py": ""})
    demo = _wheel(wheels, "demo", "2.0", {"demo/__init__.py": ""}, requires=["six"])
    out = tmp_path / "out"
    out.mkdir()
    assert build.write_lock(pyodide, [six, demo], out) == ["demo", "six"]
    written = json.loads((out / "pyodide-lock.json").read_text())["packages"]
    assert sorted(written) == ["demo", "six"]  # pandas is not shipped: gone
    assert written["six"]["sha256"] == hashlib.sha256(six.read_bytes()).hexdigest()
    assert written["six"]["version"] == "1.17.0"
    assert written["demo"]["depends"] == ["six"] and written["demo"]["imports"] == ["demo"]
    assert (out / six.name).exists() and (out / demo.name).exists()


def test_a_wheel_whose_dependency_is_not_shipped_stops_the_build(tmp_path):
    pyodide = tmp_path / "pyodide"
    pyodide.mkdir()
    (pyodide / "pyodide-lock.json").write_text(json.dumps({"info": {}, "packages": {}}))
    demo = _wheel(tmp_path, "demo", "2.0", {"demo/__init__.py": ""}, requires=["numpy"])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SystemExit, match="numpy"):
        build.write_lock(pyodide, [demo], out)


def _entries(whl: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(whl) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_traced_modules_are_compiled_and_the_rest_stays_source(tmp_path):
    src = _wheel(
        tmp_path,
        "demo",
        "1.0",
        {
            "demo/__init__.py": "X = 1\n",
            "demo/rare.py": "Y = 2\n",
            "demo/broken.py": "def (:\n",
            "demo-1.0.data/data/share/jupyter/labextensions/demo/index.js": "js",
            "demo/__pycache__/old.cpython-311.pyc": "stale",
        },
    )
    dst = tmp_path / "out.whl"
    traced = {"demo/__init__.py", "demo/broken.py"}
    compiled, kept = compile_wheels.rewrite(src, dst, False, traced)
    entries = _entries(dst)
    assert (compiled, kept) == (1, 2)  # broken.py does not compile: it stays source
    assert "demo/__init__.pyc" in entries and "demo/__init__.py" not in entries
    assert "demo/rare.py" in entries and "demo/broken.py" in entries
    assert not any("share/jupyter" in n or "__pycache__" in n for n in entries)
    pyc = entries["demo/__init__.pyc"]
    assert pyc[:4] == importlib.util.MAGIC_NUMBER
    namespace: dict = {}
    exec(marshal.loads(pyc[16:]), namespace)
    assert namespace["X"] == 1
    # RECORD names every file with its hash and size.
    record = dict(
        (line.split(",", 1)[0], line.split(",", 1)[1])
        for line in entries["demo-1.0.dist-info/RECORD"].decode().splitlines()
    )
    for name, data in entries.items():
        if not name.endswith("RECORD"):
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert record[name] == f"sha256={digest.decode()},{len(data)}"


def test_kept_sources_get_an_unchecked_hash_pyc_beside_them(tmp_path):
    src = _wheel(tmp_path, "cerkl_nb", "0.1", {"cerkl_nb/spec.py": "A = 3\n"})
    dst = tmp_path / "out.whl"
    compile_wheels.rewrite(src, dst, True, {"cerkl_nb/spec.py"})
    entries = _entries(dst)
    tag = sys.implementation.cache_tag
    pyc = entries[f"cerkl_nb/__pycache__/spec.{tag}.pyc"]
    assert entries["cerkl_nb/spec.py"] == b"A = 3\n"
    # PEP 552: hash-based (bit 0) and not checked against the source (bit 1 clear).
    assert int.from_bytes(pyc[4:8], "little") == 0b01
    assert pyc[8:16] == importlib.util.source_hash(b"A = 3\n")


def test_only_legacy_fonts_with_a_woff2_twin_are_pruned(tmp_path):
    fonts = tmp_path / "build"
    fonts.mkdir()
    for name in ("fa-solid-900.woff2", "fa-solid-900.svg", "fa-solid-900.eot", "other.svg"):
        (fonts / name).write_text("x" * 10)
    (fonts / "fa-lonely-400.ttf").write_text("x")
    assert build.prune_site(tmp_path) == 20
    assert sorted(p.name for p in fonts.iterdir()) == [
        "fa-lonely-400.ttf",
        "fa-solid-900.woff2",
        "other.svg",
    ]
