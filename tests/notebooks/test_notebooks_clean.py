"""The tutorial notebooks as committed: no outputs, no widget state, the same skeleton.

Notebooks are committed clean so that git never holds an output (which could hold a
secret) and diffs stay readable. Every notebook follows the Project Pythia skeleton:
Overview, Prerequisites with the time it takes, numbered steps with check cells, Summary,
What's next.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTED = [
    "00-start-here.ipynb",
    "01-client-credentials.ipynb",
    "02-access-token.ipynb",
    "03-first-api-calls.ipynb",
    "04-writing-data.ipynb",
    "05-token-lifetime.ipynb",
    "06-explorer.ipynb",
    "07-bulk-work.ipynb",
    "08-postman-side-by-side.ipynb",
]
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_the_series_is_complete() -> None:
    assert [p.name for p in NOTEBOOKS] == EXPECTED


def _assert_clean(nb: nbformat.NotebookNode) -> None:
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert "widgets" not in nb.metadata, "widget state is saved: clear it before committing"
    for i, cell in enumerate(nb.cells):
        assert "widgets" not in cell.get("metadata", {}), f"cell {i} carries widget metadata"
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has outputs: clear them before committing"
            assert cell.execution_count is None, f"cell {i} has an execution count"
            meta = cell.get("metadata", {})
            assert not meta.get("execution"), f"cell {i} carries execution timing metadata"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_without_outputs_or_widget_state(path: Path) -> None:
    _assert_clean(nbformat.read(path, as_version=4))


def test_the_documented_clean_up_command_works(tmp_path: Path) -> None:
    """docs/tutorials.md tells editors how to clean a notebook; prove the command does it."""
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = 3
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
            cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    dirty = tmp_path / NOTEBOOKS[0].name
    nbformat.write(nb, dirty)
    docs = (ROOT / "docs" / "tutorials.md").read_text()
    block = re.search(r"```\n(jupyter nbconvert --clear-output.*?)```", docs, flags=re.S)
    assert block, "docs/tutorials.md lost its clean-up command"
    args = block.group(1).replace("\\\n", " ").split()
    assert args[-1] == "notebooks/*.ipynb"
    subprocess.run(
        [sys.executable, "-m", "jupyter", *args[1:-1], str(dirty)],
        check=True,
        capture_output=True,
    )
    _assert_clean(nbformat.read(dirty, as_version=4))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_follows_the_tutorial_skeleton(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    headings = re.findall(r"^## (.+)$", markdown, flags=re.M)
    assert headings[:2] == ["Overview", "Prerequisites"], headings
    assert headings[-2:] == ["Summary", "What's next"], headings
    steps = [h for h in headings if re.match(r"\d+\. ", h)]
    assert len(steps) >= 3, f"expected numbered steps, found {steps}"
    numbers = [int(h.split(".")[0]) for h in steps]
    assert numbers == sorted(numbers), f"steps out of order: {steps}"
    assert re.search(r"\*\*Time to learn:\*\* \d+ minutes", markdown), "Prerequisites lack the time"
    assert code.count("check(") >= 3, "expected a check cell after each important step"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_never_prints_a_secret_directly(path: Path) -> None:
    """A cheap static guard; the executed-notebook test is the real proof."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if "get_secret_value()" in line:
                assert not re.search(r"\b(print|display)\(", line), line
            assert not re.search(r"print\(.*os\.environ\[", line), line
            assert not re.search(r"\[\s*:\s*\d+\s*\]", line) or "secret" not in line.lower(), line


def test_relative_links_resolve_inside_the_project() -> None:
    """Links to other notebooks and to docs/ open in the Lab, whose root is the project."""
    linked_docs = set()
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", cell.source):
                if re.match(r"[a-z]+:", target):
                    continue
                resolved = (NOTEBOOK_DIR / target).resolve()
                assert resolved.is_file(), f"{path.name} links to missing {target}"
                assert resolved.is_relative_to(ROOT), f"{path.name} links outside: {target}"
                if target.startswith("../docs/"):
                    linked_docs.add(target)
    assert {"../docs/sandbox.md", "../docs/security.md"} <= linked_docs


def test_docs_the_notebooks_name_are_links() -> None:
    """A file under docs/ named in prose is a link the reader can click, not bare text."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                bare = re.findall(r"(?<!\[)`docs/[^`]+`", cell.source)
                assert not bare, f"{path.name}: {bare} should link to ../docs/..."


def test_only_notebook_0_makes_the_first_api_call() -> None:
    """Notebook 2 repeats notebook 0's call by hand, and says so."""
    for path in NOTEBOOKS:
        text = nbformat.read(path, as_version=4)
        markdown = "\n".join(c.source for c in text.cells if c.cell_type == "markdown")
        if path.name.startswith("00-"):
            assert "## 4. Your first API call" in markdown
        else:
            assert "your first api call" not in markdown.lower(), path.name
    nb2 = nbformat.read(NOTEBOOK_DIR / "02-access-token.ipynb", as_version=4)
    nb0 = nbformat.read(NOTEBOOK_DIR / "00-start-here.ipynb", as_version=4)
    same_call = 'client.list("subscriber", page_size=3)'
    for nb in (nb0, nb2):
        assert any(same_call in c.source for c in nb.cells if c.cell_type == "code")
    assert "notebook 0's first call, by hand" in "\n".join(c.source for c in nb2.cells)


