"""Postman's own collection SDK (``postman-collection``) reads what we export and import."""

from __future__ import annotations

import json
from pathlib import Path

import cerkl_nb
from cerkl_nb import History

from .conftest import run_node

EXAMPLES = Path(__file__).resolve().parents[2] / "notebooks" / "postman"

# Loads a collection (and optionally an environment) with the SDK and prints, per
# request, what Postman itself understands: method, URL, query, path with variables
# substituted, body, auth and scripts.
SDK_SCRIPT = r"""
const sdk = require(process.argv[1]);
const fs = require("fs");
const coll = new sdk.Collection(JSON.parse(fs.readFileSync(process.argv[2], "utf8")));
// Environment over collection variables, as in Postman.
const scopes = [];
if (process.argv[3]) {
  const env = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
  scopes.push(new sdk.VariableList(null, env.values));
}
scopes.push(coll.variables);
const sub = (s) => sdk.Property.replaceSubstitutions(s, scopes);
const out = { valid: sdk.Collection.isCollection(coll), auth: coll.auth && coll.auth.type,
  events: coll.events.map((e) => e.listen), items: [] };
coll.forEachItem((item) => {
  const r = item.request;
  out.items.push({
    name: item.name,
    method: r.method,
    url: r.url.toString(),
    path: sub(r.url.getPath()),
    query: r.url.query.filter((q) => !q.disabled).map((q) => [q.key, q.value]),
    body: r.body ? r.body.mode : null,
    events: item.events.map((e) => e.listen),
  });
});
const again = new sdk.Collection(coll.toJSON()).toJSON();
out.roundTrip = JSON.stringify(again) === JSON.stringify(coll.toJSON());
console.log(JSON.stringify(out));
"""


def test_sdk_parses_our_export(sandbox, tmp_path) -> None:
    client = cerkl_nb.connect(sandbox=sandbox)
    client.request("GET", "/segment", params={"page": 1, "page_size": 2, "ids": [1, 2]})
    seg = client.create("segment", {"description": "sdk"})
    client.update("segment", seg["id"], {"description": "sdk 2"})
    client.delete("segment", seg["id"])
    coll_path, _ = client.history.save_postman(tmp_path)
    ours = json.loads(coll_path.read_text())
    seen = run_node(SDK_SCRIPT, str(coll_path), module="postman-collection")
    assert seen["valid"] and seen["roundTrip"]
    assert seen["auth"] == "oauth2" and seen["events"] == ["prerequest"]
    assert len(seen["items"]) == len(ours["item"]) == 4
    for sdk_item, item in zip(seen["items"], ours["item"], strict=True):
        assert sdk_item["url"] == item["request"]["url"]["raw"]
        assert sdk_item["method"] == item["request"]["method"]
        assert "test" in sdk_item["events"]
    assert seen["items"][0]["query"] == [
        ["page", "1"],
        ["page_size", "2"],
        ["ids", "1"],
        ["ids", "2"],
    ]
    assert [i["body"] for i in seen["items"]] == [None, "raw", "raw", None]


def test_import_reads_urls_as_the_sdk_does() -> None:
    coll_path = EXAMPLES / "colleague.postman_collection.json"
    env_path = EXAMPLES / "colleague.postman_environment.json"
    seen = run_node(SDK_SCRIPT, str(coll_path), str(env_path), module="postman-collection")
    imported = History.from_postman_collection(
        json.loads(coll_path.read_text()), json.loads(env_path.read_text())
    )
    sdk_items = {i["name"]: i for i in seen["items"]}
    checked = 0
    for r in imported:
        sdk_item = sdk_items[r["name"]]
        assert sdk_item["method"] == r["method"]
        # The SDK's path still has /v3 (the environment's baseUrl is the host alone)
        # and keeps :name path variables for the runtime to fill in.
        sdk_path = sdk_item["path"].removeprefix("/v3")
        if ":" not in sdk_path:
            assert sdk_path == r["path"], r["name"]
            checked += 1
        sdk_query = {}
        for key, value in sdk_item["query"]:
            sdk_query.setdefault(key, []).append(value)
        ours = {k: v if isinstance(v, list) else [v] for k, v in (r["params"] or {}).items()}
        assert set(sdk_query) == set(ours), r["name"]
    assert checked >= 5
