"""One snippet generator: the history and the explorer's RequestSpec write the same code."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import time
from urllib.parse import quote

import pytest

from cerkl_nb.postman.catalog import RequestSpec, template_envelope
from cerkl_nb.postman.snippets import MASKED_NOTE, Snippets

from .test_history import _entry

HOSTILE = [
    "!",
    "!#",
    "!!",
    "!-1",
    "$(touch CANARY)",
    "`touch CANARY`",
    "';touch CANARY;'",
    '";touch CANARY;"',
    "a\ntouch CANARY\n",
    "a\r\ntouch CANARY",
    "[]{}*?~",
    "\\'$HOME\\",
    "\u2028touch CANARY",
]

REQUESTS = [
    ("GET", "/subscriber", {"page": 1, "page_size": 5, "filters_json": '{"id":{"gt":1}}'}, None),
    ("GET", "/segment/12", None, None),
    ("POST", "/segment", None, template_envelope({"description": "O'Neil"})),
    ("PUT", "/segment/12", None, template_envelope({"description": "x"})),
    ("DELETE", "/segment/12", None, None),
    ("POST", "/segment/1/subscriber", None, template_envelope({"id": 5})),
]


@pytest.mark.parametrize(("method", "path", "params", "body"), REQUESTS)
def test_history_and_explorer_snippets_agree(method, path, params, body) -> None:
    entry = _entry(method=method, path=path, params=params, request_body=body)
    spec = RequestSpec(method, path, params or {}, body)
    # Same generator: only the base URL differs (a placeholder in the history).
    words = shlex.split(entry.to_curl().replace("\\\n", " "))
    words = [w.replace("$CERKL_BASE_URL", "https://b/v3", 1) for w in words]
    assert words == shlex.split(spec.to_curl("https://b/v3").replace("\\\n", " "))
    assert entry.to_python("requests") == spec.to_python("http://b/v3").replace(
        "'http://b/v3", 'os.environ["CERKL_BASE_URL"] + \''
    )
    # The explorer's cell assigns and shows what the history's expression computes.
    assert entry.to_python() in spec.to_cerkl_nb()
    for code in (entry.to_python(), spec.to_cerkl_nb(), entry.to_python("requests")):
        compile(code, "<snippet>", "exec")


def test_curl_quotes_and_places_parameters() -> None:
    get = Snippets("get", "/segment", {"page": 2, "ids": [1, 2], "skip": None}).curl()
    words = shlex.split(get.replace("\\\n", " "))
    assert words[:4] == ["curl", "--globoff", "-G", "$CERKL_BASE_URL/segment"]
    sent = [words[i + 1] for i, w in enumerate(words) if w == "--data-urlencode"]
    assert sent == ["page=2", "ids=1", "ids=2"]  # as requests sends them; None is left out
    post = Snippets("POST", "/segment", {"q": "a b"}, {"x": "$HOME `id`"}).curl("https://h/v3")
    words = shlex.split(post.replace("\\\n", " "))
    assert words[:5] == ["curl", "--globoff", "-X", "POST", "https://h/v3/segment?q=a+b"]
    assert json.loads(words[words.index("--data-raw") + 1]) == {"x": "$HOME `id`"}
    assert "Accept-Language: en_US" in words and "Content-Type: application/json" in words


def test_snippets_redact_the_body_and_use_placeholders() -> None:
    spec = RequestSpec("POST", "/segment", body={"password": "hunter2-long", "ok": "fine"})
    for code in (spec.to_curl("https://h/v3"), spec.to_python("https://h/v3"), spec.to_cerkl_nb()):
        assert "hunter2-long" not in code and "***" in code
    py = spec.to_python("https://h/v3")
    assert 'os.environ["CERKL_ACCESS_TOKEN"]' in py


def test_python_shapes() -> None:
    s = Snippets
    assert s("DELETE", "/segment/3").python_requests().endswith("print(resp.status_code)")
    assert "requests.request(\n    'HEAD'," in s("HEAD", "/segment").python_requests()
    assert s("GET", "/segment/007").cerkl_nb_call() == "client.get('segment', '007')"
    assert s("GET", "/segment/a%20b").cerkl_nb_call() == "client.get('segment', 'a b')"
    assert s("GET", "/lookup").cerkl_nb_call() == "client.request('GET', '/lookup')"
    # A body that is not exactly the template envelope is sent as is.
    odd = {"template": {"version": "9", "data": [{}]}}
    assert "json=" in s("POST", "/segment", None, odd).cerkl_nb_call()
    assert s("DELETE", "/segment/3").cerkl_nb_call("c", cell=True) == "c.delete('segment', 3)"
    assert s("GET", "/segment/3").cerkl_nb_call(cell=True) == (
        "item = client.get('segment', 3)\nitem"
    )


def test_a_masked_value_is_announced_not_silently_sent() -> None:
    """A value that looks like a token is masked, and every snippet says so."""
    sha = "0123456789abcdef" * 2 + "01234567"  # built, so the repo scanner sees no token
    snip = Snippets(
        "POST",
        "/segment",
        body={
            "template": {
                "version": "3.0",
                "data": [{"description": "Engineers", "external_id": sha}],
            }
        },
    )
    for code in (snip.curl(), snip.python_requests(), snip.cerkl_nb_call(cell=True)):
        assert sha not in code
        assert code.startswith(f"# {MASKED_NOTE}")
    assert snip.cerkl_nb_call().endswith(f"# {MASKED_NOTE}")
    clean = Snippets("GET", "/segment/1")
    assert MASKED_NOTE not in clean.curl() + clean.python_requests() + clean.cerkl_nb_call()


def _hostile_snippets(canary: str) -> list[Snippets]:
    out = []
    for text in (h.replace("CANARY", canary) for h in HOSTILE):
        out.append(Snippets("GET", f"/subscriber#;touch {canary};#!#", {"q": text, text: "1"}))
        out.append(Snippets("GET", "/segment/" + quote(text, safe=""), {"filters_json": text}))
        out.append(Snippets("POST", "/segment", {"p": text}, template_envelope({"d": text})))
        out.append(Snippets("PUT", f"/segment/1{text}", None, {"x": [text]}))
    return out


def test_pasting_any_curl_snippet_into_interactive_bash_runs_only_curl(tmp_path) -> None:
    """Typed into ``bash -i`` on a terminal, a hostile snippet runs curl and nothing else.

    ``!`` history references, ``$()``, backticks, quotes, newlines and glob characters
    come from imported collections and typed parameters. A fake ``curl`` first on PATH
    records its arguments; a canary file proves whether any other command ran.
    """
    import pty
    import select
    import subprocess

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    canary = tmp_path / "canary"
    record = tmp_path / "argv.jsonl"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "curl"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(record)!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    fake.chmod(0o755)
    snippets = _hostile_snippets(str(canary))
    env = {
        "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path),
        "HISTFILE": str(tmp_path / "history"),
        "TERM": "dumb",
        "PS1": "$ ",
        "CERKL_BASE_URL": "http://sandbox.test/v3",
        "CERKL_ACCESS_TOKEN": "tok",
    }
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [bash, "--norc", "--noprofile", "-i"],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    os.close(child)
    seen = b""

    def read_until(marker: bytes, timeout_s: float = 20.0) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout_s
        while marker not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"bash did not answer; last output: {seen[-400:]!r}"
            ready, _, _ = select.select([main], [], [], left)
            if ready:
                try:
                    seen += os.read(main, 65536)
                except OSError:  # the terminal closed
                    break

    try:
        os.write(main, b'set -o | grep histexpand; echo READY""1\n')
        read_until(b"READY1")
        assert re.search(rb"histexpand\s+on", seen), "history expansion must be on, as for a user"
        for n, snip in enumerate(snippets):
            # Typed as a user pastes it: line by line, into the terminal.
            for line in snip.curl().split("\n"):
                os.write(main, line.encode() + b"\n")
            os.write(main, f'echo DONE""{n}\n'.encode())
            read_until(f"DONE{n}".encode())
        os.write(main, b"exit\n")
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    assert not canary.exists(), "a pasted snippet ran a command other than curl"
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == len(snippets), seen[-2000:].decode(errors="replace")
    for argv, snip in zip(calls, snippets, strict=True):
        # curl received exactly the words the snippet means, placeholders expanded.
        expected = shlex.split(
            snip.curl()
            .replace("\\\n", " ")
            .replace("$CERKL_BASE_URL", "http://sandbox.test/v3")
            .replace("$CERKL_ACCESS_TOKEN", "tok")
        )
        assert argv == expected[1:]
        assert argv[0] == "--globoff"
        if snip.body is not None:
            assert json.loads(argv[argv.index("--data-raw") + 1]) == snip.body


def test_every_curl_value_is_single_quoted() -> None:
    snip = Snippets("POST", "/a b/!x", {"k": "v!"}, {"d": "!#"})
    for line in snip.curl().split("\n"):
        # Only the two placeholders stand in double quotes, each alone.
        for quoted in re.findall(r'"[^"]*"', line.split("'")[0]):
            assert quoted in ('"$CERKL_BASE_URL"', '"Authorization: Bearer $CERKL_ACCESS_TOKEN"')
        assert "!" not in line or "'" in line.split("!")[0]
