"""Build steps pyproject.toml cannot express; every other setting lives there.

1. The wheel carries the tutorials: ``build_py`` copies the files that
   ``cerkl_nb.launch.tutorials.TUTORIAL_FILES`` names (the notebooks, the docs they link to,
   ``.env.example``) into ``cerkl_nb/_tutorials/``, laid out as in the repository, so
   ``cerkl-nb lab`` can give a user their own copy. The list is read from that module's
   source, not imported, so it has one home. An editable install skips the copy: it runs
   from the checkout, whose ``notebooks/`` the launcher finds directly.
2. The long description is the README with its relative links made absolute (to the
   repository named in ``[project.urls]``), so they open from a package index's page too.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _tutorial_patterns() -> list[str]:
    tree = ast.parse((HERE / "cerkl_nb" / "launch" / "tutorials.py").read_text("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TUTORIAL_FILES":
            return ast.literal_eval(node.value)
    raise RuntimeError("cerkl_nb/launch/tutorials.py no longer defines TUTORIAL_FILES")


class BuildWithTutorials(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "cerkl_nb" / "_tutorials"
        shutil.rmtree(target, ignore_errors=True)
        for pattern in _tutorial_patterns():
            found = sorted(HERE.glob(pattern))
            if not found:  # e.g. an sdist that lacks them: fail the build, not the user
                raise RuntimeError(f"no file matches the tutorial pattern {pattern!r}")
            for path in found:
                dest = target / path.relative_to(HERE)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)


def _long_description() -> str:
    pyproject = (HERE / "pyproject.toml").read_text("utf-8")
    repo = re.search(r'^Repository = "([^"]+)"', pyproject, re.M).group(1).rstrip("/")
    text = (HERE / "README.md").read_text("utf-8")

    def absolute(m: re.Match[str]) -> str:
        kind = "raw" if m.group(2).endswith((".png", ".svg", ".jpg")) else "blob"
        return f"{m.group(1)}{repo}/{kind}/main/{m.group(2)}"

    # A Markdown link or an HTML src= whose target has no scheme and is not an anchor.
    return re.sub(r'(\]\(|src=")(?![a-z][a-z0-9+.-]*:|#)([^)"\s]+)', absolute, text)


setup(
    cmdclass={"build_py": BuildWithTutorials},
    long_description=_long_description(),
    long_description_content_type="text/markdown",
)
