"""Build the in-browser tutorials: a JupyterLite site with the Pyodide kernel, in ``_site/``.

Everything comes from package registries, pinned in this folder:

* ``build-requirements.txt``: jupyterlite-core and jupyterlite-pyodide-kernel (the tools);
* ``package.json`` / ``package-lock.json``: npm's ``pyodide``, at the version the kernel
  expects (checked: a mismatch stops the build);
* ``requirements.txt``: the pure-Python wheels the browser needs, from PyPI;
* cerkl-nb itself, built from this checkout.

The wheels are byte-compiled for Pyodide's Python (``compile.mjs`` runs Pyodide under
Node.js), listed in the site's ``pyodide-lock.json`` and preloaded when the kernel
starts, so ``import cerkl_nb`` needs no install step and no network. Packages of Pyodide's
own distribution that the site does not ship (pandas, matplotlib ...) are left out of its
lock, so importing one fails at once instead of reaching for a download.

Every build starts from nothing (a fresh staging folder and output): a stale build
database of JupyterLite silently drops ``pyodideUrl``. Downloads are cached (pip's and
npm's caches, and the wheel folder under ``--cache``), so a second build needs no network.

Usage::

    pip install -r lite/build-requirements.txt
    python lite/build.py              # -> _site/
    python -m http.server -d _site -b 127.0.0.1 8000
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LITE = ROOT / "lite"
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
KERNEL_EXTENSION = "share/jupyter/labextensions/@jupyterlite/pyodide-kernel-extension"
# What the kernel's worker installs at start unless preloaded (its initKernel step).
KERNEL_PACKAGES = ("micropip", "piplite", "ipykernel", "comm", "pyodide-kernel", "jedi", "ipython")
# Files of the npm package the site does not need (the classic script, typings, demos).
PYODIDE_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip")
NOTEBOOK_EXTRAS = ("postman",)


def log(msg: str) -> None:
    print(msg, flush=True)


def run(cmd: list[str], **kwargs: object) -> None:
    log("  $ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)  # type: ignore[arg-type]


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> list[str]:
    """The requirement lines of a requirements file (comments and blanks dropped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


# -- inputs -----------------------------------------------------------------------------------


def check_build_tools() -> str:
    """The pinned tools are the ones installed; returns the Pyodide version they expect."""
    from importlib.metadata import PackageNotFoundError, version

    for line in pins(LITE / "build-requirements.txt"):
        name, pinned, wanted = line.partition("==")
        if not pinned:
            continue  # a floor, not a pin (a library the build imports)
        try:
            have = version(name)
        except PackageNotFoundError:
            have = None
        if have != wanted:
            raise SystemExit(
                f"{name} {have or 'is not installed'}; the build needs {wanted}: "
                "pip install -r lite/build-requirements.txt"
            )
    from jupyterlite_pyodide_kernel.constants import PYODIDE_VERSION

    return PYODIDE_VERSION


def npm_pyodide(expected: str, cache: Path) -> Path:
    """``npm ci`` in lite/ and the Pyodide distribution folder, at the kernel's version."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed for the Pyodide distribution (install Node.js)")
    run(
        [
            npm,
            "ci",
            "--prefix",
            LITE,
            "--prefer-offline",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--cache",
            cache / "npm",
        ],
        stdout=subprocess.DEVNULL,
    )
    dist = LITE / "node_modules" / "pyodide"
    got = json.loads((dist / "package.json").read_text())["version"]
    if got != expected:
        raise SystemExit(
            f"npm's pyodide is {got}, but jupyterlite-pyodide-kernel expects {expected}: "
            "pin that version in lite/package.json (npm install --package-lock-only)"
        )
    return dist


def download_wheels(dest: Path) -> list[Path]:
    """The pinned PyPI wheels (pure Python, for Pyodide's Python), cached in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.14",
            "--implementation",
            "py",
            "--abi",
            "none",
            "--platform",
            "any",
            "-r",
            LITE / "requirements.txt",
            "-d",
            dest,
        ]
    )
    wanted = {}
    for line in pins(LITE / "requirements.txt"):
        name, _, ver = line.partition("==")
        wanted[normalize(name)] = ver
    chosen = []
    for whl in sorted(dest.glob("*.whl")):
        name, ver = whl.name.split("-")[:2]
        if wanted.get(normalize(name)) == ver:
            chosen.append(whl)
    missing = set(wanted) - {normalize(w.name.split("-")[0]) for w in chosen}
    if missing:
        raise SystemExit(f"pip did not download: {sorted(missing)}")
    return chosen


