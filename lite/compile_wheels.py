"""Byte-compile pure-Python wheels for Pyodide's Python (run inside Pyodide by compile.mjs).

A ``.pyc`` is specific to one Python version, and the browser runs Pyodide's (3.14), not
the build machine's, so this runs in Pyodide itself, under Node.js.

Bytecode is larger than zipped source, so only what a tutorial session imports is
compiled: the wheels are unpacked, the ``--trace`` script runs (it imports what the
kernel and the tutorials import, and uses the in-process sandbox once), and every module
it loaded is compiled; the rest stays source. For each wheel:

* third-party packages: each traced ``.py`` becomes a ``.pyc`` in its place (the
  sourceless layout of Pyodide's own packages) and the ``.py`` is dropped;
* the packages named with ``--keep-sources`` (cerkl-nb itself): the ``.py`` stays, for
  tracebacks a learner can read, beside an unchecked-hash ``__pycache__`` entry (valid
  whatever the file times after unpacking);
* files a kernel never reads are left out (:data:`PRUNE`): Jupyter front-end files that
  widget packages carry for a server install, and type stubs for Django and third-party
  packages in jedi.

``RECORD`` is rewritten to match. Usage (paths as Pyodide sees them)::

    compile_wheels.py IN_DIR OUT_DIR --trace SCRIPT [--stdlib] [--keep-sources NAME ...]

With ``--stdlib``, the standard library's zip is written to ``OUT_DIR`` too, with the
modules the trace imported compiled (Pyodide ships it as source, so each kernel start
would compile them again).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

# Fixed zip entry times keep the output byte-identical from one build to the next.
_EPOCH = (2020, 1, 1, 0, 0, 0)

#: Where Pyodide installs wheels (this runs in Pyodide, so it is the browser's path).
SITE_PACKAGES = sysconfig.get_paths()["purelib"]

#: Path fragments of wheel entries the browser never needs.
PRUNE = (
    ".data/data/share/jupyter/",  # lab extensions: the site serves them itself
    "jedi/third_party/django-stubs/",
    "jedi/third_party/typeshed/third_party/",
)


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _compile(source: bytes, name: str, keep_source: bool) -> bytes | None:
    """The ``.pyc`` bytes for ``source``, or None when it does not compile (kept as is)."""
    try:
        code = compile(source, name, "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError):
        return None
    import marshal

    if keep_source:
        # PEP 552 unchecked-hash pyc: flags 0b01 (hash-based, check_source False).
        flags = 0b01
        header = importlib.util.MAGIC_NUMBER + flags.to_bytes(4, "little")
        header += importlib.util.source_hash(source)
    else:
        # Sourceless: timestamp and size are never checked against anything.
        header = importlib.util.MAGIC_NUMBER + bytes(12)
    return header + marshal.dumps(code)


def rewrite(src: Path, dst: Path, keep_source: bool, traced: set[str]) -> tuple[int, int]:
    """Write the pruned, partly compiled copy of wheel ``src`` to ``dst``.

    Returns (modules compiled, modules left as source). ``traced`` holds the wheel-relative
    paths of the modules to compile.
    """
    tag = sys.implementation.cache_tag
    out: dict[str, bytes] = {}
    record_name = None
    compiled = kept = 0
    with zipfile.ZipFile(src) as zin:
        for info in zin.infolist():
            if info.is_dir():
                continue
            name = info.filename
            if any(part in name for part in PRUNE):
                continue
            data = zin.read(info)
            if name.endswith(".dist-info/RECORD"):
                record_name = name
                continue
            if name in traced:
                # Named as installed, so tracebacks show where the module lives.
                pyc = _compile(data, f"{SITE_PACKAGES}/{name}", keep_source)
                if pyc is None:
                    out[name] = data
                    kept += 1
                    continue
                compiled += 1
                if keep_source:
                    out[name] = data
                    folder, _, stem = name.rpartition("/")
                    cached = f"{folder}/__pycache__/{stem[:-3]}.{tag}.pyc".lstrip("/")
                    out[cached] = pyc
                else:
                    out[name[:-3] + ".pyc"] = pyc
                continue
            if "/__pycache__/" in name or name.endswith(".pyc"):
                continue  # another Python's bytecode
            kept += name.endswith(".py")
            out[name] = data
    if record_name is None:
        raise SystemExit(f"{src.name}: no RECORD; not a wheel?")
    lines = [f"{n},{_record_hash(d)},{len(d)}" for n, d in out.items()]
    lines.append(f"{record_name},,")
    out[record_name] = ("\n".join(lines) + "\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        # dist-info last, as wheels have it.
        for n in sorted(out, key=lambda n: (".dist-info/" in n, n)):
            zi = zipfile.ZipInfo(n, date_time=_EPOCH)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, out[n])
    dst.write_bytes(buf.getvalue())
    return compiled, kept


def stdlib_zip() -> Path:
    """Where Pyodide's standard library sits (a zip on ``sys.path``, read by zipimport)."""
    return next(Path(p) for p in sys.path if p.endswith(".zip"))