def test_notebook_0_shows_the_env_example_as_it_is() -> None:
    """The template notebook 0 quotes has the variables of the real .env.example."""
    names = re.findall(r"^(CERKL_[A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M)
    nb = nbformat.read(NOTEBOOK_DIR / "00-start-here.ipynb", as_version=4)
    quoted = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    block = quoted.split("```bash\n", 1)[1].split("```", 1)[0]
    assert re.findall(r"^(CERKL_[A-Z_]+)=", block, re.M) == names[:3]
    # It says how to reach a dot file the file browser hides, and how to go back.
    assert "cp .env.example .env" in quoted
    assert "leave both `CERKL_CLIENT_ID` and\n`CERKL_CLIENT_SECRET` empty" in quoted


CERKL_TOKEN_CURL = (
    "curl -X POST 'https://api.cerkl.com/v3/oauth/Token' -u 'client_id:client_secret' "
    "-H 'Accept: application/json' -H 'Accept-Language: en_US' -d 'grant_type=client_credentials'"
)
# Postman's own labels, as its user interface shows them, that each tutorial must use.
POSTMAN_WORDS = {
    "01-client-credentials.ipynb": ["Environment", "variables", "Authorization"],
    "02-access-token.ipynb": [
        "Authorization",
        "OAuth 2.0",
        "Client Credentials",
        "Access Token URL",
        "Client ID",
        "Client Secret",
        "Send as Basic Auth header",
        "Get New Access Token",
        "Use Token",
        "Params",
        "Console",
    ],
    "03-first-api-calls.ipynb": ["Params", "Body → raw → JSON", "Collection Runner", "Tests"],
    "04-writing-data.ipynb": ["Body → raw → JSON", "Tests", "Console"],
    "05-token-lifetime.ipynb": ["Authorization", "Get New Access Token", "Use Token"],
    "06-explorer.ipynb": ["History", "Console", "Code", "Params"],
    "07-bulk-work.ipynb": ["Collection Runner", "Tests"],
    "08-postman-side-by-side.ipynb": [
        "Environment",
        "Get New Access Token",
        "Use Token",
        "Collection Runner",
        "Newman",
        "Console",
    ],
}


@pytest.mark.parametrize("name", sorted(POSTMAN_WORDS))
def test_each_tutorial_names_its_postman_equivalents(name: str) -> None:
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "In Postman" in markdown or "Postman" in markdown.split("## Overview")[1], name
    missing = [w for w in POSTMAN_WORDS[name] if w not in markdown]
    assert not missing, f"{name} does not say {missing}"


def test_notebook_2_carries_both_of_cerkls_curl_forms() -> None:
    nb = nbformat.read(NOTEBOOK_DIR / "02-access-token.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert CERKL_TOKEN_CURL in text  # verbatim, as on Cerkl's page
    assert "curl -v https://api.cerkl.com/v3/oauth/Token" in text
    # The runnable form swaps only the address.
    assert 'CERKL_CURL.replace("https://api.cerkl.com/v3/oauth/Token", settings.token_url)' in text


def test_notebook_8_is_the_round_trip() -> None:
    nb = nbformat.read(NOTEBOOK_DIR / "08-postman-side-by-side.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for step in ("save_postman(", "newman", "from_postman_collection(", ".warnings", ".replay("):
        assert step in code, step
    # Exports land where JupyterLab can download them, and git ignores them.
    assert 'EXPORTS = Path("exports")' in code and "tempfile.mkdtemp" not in code
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "notebooks/exports/x.postman_collection.json"],
        cwd=ROOT,
        check=False,
    )
    assert ignored.returncode == 0, "notebooks/exports/ is not git-ignored"
    example = NOTEBOOK_DIR / "postman" / "colleague.postman_collection.json"
    assert (
        example.is_file()
        and (NOTEBOOK_DIR / "postman" / "colleague.postman_environment.json").is_file()
    )


def test_notebook_7_says_which_extra_installs_matplotlib() -> None:
    """matplotlib is in the ``data`` extra, and notebook 7 says so (not "not a dependency")."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(dep.startswith("matplotlib") for dep in extras["data"])
    nb = nbformat.read(NOTEBOOK_DIR / "07-bulk-work.ipynb", as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "not a\ndependency" not in markdown and "not a dependency" not in markdown
    assert "`data` extra" in markdown


def test_one_mask_form_everywhere() -> None:
    """Notebooks, docs and code print a secret the way ``Secret``'s repr does."""
    from cerkl_nb.redact import Secret

    mask = repr(Secret("x"))
    assert mask == "Secret('***')"
    other_forms = ["Secret(" + "***)", 'Secret("***")']
    files = [*NOTEBOOKS, ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    files += (ROOT / "cerkl_nb").rglob("*.py")
    for path in files:
        text = path.read_text(encoding="utf-8")
        for other in other_forms:
            assert other not in text, f"{path.relative_to(ROOT)} shows a secret as {other}"
