"""A session exported with ``to_postman_collection()`` runs green in Newman, twice.

The session is a tutorial's: list with a filter, create, read, update, a membership, page
with a followed next link, delete; with a token re-fetch (every token revoked mid-way) and
a failed call in between. It is exported, then run by Newman against a *fresh* sandbox
given only the client ID and secret as environment values (and the fresh sandbox's
address, which stands in for the standard one): 0 failures, at least one assertion per
request, and the same again on a second run (unique values are generated per run).
"""

from __future__ import annotations

import json
import secrets

import pytest

import cerkl_nb
from cerkl_nb.errors import NotFound

from .conftest import run_newman


def _tutorial_session(sb) -> cerkl_nb.CerklClient:
    client = cerkl_nb.connect(sandbox=sb)
    tag = secrets.token_hex(3)  # the session-wide sandbox may have seen an earlier run
    client.list("subscriber", page_size=2, filters={"email": {"contains": "@example.com"}})
    seg = client.create("segment", {"description": "Newman team", "external_id": f"nm-{tag}"})
    client.get("segment", seg["id"])
    sb.revoke_all_tokens()  # the next call gets 401, re-fetches a token and is resent
    client.update("segment", seg["id"], {"description": "Newman team (renamed)"})
    sub = client.create(
        "subscriber",
        {
            "email": f"newman.reader.{tag}@example.com",
            "first_name": "Newman",
            "subscriber_privacy_level": {"id": 1},
            "subscriber_status": {"id": 1},
        },
    )
    client.request("POST", f"/segment/{seg['id']}/subscriber", items=[{"id": sub["id"]}])
    with pytest.raises(NotFound):
        client.get("segment", 987654321)
    first = client.request("GET", "/segment", params={"page": 1, "page_size": 2, "x": None})
    nxt = (first.body.get("links") or {}).get("next")
    if nxt:
        client.request("GET", nxt)  # a followed next link: its query is in the path
    client.delete("segment", seg["id"])
    return client


def test_exported_session_runs_green_in_newman_twice(sandbox, fresh, tmp_path) -> None:
    client = _tutorial_session(sandbox)
    coll_path, env_path = client.history.save_postman(tmp_path, client_id=fresh.client_id)
    coll = json.loads(coll_path.read_text())
    names = [i["name"] for i in coll["item"]]
    # One item per logical call: the 401 + resend is one item, the 404 is left out.
    assert names.count("PUT /segment/{{segmentId}}") == 1
    assert not any("987654321" in json.dumps(i) for i in coll["item"])
    assert len(coll["item"]) == len(client.history.logical_calls())
    runs = []
    for n in (1, 2):
        run = run_newman(
            coll_path,
            tmp_path,
            environment=env_path,
            # Only the client secret (never in the files) and the fresh sandbox's address.
            env_vars={"clientSecret": fresh.client_secret, "baseUrl": fresh.url},
            tag=str(n),
        )
        runs.append(run)
        assert run.failures == [], run.output
        assert run.returncode == 0, run.output
        assert run.stats["requests"]["failed"] == 0
        assert run.stats["assertions"]["failed"] == 0
        # Every item sent once, plus the one token request of the run.
        assert len(run.executions) == len(coll["item"]), run.statuses()
        assert run.script_requests == 1
        assert min(run.assertions_per_request()) >= 1
        assert all(200 <= code < 300 for _, code in run.statuses()), run.statuses()
    print(
        "newman:",
        [
            (r.stats["requests"]["total"], r.stats["assertions"]["total"], len(r.failures))
            for r in runs
        ],
    )


def test_export_holds_no_secret_or_token(sandbox, fresh, tmp_path) -> None:
    client = _tutorial_session(sandbox)
    coll_path, env_path = client.history.save_postman(tmp_path, client_id=sandbox.client_id)
    text = coll_path.read_text() + env_path.read_text()
    assert sandbox.client_secret not in text
    assert client.token_manager.token.access_token.get_secret_value() not in text
    env = {v["key"]: v for v in json.loads(env_path.read_text())["values"]}
    assert env["clientSecret"]["value"] == "" and env["clientSecret"]["type"] == "secret"
    assert env["clientId"]["value"] == sandbox.client_id
    # Newman's own run leaves no token in the files either (it exports nothing back).
    run_newman(
        coll_path,
        tmp_path,
        environment=env_path,
        env_vars={"clientSecret": fresh.client_secret, "baseUrl": fresh.url},
    )
    text = coll_path.read_text() + env_path.read_text()
    for token in fresh.issued_tokens():
        assert token not in text


def test_export_without_a_secret_fails_loudly_in_newman(fresh, tmp_path) -> None:
    """No client secret: the run fails (it does not pass with 401s and no tests)."""
    client = cerkl_nb.connect(sandbox=fresh)
    client.list("segment", page_size=1)
    coll_path, env_path = client.history.save_postman(tmp_path, client_id=fresh.client_id)
    run = run_newman(coll_path, tmp_path, environment=env_path, env_vars={"baseUrl": fresh.url})
    assert run.returncode != 0
    assert run.failures


def test_oauth2_block_matches_postmans_authorization_tab(sandbox) -> None:
    client = cerkl_nb.connect(sandbox=sandbox)
    client.list("segment", page_size=1)
    coll = client.history.to_postman_collection()
    auth = {kv["key"]: kv["value"] for kv in coll["auth"]["oauth2"]}
    assert coll["auth"]["type"] == "oauth2"
    assert auth["grant_type"] == "client_credentials"  # Grant type: Client Credentials
    assert auth["accessTokenUrl"] == "{{tokenUrl}}"  # Access Token URL
    assert auth["client_authentication"] == "header"  # Send as Basic Auth header
    assert (auth["clientId"], auth["clientSecret"]) == ("{{clientId}}", "{{clientSecret}}")
    variables = {v["key"]: v["value"] for v in coll["variable"]}
    # The sandbox's standard address (what `cerkl-nb sandbox` serves), not this run's port.
    assert variables["baseUrl"] == "http://127.0.0.1:8765/v3"
    assert variables["tokenUrl"] == "{{baseUrl}}/oauth/Token"