def trace(wheels: list[Path], script: str) -> tuple[set[str], set[str]]:
    """Unpack ``wheels``, run ``script``, and return the source files it imported.

    Returns the wheel-relative paths of the modules from the wheels, and the zip-relative
    paths of the modules from the standard library.
    """
    site = Path(tempfile.mkdtemp(prefix="trace-site-"))
    for whl in wheels:
        with zipfile.ZipFile(whl) as z:
            z.extractall(site)
    sys.path.insert(0, str(site))
    exec(compile(script, "trace", "exec"), {"__name__": "__trace__"})  # noqa: S102 - our own script
    found, stdlib = set(), set()
    lib = str(stdlib_zip()) + "/"
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None) or ""
        if f.startswith(str(site) + "/") and f.endswith(".py"):
            found.add(f[len(str(site)) + 1 :])
        elif f.startswith(lib) and f.endswith(".py"):
            stdlib.add(f[len(lib) :])
    return found, stdlib


def rewrite_stdlib(dst: Path, traced: set[str]) -> int:
    """Pyodide's standard library zip with the traced modules as sourceless ``.pyc``.

    Pyodide ships the standard library as source, so every kernel start compiles each
    module it imports (seconds, on a small machine); compiled once here, they load at once.
    Returns how many modules were compiled.
    """
    out: dict[str, bytes] = {}
    compiled = 0
    with zipfile.ZipFile(stdlib_zip()) as zin:
        for info in zin.infolist():
            if info.is_dir():
                continue
            data = zin.read(info)
            where = f"{stdlib_zip()}/{info.filename}"
            pyc = _compile(data, where, False) if info.filename in traced else None
            if pyc is None:
                out[info.filename] = data
            else:
                out[info.filename[:-3] + ".pyc"] = pyc
                compiled += 1
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for name, data in out.items():
            zi = zipfile.ZipInfo(name, date_time=_EPOCH)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, data)
    dst.write_bytes(buf.getvalue())
    return compiled


def main(argv: list[str]) -> None:
    in_dir, out_dir = Path(argv[0]), Path(argv[1])
    options: dict[str, list[str]] = {}
    key = None
    for arg in argv[2:]:
        if arg.startswith("--"):
            key = arg[2:]
            options.setdefault(key, [])
        elif key is not None:
            options[key].append(arg)
    keep = {n.lower().replace("-", "_") for n in options.get("keep-sources", [])}
    wheels = sorted(in_dir.glob("*.whl"))
    script = Path(options["trace"][0]).read_text()
    traced, stdlib = trace(wheels, script)
    print(
        f"  the trace imported {len(traced)} modules from the wheels, {len(stdlib)} from the stdlib"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    if "stdlib" in options:
        n = rewrite_stdlib(out_dir / "python_stdlib.zip", stdlib)
        print(f"  python_stdlib.zip: {n} modules compiled")
    for whl in wheels:
        dist = whl.name.split("-", 1)[0].lower()
        compiled, kept = rewrite(whl, out_dir / whl.name, dist in keep, traced)
        print(f"  {whl.name}: {compiled} modules compiled, {kept} left as source")


if __name__ == "__main__":
    main(sys.argv[1:])
