"""The project's facts have one home each: the version, the license, the repository's address.

And no link leads nowhere: every relative link in the README and the docs names a file of
the repository, every link to the repository (GitHub, Binder) is built from the address in
``[project.urls]``, and the README says next to them that they open once it is public.
"""

from __future__ import annotations

import re
from pathlib import Path

import cerkl_nb

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
LINK = re.compile(r'\]\(([^)\s]+)\)|src="([^"]+)"')


def _urls() -> dict[str, str]:
    table = PYPROJECT.split("[project.urls]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^(\w+) = "([^"]+)"', table, re.M))


def test_the_version_is_written_once_and_the_changelog_starts_with_it() -> None:
    project = PYPROJECT.split("\n[project]\n", 1)[1].split("\n[", 1)[0]
    assert re.search(r'^dynamic = \[.*"version".*\]', project, re.M)
    assert not re.search(r"^version = ", project, re.M)
    assert 'version = { attr = "cerkl_nb.__version__" }' in PYPROJECT
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    first = re.search(r"^## \[([^\]]+)\]", changelog, re.M)
    assert first and first.group(1) == cerkl_nb.__version__


def test_the_license_file_is_the_mit_license_the_metadata_declares() -> None:
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert 'license = "MIT"' in PYPROJECT and 'license-files = ["LICENSE"]' in PYPROJECT


def test_every_project_url_is_under_the_one_repository_address() -> None:
    urls = _urls()
    assert urls["Repository"].startswith("https://github.com/")
    assert all(url.startswith(urls["Repository"]) for url in urls.values()), urls


def _links(path: Path) -> list[str]:
    return [a or b for a, b in LINK.findall(path.read_text(encoding="utf-8"))]


def test_every_relative_link_in_the_readme_and_the_docs_names_a_file_that_exists() -> None:
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for link in _links(page):
            target = link.split("#")[0]
            if target and not re.match(r"[a-z][a-z0-9+.-]*:", target):
                if not (page.parent / target).exists():
                    broken.append(f"{page.relative_to(ROOT)}: {link}")
    assert not broken


def test_links_to_the_repository_are_built_from_its_address_and_say_when_they_open() -> None:
    repo = _urls()["Repository"].removeprefix("https://github.com/")
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    to_repo = [
        (page, link)
        for page in pages
        for link in _links(page)
        if re.match(r"https://(github\.com|mybinder\.org/v2/gh)/", link)
    ]
    assert to_repo, "the README links to Binder"
    for page, link in to_repo:
        assert f"/{repo}/" in link + "/", f"{page.name}: {link} is not {repo}"
    section = README.split("\n## Try it online", 1)[1].split("\n## ", 1)[0]
    assert "once the repository is public" in section and "mybinder.org" in section
    assert "mybinder.org" not in README.replace(section, "")


def test_the_readme_gives_the_one_line_install_outside_the_quickstart() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    one_line = 'pip install "cerkl-nb[lab]" && cerkl-nb lab'
    assert one_line in README and one_line not in quickstart
    assert "Once cerkl-nb is published on PyPI" in README
