"""The tutorials a user gets with the package: what ships, and a folder of their own.

The wheel carries the project's tutorial tree (:data:`TUTORIAL_FILES`) in
``cerkl_nb/_tutorials/``, laid out as in a clone (``notebooks/``, the ``docs/`` they link to,
``.env.example``), so every link in a notebook works in the copy too. :func:`copy_tutorials`
puts that tree into a folder of the user's own and records what it wrote in a manifest
(:data:`MANIFEST`, the SHA-256 of each file), which is how a later update tells a notebook
the user edited (kept as it is, the new version written beside it) from one they did not
(brought up to date).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__

__all__ = [
    "DEFAULT_FOLDER",
    "FIRST_NOTEBOOK",
    "MANIFEST",
    "TUTORIAL_FILES",
    "CopyReport",
    "copy_tutorials",
    "default_folder",
    "tutorial_files",
    "tutorials_source",
]

#: The tutorial JupyterLab opens first.
FIRST_NOTEBOOK = "00-start-here.ipynb"
#: What ships, as glob patterns relative to the project folder: the notebooks, the files they
#: link to (and those link to), and the template notebook 0 tells the user to copy. setup.py
#: reads this list (it must stay a literal); a test checks that every link stays inside it.
TUTORIAL_FILES = [
    ".env.example",
    "notebooks/[0-9][0-9]-*.ipynb",
    "notebooks/postman/*.json",
    "docs/cerkl-api.md",
    "docs/postman.md",
    "docs/sandbox.md",
    "docs/security.md",
    "docs/workshop_config.py",
    "docs/workshops.md",
]
#: Where ``cerkl-nb lab`` and ``cerkl-nb tutorials`` put the copy by default.
DEFAULT_FOLDER = "cerkl-nb-tutorials"
#: The manifest in a copy: the version and the SHA-256 of every file it last brought.
MANIFEST = ".cerkl-nb-tutorials.json"

_PACKAGE = Path(__file__).resolve().parents[1]


def tutorials_source() -> Path | None:
    """The tree to copy from: the wheel's ``cerkl_nb/_tutorials``, or the source checkout
    this package runs from; ``None`` when neither holds the tutorials."""
    for root in (_PACKAGE / "_tutorials", _PACKAGE.parent):
        if (root / "notebooks" / FIRST_NOTEBOOK).is_file():
            return root
    return None


def tutorial_files(root: Path) -> list[str]:
    """The shipped files under ``root``, as sorted relative POSIX paths."""
    found = {p.relative_to(root).as_posix() for pat in TUTORIAL_FILES for p in root.glob(pat)}
    return sorted(found)


def default_folder(cwd: Path | None = None) -> Path:
    """The user's copy: the current folder when it is one, else ``./cerkl-nb-tutorials``."""
    here = (cwd or Path.cwd()).resolve()
    return here if (here / MANIFEST).is_file() else here / DEFAULT_FOLDER


@dataclass
class CopyReport:
    """What :func:`copy_tutorials` did in ``folder``, file by file (relative paths)."""

    folder: Path
    version: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    #: Files the user edited, each with the name its new version was written under.
    beside: dict[str, str] = field(default_factory=dict)
    #: Files that differ from the package's and were left as they are.
    kept: list[str] = field(default_factory=list)
    #: Files whose version in the package is newer than the one last brought here.
    newer: list[str] = field(default_factory=list)

    @property
    def notebooks(self) -> Path:
        return self.folder / "notebooks"

    def summary(self) -> str:
        """A few lines for the terminal: what changed, and what to do about newer files."""
        lines = []
        if self.added:
            lines.append(f"copied {_files(self.added)} into {self.folder}")
        lines += [f"updated {name}" for name in self.updated]
        lines += [
            f"kept your edited {name}; its new version is beside it: {new}"
            for name, new in self.beside.items()
        ]
        if self.kept and not self.newer:
            lines.append(f"kept {_files(self.kept)} that differ from the package's")
        if self.newer:
            lines.append(
                f"{_files(self.newer)} with a newer version in cerkl-nb {self.version}: "
                f"`cerkl-nb tutorials --update {self.folder}` brings them (your edits stay)"
            )
        return "\n".join(lines) or f"{self.folder} has the tutorials of cerkl-nb {self.version}"


def _files(names: list[str]) -> str:
    return f"{len(names)} file" + ("s" if len(names) != 1 else "")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _beside_name(rel: str, version: str) -> str:
    path = Path(rel)
    return path.with_name(f"{path.stem}.v{version}{path.suffix}").as_posix()


def copy_tutorials(folder: Path, *, update: bool = False, source: Path | None = None) -> CopyReport:
    """Copy the tutorials into ``folder`` (made if missing); never overwrite an edited file.

    Parameters
    ----------
    folder
        The user's copy. The first time, every shipped file it lacks is copied in; later
        (it has a :data:`MANIFEST`) nothing changes unless ``update`` is given, and the
        report lists the files the package has a newer version of.
    update
        Bring the package's version of every file: missing ones are copied, ones the user
        did not edit are replaced, and for an edited one the new version is written beside
        it (``01-client-credentials.v0.2.0.ipynb``), the user's file left as it is.
    source
        The tree to copy from (default: :func:`tutorials_source`).

    Raises
    ------
    FileNotFoundError
        When this installation has no tutorials to copy.
    NotADirectoryError
        When ``folder`` exists and is not a folder.
    """
    root = source or tutorials_source()
    if root is None:
        raise FileNotFoundError(
            "this installation of cerkl-nb has no tutorials; reinstall it from a wheel "
            '(pip install "cerkl-nb[lab]") or run it from a clone of the repository'
        )
    folder = Path(folder).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder; name another one with --into DIR")
    manifest = folder / MANIFEST
    try:
        recorded: dict[str, str] = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        recorded = {}
    first_time = not manifest.is_file()
    report = CopyReport(folder, __version__)
    for rel in tutorial_files(root):
        data = (root / rel).read_bytes()
        new, dest = _sha256(data), folder / rel
        mine = _sha256(dest.read_bytes()) if dest.is_file() else None
        if mine == new:
            recorded[rel] = new
        elif recorded.get(rel) == new and (mine is not None or not update):
            continue  # nothing new here: the user edited (or deleted) this version of it
        elif not (first_time or update):
            report.newer.append(rel)
        elif mine is None or (update and recorded.get(rel) == mine):
            # Missing, or as this package last brought it: the user has nothing to lose.
            _write(dest, data)
            (report.added if mine is None else report.updated).append(rel)
            recorded[rel] = new
        elif not update:
            report.kept.append(rel)  # there before the first copy: the user's own file
        else:  # edited: the new version goes beside it, unless it is there already
            other = _beside_name(rel, __version__)
            there = folder / other
            if not there.exists():
                _write(there, data)
                report.beside[rel] = other
            elif _sha256(there.read_bytes()) != new:
                report.kept.append(rel)
                continue
            recorded[rel] = new
    if first_time or update:
        text = json.dumps({"version": __version__, "files": recorded}, indent=1, sort_keys=True)
        _write(manifest, text.encode("utf-8") + b"\n")
    return report
