"""The ``cerkl-nb`` command: one argument parser for every subcommand."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from cerkl_nb.launch.cli import main, parse_options


@pytest.mark.parametrize(
    "argv",
    [
        ["sandbox", "--port", "70000"],
        ["sandbox", "--port", "-1"],
        ["lab", "--sandbox-port", "70000"],
        ["lab", "--port", "65536"],
    ],
)
def test_a_port_out_of_range_is_a_clear_usage_error(argv, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "between 0 and 65535" in err and "Traceback" not in err


def test_lab_passes_unknown_arguments_to_jupyter_lab_and_sandbox_refuses_them() -> None:
    opts = parse_options(["--no-browser", "--ServerApp.token=", "--", "--port", "1"])
    assert opts.no_browser and opts.extra == ["--ServerApp.token=", "--port", "1"]
    with pytest.raises(SystemExit):
        main(["sandbox", "--ServerApp.token="])


def test_help_lists_every_subcommand(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in ("sandbox", "lab", "tutorials", "with-sandbox"))


def _banner(env: dict[str, str]) -> str:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cerkl_nb.launch.cli", "sandbox", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if not line or "Ctrl-C" in line:
                break
    finally:
        proc.terminate()
        proc.wait(10)
    return "".join(lines)


def test_sandbox_uses_a_key_from_the_environment_without_printing_it() -> None:
    key = "k3y-from-the-environment-0123456789"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERKL_")}
    out = _banner({**env, "CERKL_SANDBOX_KEY": key})
    assert "CERKL_SANDBOX_URL=http://127.0.0.1:" in out and "as already set" in out
    assert key not in out
    # Without one, a fresh key is made and printed once, for the user to export.
    out = _banner(env)
    assert "CERKL_SANDBOX_KEY=" in out and "keep it private" in out
