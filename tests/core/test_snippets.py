"""One snippet generator: the history and the explorer's RequestSpec write the same code."""

from __future__ import annotations

import json
import shlex

import pytest

from cerkl_nb.catalog import RequestSpec, template_envelope
from cerkl_nb.snippets import MASKED_NOTE, Snippets

from .test_history import _entry

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
    assert entry.to_curl() == spec.to_curl("$CERKL_BASE_URL").replace(r"\$", "$")
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
    assert words[:3] == ["curl", "-G", "$CERKL_BASE_URL/segment"]
    sent = [words[i + 1] for i, w in enumerate(words) if w == "--data-urlencode"]
    assert sent == ["page=2", "ids=1", "ids=2"]  # as requests sends them; None is left out
    post = Snippets("POST", "/segment", {"q": "a b"}, {"x": "$HOME `id`"}).curl("https://h/v3")
    words = shlex.split(post.replace("\\\n", " "))
    assert words[:4] == ["curl", "-X", "POST", "https://h/v3/segment?q=a+b"]
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
