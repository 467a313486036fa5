"""What a package index would receive: the wheel and the sdist, file by file.

The wheel must carry the tutorial tree exactly as the checkout has it (without outputs),
the LICENSE, the package data and the entry points, and nothing from a working copy; the
sdist must hold what building that same wheel needs, and build it.
"""

from __future__ import annotations

import ast
import email
import hashlib
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from cerkl_nb.launch.tutorials import FIRST_NOTEBOOK, tutorial_files

from .building import ROOT, Dist, source_copy

pytestmark = pytest.mark.slow

SHIPPED = tutorial_files(ROOT)
PACKAGE_DATA = [
    "cerkl_nb/py.typed",
    "cerkl_nb/launch/jupyter/labconfig/page_config.json",
    "cerkl_nb/widgets/static/token_panel.js",
]


def _source_version() -> str:
    """``__version__`` as written in the package's source (the one place it is written)."""
    tree = ast.parse((ROOT / "cerkl_nb" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__version__":
            return ast.literal_eval(node.value)
    raise AssertionError("cerkl_nb/__init__.py has no __version__")


def _wheel_files(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        return {name: zf.read(name) for name in zf.namelist() if not name.endswith("/")}


def _metadata(files: dict[str, bytes]) -> email.message.Message:
    name = next(n for n in files if n.endswith(".dist-info/METADATA"))
    return email.message_from_bytes(files[name])


def test_the_wheel_carries_the_tutorials_exactly_as_the_checkout_has_them(dist: Dist) -> None:
    files = _wheel_files(dist.wheel)
    shipped = sorted(n.removeprefix("cerkl_nb/_tutorials/") for n in files if "/_tutorials/" in n)
    assert shipped == SHIPPED
    for rel in SHIPPED:
        assert files[f"cerkl_nb/_tutorials/{rel}"] == (ROOT / rel).read_bytes(), rel
        if rel.endswith(".ipynb"):
            nb = json.loads(files[f"cerkl_nb/_tutorials/{rel}"])
            code = [c for c in nb["cells"] if c["cell_type"] == "code"]
            assert all(not c["outputs"] and c["execution_count"] is None for c in code), rel
            assert "widgets" not in nb["metadata"], rel
    assert f"cerkl_nb/_tutorials/notebooks/{FIRST_NOTEBOOK}" in files


def test_the_wheel_holds_the_license_the_package_data_and_nothing_from_a_working_copy(
    dist: Dist,
) -> None:
    files = _wheel_files(dist.wheel)
    licenses = [n for n in files if ".dist-info/licenses/" in n]
    assert [Path(n).name for n in licenses] == ["LICENSE"]
    assert files[licenses[0]] == (ROOT / "LICENSE").read_bytes()
    assert set(PACKAGE_DATA) <= set(files)
    unwanted = [
        n
        for n in files
        if Path(n).name == ".env"
        or (Path(n).name.startswith(".env.") and Path(n).name != ".env.example")
        or any(part in ("__pycache__", ".ipynb_checkpoints", "tests") for part in Path(n).parts)
        or not n.startswith(("cerkl_nb/", "cerkl_nb-"))
    ]
    assert not unwanted
    entry_points = next(v for n, v in files.items() if n.endswith("entry_points.txt")).decode()
    assert "cerkl-nb = cerkl_nb.launch.cli:main" in entry_points
    assert "cerkl-sandbox = cerkl_nb.launch.serverproxy:setup_cerkl_sandbox" in entry_points


def test_the_metadata_has_one_version_the_license_and_links_that_open_from_an_index(
    dist: Dist,
) -> None:
    meta = _metadata(_wheel_files(dist.wheel))
    version = _source_version()
    assert meta["Version"] == version and dist.wheel.name == f"cerkl_nb-{version}-py3-none-any.whl"
    assert dist.sdist.name == f"cerkl_nb-{version}.tar.gz"
    assert meta["License-Expression"] == "MIT"
    assert "Framework :: Jupyter :: JupyterLab" in meta.get_all("Classifier")
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert all(u.startswith(urls["Repository"]) for u in urls.values()), urls
    # On a package index's page a relative link has nowhere to go: all are absolute.
    description = meta.get_payload()
    assert "](docs/" not in description and 'src="docs/' not in description
    assert f"]({urls['Repository']}/blob/main/docs/lite.md)" in description


def test_the_sdist_holds_what_the_wheel_is_built_from(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as tf:
        names = {m.name.split("/", 1)[1] for m in tf.getmembers() if m.isfile()}
    needed = {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", "setup.py", *SHIPPED}
    assert needed <= names, needed - names
    assert not [n for n in names if Path(n).name == ".env" or n.startswith("tests/")]


def _digests(wheel: Path) -> dict[str, str]:
    return {n: hashlib.sha256(data).hexdigest() for n, data in _wheel_files(wheel).items()}


def test_the_sdist_builds_the_same_wheel_as_the_checkout(dist: Dist, tmp_path: Path) -> None:
    """``python -m build`` makes the wheel from the sdist; one made straight from the
    checkout's files must be the same, file for file."""
    src = source_copy(tmp_path / "source")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
        check=True,
        capture_output=True,
    )
    direct = tmp_path / dist.wheel.name
    assert _digests(direct) == _digests(dist.wheel)
