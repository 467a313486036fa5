"""Collections written in Postman import with their meaning, or say what they lost.

Each collection is run twice against the same fresh sandbox: by Newman, as Postman would
run it, and by ``History.from_postman_collection(...).replay(client)``. Every request the
import carries answers the same status both ways; every request it does not carry, and
every part it drops, is named in ``warnings``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import cerkl_nb
from cerkl_nb import History
from cerkl_nb.errors import ApiError

from .conftest import run_newman

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "notebooks" / "postman"
SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
H = [{"key": "Accept", "value": "application/json"}]
HJ = [*H, {"key": "Content-Type", "value": "application/json"}]


def _statuses(results: list[Any]) -> list[int]:
    return [r.status if isinstance(r, ApiError) else r.status for r in results]


def _env(values: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "test",
        "values": [{"key": k, "value": v, "enabled": True} for k, v in values.items()],
    }


def _write(tmp_path: Path, name: str, doc: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_colleagues_collection_replays_like_newman_runs_it(fresh, tmp_path) -> None:
    coll = json.loads((EXAMPLES / "colleague.postman_collection.json").read_text())
    env = json.loads((EXAMPLES / "colleague.postman_environment.json").read_text())
    overrides = {
        "baseUrl": fresh.root_url,  # the host alone: the collection's paths carry /v3
        "clientId": fresh.client_id,
        "clientSecret": fresh.client_secret,
    }
    # Newman runs everything but the webhook to another host (there is no internet here).
    run = run_newman(
        EXAMPLES / "colleague.postman_collection.json",
        tmp_path,
        environment=EXAMPLES / "colleague.postman_environment.json",
        env_vars=overrides,
        folders=["Get token", "Subscribers", "Segments"],
    )
    assert run.failures == [], run.output
    in_newman = dict(run.statuses())

    for v in env["values"]:
        v["value"] = overrides.get(v["key"], v["value"])
    imported = History.from_postman_collection(coll, env)
    client = cerkl_nb.connect(sandbox=fresh)
    replayed = _statuses(imported.replay(client))
    names = [r["name"] for r in imported]
    assert names == [
        "List subscribers",
        "One subscriber",
        "Create a segment",
        "Add the subscriber",
        "Read it back (URL built in the editor, no raw)",
        "Find it with a filter",
        "Delete it",
    ]
    assert all(200 <= s < 300 for s in replayed), dict(zip(names, replayed, strict=True))
    assert replayed == [in_newman[n] for n in names]
    by_name = {r["name"]: r for r in imported}
    # The URL object without raw was built from host and path, not sent as GET /.
    assert by_name["Read it back (URL built in the editor, no raw)"]["path"] == (
        "/segment/{{segmentId}}"
    )
    assert by_name["One subscriber"]["path"] == "/subscriber/100001"  # :subscriber_id
    assert by_name["List subscribers"]["params"] == {"page": "1", "page_size": "5"}  # no debug
    assert "{{" not in json.dumps(by_name["Create a segment"]["json"])  # $guid, $randomInt
    text = "\n".join(imported.warnings)
    for expected in (
        "collection's bearer auth block is not carried",
        "'Get token' is a token request: skipped",
        "test script of request 'Get token' is not run",
        "setting of segmentId from the response id is reproduced on replay",
        "'Tell the team chat' goes to another host (hooks.example.com): skipped",
    ):
        assert expected in text
    assert len(imported.warnings) == 5, imported.warnings


def _runnable(items: list[dict[str, Any]], variables: dict[str, str]) -> dict[str, Any]:
    """A collection Newman can run: our exported token script and OAuth 2.0 block."""
    base = History().to_postman_collection()
    return {
        "info": {"name": "edge cases", "schema": SCHEMA},
        "auth": base["auth"],
        "event": base["event"],
        "variable": [
            *({"key": k, "value": v} for k, v in variables.items()),
            {"key": "accessToken", "value": ""},
        ],
        "item": items,
    }


def _get(name: str, url: Any, **request: Any) -> dict[str, Any]:
    return {"name": name, "request": {"method": "GET", "header": H, "url": url, **request}}


@pytest.mark.parametrize("with_v3", [True, False], ids=["base-with-v3", "base-without-v3"])
def test_edge_cases_keep_their_meaning_or_are_named(fresh, tmp_path, with_v3) -> None:
    base = fresh.url if with_v3 else fresh.root_url
    v3 = "" if with_v3 else "/v3"
    items = [
        _get("plain", "{{baseUrl}}" + v3 + "/segment/{{segId}}"),
        _get(
            "url object without raw",
            {
                "host": ["{{baseUrl}}"],
                "path": [*([] if with_v3 else ["v3"]), "segment"],
                "query": [{"key": "page_size", "value": "2"}, {"key": "page", "value": "1"}],
            },
        ),
        _get(
            "path variable",
            {
                "raw": "{{baseUrl}}" + v3 + "/segment/:segment_id",
                "host": ["{{baseUrl}}"],
                "path": [*([] if with_v3 else ["v3"]), "segment", ":segment_id"],
                "variable": [{"key": "segment_id", "value": "{{segId}}"}],
            },
        ),
        _get("repeated keys", "{{baseUrl}}" + v3 + "/segment?page_size=2&page_size=3"),
        _get(
            "token in the path of a fragment",
            "{{baseUrl}}" + v3 + "/segment/{{segId}}#;touch x;#!#",
        ),
        _get(
            "own auth and header",
            "{{baseUrl}}" + v3 + "/segment/{{segId}}",
            auth={"type": "bearer", "bearer": [{"key": "token", "value": "abc"}]},
            header=[*H, {"key": "X-Trace", "value": "1"}],
        ),
        {
            "name": "create with dynamic variables",
            "event": [
                {
                    "listen": "test",
                    "script": {
                        "exec": ['pm.environment.set("newId", pm.response.json().data[0].id);']
                    },
                }
            ],
            "request": {
                "method": "POST",
                "header": HJ,
                "url": "{{baseUrl}}" + v3 + "/segment",
                "body": {
                    "mode": "raw",
                    "raw": '{"template": {"version": "3.0", "data": [{"description": '
                    '"t {{$timestamp}} {{$randomInt}}", "external_id": "{{$guid}}"}]}}',
                },
            },
        },
        {
            "name": "bare variable in a raw body",
            "request": {
                "method": "PUT",
                "header": HJ,
                "url": "{{baseUrl}}" + v3 + "/segment/{{newId}}",
                "body": {
                    "mode": "raw",
                    "raw": '{"template": {"version": "3.0", "data": [{"description": "n", '
                    '"id": {{newId}}}]}}',
                },
            },
        },
        {
            "name": "raw body as text",
            "request": {
                "method": "POST",
                "header": H,
                "url": "{{baseUrl}}" + v3 + "/segment",
                "body": {"mode": "raw", "raw": '{"template": {"version": "3.0", "data": []}}'},
            },
        },
        _get("a variable nobody sets", "{{baseUrl}}" + v3 + "/segment/{{nobody}}"),
        {
            "name": "not JSON",
            "request": {
                "method": "POST",
                "header": H,
                "url": "{{baseUrl}}" + v3 + "/segment",
                "body": {"mode": "raw", "raw": "{'description': 'single quotes'}"},
            },
        },
        {
            "name": "form body",
            "request": {
                "method": "POST",
                "header": H,
                "url": "{{baseUrl}}" + v3 + "/segment",
                "body": {
                    "mode": "urlencoded",
                    "urlencoded": [{"key": "description", "value": "f"}],
                },
            },
        },
        _get("path variable without a value", "{{baseUrl}}" + v3 + "/segment/:sid"),
        _get("elsewhere", "https://example.org/v3/segment"),
    ]
    token_url = "{{baseUrl}}" + v3 + "/oauth/Token"
    coll = _runnable(items, {"baseUrl": base, "tokenUrl": token_url, "segId": "5001"})
    env = _env({"clientId": fresh.client_id, "clientSecret": fresh.client_secret, "segId": "5002"})
    imported = History.from_postman_collection(coll, env)
    by_name = {r["name"]: r for r in imported}
    # The environment wins over the collection, as in Postman.
    assert by_name["plain"]["path"] == "/segment/5002"
    assert by_name["url object without raw"]["path"] == "/segment"
    assert by_name["url object without raw"]["params"] == {"page_size": "2", "page": "1"}
    assert by_name["path variable"]["path"] == "/segment/5002"
    assert by_name["repeated keys"]["params"] == {"page_size": ["2", "3"]}
    assert by_name["token in the path of a fragment"]["path"] == "/segment/5002"
    created = by_name["create with dynamic variables"]["json"]["template"]["data"][0]
    assert re.fullmatch(r"t \d{10} \d+", created["description"])
    assert re.fullmatch(r"[0-9a-f-]{36}", created["external_id"])
    carried = list(by_name)
    assert carried == [
        "plain",
        "url object without raw",
        "path variable",
        "repeated keys",
        "token in the path of a fragment",
        "own auth and header",
        "create with dynamic variables",
        "bare variable in a raw body",
        "raw body as text",
    ]
    warnings = "\n".join(imported.warnings)
    for expected in (
        "'own auth and header': its bearer auth block is not carried",
        "'own auth and header': the header 'X-Trace' is not carried",
        "setting of newId from the response id is reproduced on replay",
        "'a variable nobody sets': no variable defines {{nobody}}; skipped",
        "'not JSON': its raw body is not JSON after substituting variables",
        "'form body': its urlencoded body (description) cannot be sent",
        "'path variable without a value': the path variable :sid has no value; skipped",
        "'elsewhere' goes to another host (example.org): skipped",
        "'raw body as text': its raw body is sent as JSON (application/json); Postman sends "
        "it as text/plain",
    ):
        assert expected in warnings, imported.warnings

    # Newman, with the same environment, answers each carried request as the replay does,
    # except the two whose difference a warning names (their own auth, a text/plain body).
    coll_path = _write(tmp_path, "edge.postman_collection.json", coll)
    env_path = _write(tmp_path, "edge.postman_environment.json", env)
    run = run_newman(coll_path, tmp_path, environment=env_path, folders=carried)
    in_newman = dict(run.statuses())
    replayed = dict(
        zip(carried, _statuses(imported.replay(cerkl_nb.connect(sandbox=fresh))), strict=True)
    )
    warned = {"own auth and header", "raw body as text"}
    assert {n: replayed[n] for n in carried if n not in warned} == {
        n: in_newman[n] for n in carried if n not in warned
    }, run.output
    assert (in_newman["own auth and header"], replayed["own auth and header"]) == (401, 200)
    assert (in_newman["raw body as text"], replayed["raw body as text"]) == (415, 400)
    # Repeated keys reach the server as repeated keys (which the sandbox refuses).
    assert in_newman["repeated keys"] == replayed["repeated keys"] == 400
    assert sum(200 <= s < 300 for s in replayed.values()) == len(carried) - 2
