"""The distribution under test: the sdist and wheel ``.ci/run`` built, or built here.

``.ci/run`` builds them once (``python -m build``: the sdist, then the wheel from the sdist)
and names the folder in ``$CERKL_NB_DIST_DIR``; without it they are built the same way from
a clean copy of the checkout (:func:`tests.package.building.source_copy`).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .building import Dist, one, source_copy


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    given = os.environ.get("CERKL_NB_DIST_DIR")
    if given:
        folder = Path(given)
    else:
        if importlib.util.find_spec("build") is None:
            reason = (
                "python -m build is not installed (pip install build), and no CERKL_NB_DIST_DIR"
            )
            if os.environ.get("CI") == "true":
                pytest.fail(reason)
            pytest.skip(reason)
        src = source_copy(tmp_path_factory.mktemp("source"))
        folder = tmp_path_factory.mktemp("dist")
        subprocess.run(
            [sys.executable, "-m", "build", "--outdir", str(folder), str(src)],
            check=True,
            capture_output=True,
        )
    return Dist(one(folder, "cerkl_nb-*.whl"), one(folder, "cerkl_nb-*.tar.gz"))