def kernel_wheels(dest: Path) -> tuple[Path, list[Path]]:
    """The pinned kernel's wheel (for its lab extension) and the wheels it serves itself
    (piplite, pyodide-kernel, and its stand-ins for ipykernel and widgetsnbextension)."""
    spec = next(
        p for p in pins(LITE / "build-requirements.txt") if p.startswith("jupyterlite-pyodide")
    )
    dest.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", spec, "-d", dest])
    version = spec.split("==")[1]
    kernel = dest / f"jupyterlite_pyodide_kernel-{version}-py3-none-any.whl"
    inner = dest / "kernel-pypi"
    shutil.rmtree(inner, ignore_errors=True)
    inner.mkdir()
    wheels = []
    with zipfile.ZipFile(kernel) as z:
        for name in z.namelist():
            if f"{KERNEL_EXTENSION}/static/pypi/" in name and name.endswith(".whl"):
                target = inner / Path(name).name
                target.write_bytes(z.read(name))
                wheels.append(target)
    # The kernel ships two widgetsnbextension stand-ins; ipywidgets 8 wants the 4.x one.
    wheels = [w for w in wheels if not w.name.startswith("widgetsnbextension-3.")]
    return kernel, wheels


def project_wheel(dest: Path) -> Path:
    """cerkl-nb's own wheel, built from this checkout."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # Built from a copy, so the checkout gets no build/ or egg-info from this.
        src = Path(tmp) / "src"
        shutil.copytree(
            ROOT,
            src,
            ignore=shutil.ignore_patterns(
                ".git",
                "_site",
                "node_modules",
                "test-artifacts",
                "build",
                "*.egg-info",
                "__pycache__",
                ".venv",
                "venv",
            ),
        )
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                src,
                "-w",
                dest,
            ],
            stdout=subprocess.DEVNULL,
        )
    (whl,) = dest.glob("cerkl_nb-*.whl")
    return whl


# -- the Pyodide side -------------------------------------------------------------------------


def compile_wheels(pyodide_dir: Path, wheels: list[Path], out: Path) -> list[Path]:
    """Byte-compile what ``trace.py`` imports from ``wheels``, for Pyodide's Python
    (see compile_wheels.py)."""
    node = shutil.which("node")
    if node is None:
        raise SystemExit("Node.js is needed to byte-compile the wheels with Pyodide")
    with tempfile.TemporaryDirectory() as tmp:
        for w in wheels:
            shutil.copy2(w, Path(tmp) / w.name)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(LITE / "trace.py", Path(tmp) / "trace.py")
        run(
            [
                node,
                LITE / "compile.mjs",
                pyodide_dir,
                tmp,
                out,
                "--trace",
                "/in/trace.py",
                "--stdlib",
                "--keep-sources",
                "cerkl_nb",
            ]
        )
    return sorted(out / w.name for w in wheels)


def wheel_metadata(whl: Path) -> tuple[str, str, list[str], list[str]]:
    """Name, version, top-level import names and dependencies (for the browser) of a wheel."""
    from packaging.markers import Marker
    from packaging.requirements import Requirement

    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(meta_name).decode("utf-8"))
    tops = sorted(
        {
            n.split("/", 1)[0].removesuffix(".pyc").removesuffix(".py")
            for n in names
            if not n.split("/", 1)[0].endswith((".dist-info", ".data"))
            and (n.endswith((".py", ".pyc")) or "/" in n)
        }
    )
    env = {
        "sys_platform": "emscripten",
        "platform_system": "Emscripten",
        "os_name": "posix",
        "platform_machine": "wasm32",
        "python_version": "3.14",
        "python_full_version": "3.14.2",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }
    deps = []
    for line in meta.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if req.marker is None or Marker(str(req.marker)).evaluate(env):
            deps.append(normalize(req.name))
    return meta["Name"], meta["Version"], tops, deps


def write_lock(pyodide_dir: Path, wheels: list[Path], out_dir: Path) -> list[str]:
    """Copy the wheels and a pyodide-lock.json naming them to ``out_dir``.

    Shipped packages get their file and hash (existing entries keep Pyodide's dependency
    list; new ones get theirs from the wheel); the others are dropped. Returns the names of
    the shipped packages.
    """
    lock = json.loads((pyodide_dir / "pyodide-lock.json").read_text())
    packages = lock["packages"]
    by_norm = {normalize(k): k for k in packages}
    shipped: dict[str, str] = {}
    for whl in wheels:
        name, version, tops, deps = wheel_metadata(whl)
        key = by_norm.get(normalize(name), normalize(name))
        entry = packages.get(key)
        if entry is None:
            entry = {
                "name": name,
                "install_dir": "site",
                "package_type": "package",
                "imports": [t for t in tops if t.isidentifier()],
                "depends": deps,
                "unvendored_tests": False,
            }
            packages[key] = entry
        data = whl.read_bytes()
        entry.update(
            file_name=whl.name,
            version=version,
            sha256=hashlib.sha256(data).hexdigest(),
            unvendored_tests=False,
        )
        shutil.copy2(whl, out_dir / whl.name)
        shipped[normalize(key)] = key
    # Only what the site ships: an import of anything else fails at once, offline,
    # instead of reaching for a download (the kernel loads packages named in the lock
    # when a cell imports them).
    for key in [k for k in packages if normalize(k) not in shipped]:
        del packages[key]
    # Every dependency of a shipped package must be shipped too, or the kernel would
    # reach for the network (and fail offline) when it loads.
    missing = {
        (key, dep)
        for key in shipped.values()
        for dep in packages[key]["depends"]
        if normalize(dep) not in shipped
    }
    if missing:
        raise SystemExit(
            f"dependencies not shipped (add them to lite/requirements.txt): {sorted(missing)}"
        )
    (out_dir / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True))
    return sorted(shipped.values())


# -- the site ---------------------------------------------------------------------------------


def stage(staging: Path, pyodide_dir: Path, wheels: list[Path]) -> list[str]:
    """The JupyterLite project folder: notebooks, Pyodide with the wheels, configuration."""
    static = staging / "static" / "pyodide"
    static.mkdir(parents=True)
    for name in PYODIDE_FILES:
        compiled = wheels[0].parent / name  # the byte-compiled standard library
        shutil.copy2(compiled if compiled.exists() else pyodide_dir / name, static / name)
    shipped = write_lock(pyodide_dir, wheels, static)
    files = staging / "files"
    files.mkdir()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy2(nb, files / nb.name)
    for extra in NOTEBOOK_EXTRAS:
        if (ROOT / "notebooks" / extra).is_dir():
            shutil.copytree(ROOT / "notebooks" / extra, files / extra)
    (staging / "jupyter-lite.json").write_text(
        json.dumps(
            {
                "jupyter-lite-schema-version": 0,
                "jupyter-config-data": {
                    "appName": "cerkl-nb tutorials",
                    "litePluginSettings": {
                        KERNEL_PLUGIN: {
                            # Everything loads with Pyodide, in parallel, from this site.
                            "loadPyodideOptions": {"packages": shipped},
                        }
                    },
                },
            },
            indent=2,
        )
    )
    # No "news" question on a fresh profile (it would also reach for the network).
    (staging / "overrides.json").write_text(
        json.dumps({"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}})
    )
    return shipped


def prune_site(site: Path) -> int:
    """Drop the Font Awesome files in legacy formats (EOT, SVG, TTF, WOFF) that have a
    WOFF2 twin: every browser that runs Pyodide uses the WOFF2. Returns bytes removed."""
    removed = 0
    for woff2 in site.glob("build/fa-*.woff2"):
        for ext in (".eot", ".svg", ".ttf", ".woff"):
            legacy = woff2.with_suffix(ext)
            if legacy.exists():
                removed += legacy.stat().st_size
                legacy.unlink()
    return removed


def site_size(site: Path) -> tuple[int, int, int]:
    """Files, raw bytes, and bytes gzipped file by file (as a static host serves them)."""
    files = raw = gz = 0
    for p in site.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            files += 1
            raw += len(data)
            gz += len(gzip.compress(data, compresslevel=6, mtime=0))
    return files, raw, gz


def build(output: Path, cache: Path) -> dict:
    t0 = time.perf_counter()
    expected = check_build_tools()
    log(f"== Pyodide {expected} from npm")
    pyodide_dir = npm_pyodide(expected, cache)
    log("== wheels from PyPI (pinned in lite/requirements.txt)")
    wheels = download_wheels(cache / "wheels")
    kernel, served = kernel_wheels(cache / "kernel")
    log("== cerkl-nb's own wheel")
    with tempfile.TemporaryDirectory() as tmp:
        own = project_wheel(Path(tmp) / "own")
        log("== byte-compiling for Pyodide's Python")
        compiled = compile_wheels(pyodide_dir, [*wheels, *served, own], Path(tmp) / "compiled")
        staging = Path(tmp) / "lite"
        staging.mkdir()
        log("== staging")
        shipped = stage(staging, pyodide_dir, compiled)
        widget_ext = [
            w
            for w in wheels
            if normalize(w.name.split("-")[0]) in ("jupyterlab-widgets", "anywidget")
        ]
        if output.exists():
            shutil.rmtree(output)
        log("== jupyter lite build")
        (staging / "jupyter_lite_config.json").write_text(
            json.dumps(
                {
                    "LiteBuildConfig": {
                        "apps": ["lab"],
                        "contents": ["files"],
                        # Only the extensions named here: nothing from this machine's Jupyter.
                        "ignore_sys_prefix": True,
                        "federated_extensions": [str(kernel), *map(str, widget_ext)],
                        "no_sourcemaps": True,
                        "no_unused_shared_packages": True,
                    }
                },
                indent=2,
            )
        )
        cmd = [
            sys.executable,
            "-m",
            "jupyterlite_core",
            "build",
            "--lite-dir",
            staging,
            "--output-dir",
            output,
        ]
        run(cmd, cwd=staging, env={**os.environ, "JUPYTERLITE_NO_LIBARCHIVE": "1"})
    config = json.loads((output / "jupyter-lite.json").read_text())
    settings = config["jupyter-config-data"]["litePluginSettings"][KERNEL_PLUGIN]
    if not settings.get("pyodideUrl"):
        raise SystemExit("the build lost pyodideUrl: the kernel would load Pyodide from a CDN")
    prune_site(output)
    files, raw, gz = site_size(output)
    info = {
        "pyodide": expected,
        "packages": shipped,
        "files": files,
        "bytes": raw,
        "gzip_bytes": gz,
        "build_s": round(time.perf_counter() - t0, 1),
    }
    log(
        f"== {output}: {files} files, {raw / 1e6:.1f} MB raw, {gz / 1e6:.1f} MB gzipped, "
        f"built in {info['build_s']} s"
    )
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "_site", help="default: _site/")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("CERKL_LITE_CACHE", Path.home() / ".cache" / "cerkl-nb-lite")),
        help="downloaded wheels and npm's cache (default: ~/.cache/cerkl-nb-lite)",
    )
    parser.add_argument("--json", action="store_true", help="print the build summary as JSON")
    args = parser.parse_args(argv)
    info = build(args.output.resolve(), args.cache.resolve())
    if args.json:
        print(json.dumps(info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
