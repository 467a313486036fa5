"""A user's own copy of the tutorials: what it holds, and that their edits always survive.

``cerkl-nb lab`` outside a clone and ``cerkl-nb tutorials`` copy the tree the wheel ships.
Here the source is the checkout's tree (the same files, as the distribution tests prove),
or a changed copy of it standing in for a newer release.
"""

from __future__ import annotations

import json
import posixpath
import re
import shutil
from pathlib import Path

import pytest

from cerkl_nb import __version__
from cerkl_nb.launch import lab
from cerkl_nb.launch.cli import main
from cerkl_nb.launch.lab import LAB_CONFIG, LabOptions, lab_command, lab_env, lab_root
from cerkl_nb.launch.tutorials import (
    DEFAULT_FOLDER,
    FIRST_NOTEBOOK,
    MANIFEST,
    copy_tutorials,
    tutorial_files,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = tutorial_files(ROOT)
ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"


def _edit(path: Path, note: str = "my notes") -> bytes:
    """Change a notebook the way a user does (a cell of their own), and return its bytes."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": [note]})
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path.read_bytes()


def _newer_release(tmp_path: Path, *changed: str) -> Path:
    """A copy of the shipped tree in which ``changed`` files have new contents."""
    source = tmp_path / "release"
    for rel in SHIPPED:
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, source / rel)
    for rel in changed:
        _edit(source / rel, note="what the next release says")
    return source


def test_the_tutorials_are_the_notebooks_their_links_and_the_env_template() -> None:
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    assert [f"notebooks/{n}" for n in notebooks] == [s for s in SHIPPED if s.endswith(".ipynb")]
    assert ".env.example" in SHIPPED
    assert {"notebooks/postman/colleague.postman_collection.json", "docs/sandbox.md"} <= set(
        SHIPPED
    )


def _relative_links(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    elif path.suffix == ".md":
        text = path.read_text(encoding="utf-8")
    else:
        return []
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


def test_every_link_in_the_shipped_tutorials_opens_in_a_copy() -> None:
    """What a notebook links to ships with it, so the link works in a user's copy too."""
    missing = [
        f"{rel} -> {target}"
        for rel in SHIPPED
        for target in _relative_links(ROOT / rel)
        if posixpath.normpath(posixpath.join(posixpath.dirname(rel), target)) not in SHIPPED
    ]
    assert not missing, f"add these to TUTORIAL_FILES (cerkl_nb/launch/tutorials.py): {missing}"


def test_a_first_copy_holds_every_file_as_shipped_with_a_manifest(tmp_path: Path) -> None:
    report = copy_tutorials(tmp_path / "mine")
    assert report.added == SHIPPED and report.notebooks == (tmp_path / "mine" / "notebooks")
    for rel in SHIPPED:
        assert (tmp_path / "mine" / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    manifest = json.loads((tmp_path / "mine" / MANIFEST).read_text())
    assert manifest["version"] == __version__ and sorted(manifest["files"]) == SHIPPED
    assert f"copied {len(SHIPPED)} files into" in report.summary()


def test_a_later_copy_never_overwrites_an_edited_notebook(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    copy_tutorials(folder)
    mine = _edit(folder / "notebooks" / FIRST_NOTEBOOK)
    (folder / "notebooks" / "02-access-token.ipynb").unlink()
    for update in (False, True):
        report = copy_tutorials(folder, update=update)
        assert (folder / "notebooks" / FIRST_NOTEBOOK).read_bytes() == mine
        assert not report.updated and not report.beside and not report.newer
    # --update brings back a file the user deleted; a plain reuse leaves the folder alone.
    assert report.added == ["notebooks/02-access-token.ipynb"]


def test_update_replaces_unedited_files_and_puts_new_versions_beside_edited_ones(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "mine"
    copy_tutorials(folder)
    mine = _edit(folder / "notebooks" / "01-client-credentials.ipynb")
    changed = ["notebooks/00-start-here.ipynb", "notebooks/01-client-credentials.ipynb"]
    release = _newer_release(tmp_path, *changed)

    # Reusing the folder changes nothing, and says what a newer release would bring.
    reuse = copy_tutorials(folder, source=release)
    assert reuse.newer == changed and not reuse.added and "--update" in reuse.summary()
    assert (folder / "notebooks" / "01-client-credentials.ipynb").read_bytes() == mine

    report = copy_tutorials(folder, update=True, source=release)
    assert report.updated == ["notebooks/00-start-here.ipynb"]
    beside = f"notebooks/01-client-credentials.v{__version__}.ipynb"
    assert report.beside == {"notebooks/01-client-credentials.ipynb": beside}
    assert (folder / "notebooks" / "00-start-here.ipynb").read_bytes() == (
        release / "notebooks" / "00-start-here.ipynb"
    ).read_bytes()
    assert (folder / "notebooks" / "01-client-credentials.ipynb").read_bytes() == mine
    assert (folder / beside).read_bytes() == (release / changed[1]).read_bytes()
    assert f"kept your edited {changed[1]}; its new version is beside it: {beside}" in (
        report.summary()
    )

    # Once brought, nothing is newer any more, and a second update does nothing.
    assert not copy_tutorials(folder, source=release).newer
    again = copy_tutorials(folder, update=True, source=release)
    assert not (again.added or again.updated or again.beside or again.kept)


def test_files_that_were_there_before_the_first_copy_are_the_users(tmp_path: Path) -> None:
    folder = tmp_path / "course"
    (folder / "notebooks").mkdir(parents=True)
    (folder / "notebooks" / FIRST_NOTEBOOK).write_text("{}")
    report = copy_tutorials(folder)
    assert report.kept == [f"notebooks/{FIRST_NOTEBOOK}"]
    assert (folder / "notebooks" / FIRST_NOTEBOOK).read_text() == "{}"
    assert len(report.added) == len(SHIPPED) - 1


def test_cerkl_nb_tutorials_copies_and_updates_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["tutorials", str(tmp_path / "course")]) == 0
    assert f"copied {len(SHIPPED)} files into {tmp_path / 'course'}" in capsys.readouterr().out
    # Inside the copy, the folder is the copy itself, not a new one within it.
    monkeypatch.chdir(tmp_path / "course")
    assert main(["tutorials", "--update"]) == 0
    assert "has the tutorials of cerkl-nb" in capsys.readouterr().out
    assert not (tmp_path / "course" / DEFAULT_FOLDER).exists()


def test_a_folder_that_is_a_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("not a folder")
    assert main(["tutorials", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert "is not a folder" in err and "Traceback" not in err


def test_lab_outside_a_clone_opens_a_copy_of_its_own_and_reuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lab, "CHECKOUT_NOTEBOOKS", tmp_path / "no-clone" / "notebooks")
    notebooks, said = lab.open_tutorials(LabOptions(), cwd=tmp_path)
    assert notebooks == tmp_path / DEFAULT_FOLDER / "notebooks" and "copied" in said
    # Served like a clone: docs/ and .env.example open in the same Lab, notebook 0 first.
    assert lab_root(notebooks) == tmp_path / DEFAULT_FOLDER
    assert f"--LabApp.default_url=/lab/tree/notebooks/{FIRST_NOTEBOOK}" in lab_command(
        LabOptions(), notebooks, is_root=False
    )
    mine = _edit(notebooks / FIRST_NOTEBOOK)
    again, said = lab.open_tutorials(LabOptions(), cwd=tmp_path)
    assert again == notebooks and (notebooks / FIRST_NOTEBOOK).read_bytes() == mine
    assert "copied" not in said
    into, _ = lab.open_tutorials(LabOptions(into=tmp_path / "elsewhere"), cwd=tmp_path)
    assert into == tmp_path / "elsewhere" / "notebooks" and (into / FIRST_NOTEBOOK).is_file()


def test_lab_in_a_clone_opens_the_clones_notebooks_as_always(tmp_path: Path) -> None:
    notebooks, said = lab.open_tutorials(LabOptions(), cwd=tmp_path)
    assert notebooks == (ROOT / "notebooks").resolve() and said == ""
    assert not (tmp_path / DEFAULT_FOLDER).exists()


def test_notebooks_and_into_cannot_be_given_together(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["lab", "--notebooks", "a", "--into", "b"])
    assert "not allowed with" in capsys.readouterr().err


def test_the_tutorial_server_alone_has_no_news_prompt() -> None:
    """Jupyter's "get notified about news?" prompt is off for this server, through a config
    folder of its own first on JUPYTER_CONFIG_PATH; the user's settings are not touched."""
    page = json.loads((LAB_CONFIG / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"] == {ANNOUNCEMENTS: True}
    assert lab_env({})["JUPYTER_CONFIG_PATH"] == str(LAB_CONFIG)
    env = lab_env({"JUPYTER_CONFIG_PATH": "/theirs", "HOME": "/home/x"})
    assert env["JUPYTER_CONFIG_PATH"].split(":") == [str(LAB_CONFIG), "/theirs"]
    assert env["HOME"] == "/home/x"
