"""Repository hygiene: no secrets or generated files in git. (Lint and formatting are
checked once, by ``ruff`` in ``.ci/run``, not again here.)"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Token-shaped strings that are allowed in tracked files: the sample token printed in
# Cerkl's own documentation and the reconstructed refresh token next to it.
ALLOWED_HEX = {
    "e37b98a75db58f83edaaccdb75d15c3a38ae5e38",
    "5d0c0f3b8e7a4c1d9f2e6b7a8c9d0e1f2a3b4c5d",
}


def _tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [ROOT / p for p in out.split("\0") if p]


def test_dotenv_is_ignored_and_example_present() -> None:
    assert (ROOT / ".env.example").is_file()
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    res = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert res.returncode == 0, ".env must be git-ignored"


def test_no_env_file_or_generated_file_is_tracked() -> None:
    bad = [
        p
        for p in _tracked_files()
        if p.name == ".env"
        or (p.name.startswith(".env.") and p.name != ".env.example")
        or "__pycache__" in p.parts
        or ".ipynb_checkpoints" in p.parts
        or "test-artifacts" in p.parts
    ]
    assert not bad, f"tracked files that must not be committed: {bad}"


def test_no_token_shaped_strings_in_tracked_files() -> None:
    """A small secret scanner: no 40-hex token and no credential assignment in git."""
    hex40 = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{40}(?![0-9a-fA-F])")
    assign = re.compile(r"CERKL_CLIENT_SECRET\s*=\s*['\"]?[A-Za-z0-9]{16,}")
    found = []
    for path in _tracked_files():
        if path.suffix in {".png", ".jpg", ".ico"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in hex40.finditer(text):
            if m.group(0) not in ALLOWED_HEX:
                found.append(f"{path.relative_to(ROOT)}: 40-hex string")
        if assign.search(text):
            found.append(f"{path.relative_to(ROOT)}: CERKL_CLIENT_SECRET assignment")
    assert not found, found
