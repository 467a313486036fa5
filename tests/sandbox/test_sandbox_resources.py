"""Every resource answers as docs/sandbox.md says (happy paths and rules)."""

from __future__ import annotations

import itertools
import re
import time

import pytest
from sandbox_helpers import assert_api_error

from cerkl_nb.spec import EXAMPLES, LOOKUPS

DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_n = itertools.count(1)


def uniq(prefix: str = "t") -> str:
    return f"{prefix}{next(_n)}-{id(_n)}"


def one(r, status=200) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["version"] == "3.0"
    assert len(body["data"]) == 1
    return body["data"][0]


def new_subscriber(api, **over) -> dict:
    item = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": f"{uniq('ada')}@example.com",
        "subscriber_privacy_level": {"id": 1},
        "subscriber_status": {"id": 1},
        **over,
    }
    return one(api.post("/subscriber", [item]), 201)


# ---------------------------------------------------------------------------- subscriber


def test_subscriber_crud_and_unsubscribe(api):
    sub = new_subscriber(api, external_id=uniq("EMP-"))
    sid = sub["id"]
    assert sub["self"] == f"{api.sb.url}/subscriber/{sid}"
    assert sub["subscriber_privacy_level"] == {
        "id": 1,
        "self": f"{api.sb.url}/subscriber_privacy_level/1",
    }
    assert DATE.match(sub["date_subscribed_utc"]) and DATE.match(sub["date_modified_utc"])
    assert one(api.get(f"/subscriber/{sid}"))["email"] == sub["email"]

    # PUT: bare integers are accepted for lookups; the two documented fields are required.
    upd = one(
        api.put(
            f"/subscriber/{sid}",
            {"first_name": "Augusta", "subscriber_privacy_level": 3, "subscriber_status": 2},
        )
    )
    assert upd["first_name"] == "Augusta" and upd["last_name"] == "Lovelace"
    assert upd["subscriber_status"]["id"] == 2
    assert_api_error(api.put(f"/subscriber/{sid}", {"first_name": "X"}), 400)

    # GET-modify-PUT round trip: read-only fields sent back are ignored.
    assert api.put(f"/subscriber/{sid}", {**upd, "last_name": "King"}).status_code == 200

    # DELETE → 204, then 404, and an unsubscribe record with the same id.
    r = api.delete(f"/subscriber/{sid}")
    assert r.status_code == 204 and r.content == b""
    assert_api_error(api.get(f"/subscriber/{sid}"), 404)
    unsub = one(api.get(f"/unsubscribe/{sid}"))
    assert unsub["email"] == sub["email"] and unsub["source"] == "api"
    assert unsub["first_name"] == "Augusta"
    assert DATE.match(unsub["date_unsubscribed_utc"])
    assert_api_error(api.delete(f"/subscriber/{sid}"), 404)

    # The email may subscribe again, with a new id.
    again = new_subscriber(api, email=sub["email"])
    assert again["id"] != sid


def test_subscriber_create_many_and_all_or_nothing(api):
    items = [
        {"email": f"{uniq('m')}@example.com", "subscriber_privacy_level": 1, "subscriber_status": 1}
        for _ in range(3)
    ]
    r = api.post("/subscriber", items)
    assert r.status_code == 201 and len(r.json()["data"]) == 3
    before = api.get("/subscriber?page_size=1").json()["total"]
    bad = [items[0] | {"email": f"{uniq('ok')}@example.com"}, {"email": "broken"}]
    assert_api_error(api.post("/subscriber", bad), 400)
    assert api.get("/subscriber?page_size=1").json()["total"] == before


def test_subscriber_duplicates_409(api):
    sub = new_subscriber(api, external_id=uniq("X-"))
    assert_api_error(
        api.post(
            "/subscriber",
            [
                {
                    "email": sub["email"].upper(),
                    "subscriber_privacy_level": 1,
                    "subscriber_status": 1,
                }
            ],
        ),
        409,
    )
    assert_api_error(
        api.post(
            "/subscriber",
            [
                {
                    "email": f"{uniq()}@example.com",
                    "external_id": sub["external_id"],
                    "subscriber_privacy_level": 1,
                    "subscriber_status": 1,
                }
            ],
        ),
        409,
    )
    other = new_subscriber(api)
    r = api.put(
        f"/subscriber/{other['id']}",
        {"email": sub["email"], "subscriber_privacy_level": 1, "subscriber_status": 1},
    )
    assert_api_error(r, 409)
    # two items with the same email in one request
    e = f"{uniq()}@example.com"
    pair = [{"email": e, "subscriber_privacy_level": 1, "subscriber_status": 1}] * 2
    assert_api_error(api.post("/subscriber", pair), 409)


@pytest.mark.parametrize(
    "item, fragment",
    [
        ({"subscriber_privacy_level": 1, "subscriber_status": 1}, "email is required"),
        ({"email": "a@example.com", "subscriber_status": 1}, "subscriber_privacy_level"),
        (
            {"email": "a@example.com", "subscriber_privacy_level": 9, "subscriber_status": 1},
            "unknown",
        ),
        (
            {
                "email": "a@example.com",
                "subscriber_privacy_level": {"x": 1},
                "subscriber_status": 1,
            },
            "id",
        ),
        ({"email": "not-an-email", "subscriber_privacy_level": 1, "subscriber_status": 1}, "email"),
        ({"email": 5, "subscriber_privacy_level": 1, "subscriber_status": 1}, "string"),
        (
            {
                "email": "a@example.com",
                "favourite_colour": "red",
                "subscriber_privacy_level": 1,
                "subscriber_status": 1,
            },
            "unknown field",
        ),
        (
            {"email": "a@example.com", "subscriber_privacy_level": True, "subscriber_status": 1},
            "positive",
        ),
    ],
)
def test_subscriber_validation(api, item, fragment):
    body = assert_api_error(api.post("/subscriber", [item]), 400)
    assert fragment in body["error"]["message"]


def test_subscriber_interest(api):
    body = api.get("/subscriber/100001/subscriber_interest").json()
    assert body["data"], body
    scores = [row["score"] for row in body["data"]]
    assert scores == sorted(scores, reverse=True)
    assert body["data"][0]["self"].startswith(api.sb.url + "/category/")
    assert_api_error(api.get("/subscriber/1/subscriber_interest"), 404)


def test_lookups(api):
    for name, values in LOOKUPS.items():
        body = api.get(f"/{name}").json()
        assert [(d["id"], d["description"]) for d in body["data"]] == list(values)
        assert one(api.get(f"/{name}/1"))["self"] == f"{api.sb.url}/{name}/1"
        assert_api_error(api.get(f"/{name}/99"), 404)
    statuses = {d["id"]: d["description"] for d in api.get("/blast_status").json()["data"]}
    assert statuses == {1: "Draft", 2: "Sending now", 3: "Scheduled", 4: "Sent"}
    levels = api.get("/subscriber_privacy_level").json()["data"]
    assert [d["id"] for d in levels] == [1, 2, 3]


def test_unsubscribe_seeded(fresh_api):
    api = fresh_api
    body = api.get("/unsubscribe").json()
    assert body["total"] == 15  # one in twenty of the 300 seeded subscribers
    u = body["data"][0]
    assert_api_error(api.get(f"/subscriber/{u['id']}"), 404)
    assert u["date_unsubscribed_utc"] >= u["date_subscribed_utc"]


# ---------------------------------------------------------------------------- segment


def test_segment_crud_and_membership(api):
    seg = one(
        api.post("/segment", [{"description": "Engineers", "external_id": uniq("seg-")}]), 201
    )
    gid = seg["id"]
    assert seg["subscriber_count"] == 0
    assert one(api.get(f"/segment/{gid}"))["description"] == "Engineers"
    assert (
        one(api.put(f"/segment/{gid}", {"description": "Engineering"}))["description"]
        == "Engineering"
    )

    sub = new_subscriber(api)
    r = api.post(f"/segment/{gid}/subscriber", [{"id": sub["id"]}])
    assert one(r, 201)["id"] == sub["id"]
    assert_api_error(api.post(f"/segment/{gid}/subscriber", [{"id": sub["id"]}]), 409)
    assert_api_error(
        api.post(f"/segment/{gid}/subscriber", [{"id": sub["id"]}, {"id": 100001}]), 400
    )
    assert_api_error(api.post(f"/segment/{gid}/subscriber", [{"id": 1}]), 400)
    members = api.get(f"/segment/{gid}/subscriber").json()
    assert [m["id"] for m in members["data"]] == [sub["id"]] and members["total"] == 1
    assert one(api.get(f"/segment/{gid}"))["subscriber_count"] == 1

    assert api.delete(f"/segment/{gid}/subscriber/{sub['id']}").status_code == 204
    assert_api_error(api.delete(f"/segment/{gid}/subscriber/{sub['id']}"), 404)
    api.post(f"/segment/{gid}/subscriber", [{"id": sub["id"]}])
    r = api.delete(
        f"/segment/{gid}/subscriber",
        json={"template": {"version": "3.0", "data": [{"id": sub["id"]}]}},
    )
    assert r.status_code == 204
    assert api.get(f"/segment/{gid}/subscriber").json()["total"] == 0

    # Deleting a subscriber removes them from segments.
    api.post(f"/segment/{gid}/subscriber", [{"id": sub["id"]}])
    api.delete(f"/subscriber/{sub['id']}")
    assert api.get(f"/segment/{gid}/subscriber").json()["total"] == 0

    assert api.delete(f"/segment/{gid}").status_code == 204
    assert_api_error(api.get(f"/segment/{gid}"), 404)
    assert_api_error(api.get(f"/segment/{gid}/subscriber"), 404)


def test_segment_requires_description(api):
    assert_api_error(api.post("/segment", [{"external_id": "x"}]), 400)
    assert_api_error(api.post("/segment", [{"description": "   "}]), 400)


# ---------------------------------------------------------------------------- category


def test_category_crud(api):
    cat = one(api.post("/category", [{"description": "Engineering"}]), 201)
    cid = cat["id"]
    assert one(api.get(f"/category/{cid}"))["description"] == "Engineering"
    assert one(api.put(f"/category/{cid}", {"description": "Eng"}))["description"] == "Eng"
    assert api.get(f"/category/{cid}/subscriber").json()["total"] == 0
    assert api.delete(f"/category/{cid}").status_code == 204
    assert_api_error(api.get(f"/category/{cid}"), 404)


def test_category_subscribers_seeded(api):
    body = api.get("/category/501/subscriber?page_size=5").json()
    assert body["total"] > 0 and len(body["data"]) <= 5


# ---------------------------------------------------------------------------- blast


def test_blast_lifecycle(api):
    item = dict(EXAMPLES["blast"], status={"id": 1})
    b = one(api.post("/blast", [item]), 201)
    bid = b["id"]
    assert b["status"]["id"] == 1 and b["date_sent_utc"] is None
    assert b["blast_merge_fields"][0]["type"]["id"] == 1
    assert one(api.put(f"/blast/{bid}", {"subject": "New subject"}))["subject"] == "New subject"
    # 3 needs date_scheduled_utc (the example has one)
    assert one(api.put(f"/blast/{bid}", {"status": 3}))["status"]["id"] == 3
    # 2 "Sending now" becomes 4 "Sent" at once
    sent = one(api.put(f"/blast/{bid}", {"status": {"id": 2}}))
    assert sent["status"]["id"] == 4 and DATE.match(sent["date_sent_utc"])
    assert_api_error(api.put(f"/blast/{bid}", {"subject": "too late"}), 409)
    assert_api_error(api.delete(f"/blast/{bid}"), 409)
    draft = one(api.post("/blast", [item]), 201)
    assert api.delete(f"/blast/{draft['id']}").status_code == 204


@pytest.mark.parametrize(
    "change, status",
    [
        ({"name": None}, 400),
        ({"reply_to_email": "comms@elsewhere.org"}, 400),
        ({"status": {"id": 3}, "date_scheduled_utc": None}, 400),
        ({"target_segments": [{"id": 1}]}, 400),
        ({"target_categories": [{"id": 999999}]}, 400),
        ({"blast_template": {"id": 42}}, 400),
        ({"blast_merge_fields": [{"id": 1, "type": {"id": 9}, "value": "x"}]}, 400),
        ({"date_scheduled_utc": "next tuesday"}, 400),
        ({"status": {"id": 5}}, 400),
    ],
)
def test_blast_rules(api, change, status):
    item = {**EXAMPLES["blast"], **change}
    item = {k: v for k, v in item.items() if v is not None}
    assert_api_error(api.post("/blast", [item]), status)


def _in(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + seconds))


def test_blast_cannot_be_created_or_set_as_sent(api):
    body = assert_api_error(api.post("/blast", [dict(EXAMPLES["blast"], status={"id": 4})]), 400)
    assert "status 2" in body["error"]["message"]
    draft = one(api.post("/blast", [dict(EXAMPLES["blast"], status={"id": 1})]), 201)
    body = assert_api_error(api.put(f"/blast/{draft['id']}", {"status": 4}), 400)
    assert "status 2" in body["error"]["message"]
    assert one(api.get(f"/blast/{draft['id']}"))["status"]["id"] == 1


def test_scheduled_blast_needs_a_future_time(api):
    item = dict(EXAMPLES["blast"], status={"id": 3})
    for past in ("2020-07-20 15:00:00", _in(-60), "2020-07-20T15:00:00Z"):
        body = assert_api_error(api.post("/blast", [dict(item, date_scheduled_utc=past)]), 400)
        assert "future" in body["error"]["message"]
    # What notebook 4 does: one day ahead of now.
    b = one(api.post("/blast", [dict(item, date_scheduled_utc=_in(86400))]), 201)
    assert b["status"]["id"] == 3
    # Scheduling a draft for the past, or moving a scheduled blast into the past: 400.
    draft = one(api.post("/blast", [dict(EXAMPLES["blast"], status={"id": 1})]), 201)
    assert_api_error(
        api.put(f"/blast/{draft['id']}", {"status": 3, "date_scheduled_utc": _in(-3600)}), 400
    )
    assert_api_error(api.put(f"/blast/{b['id']}", {"date_scheduled_utc": _in(-3600)}), 400)
    # A draft may keep a past date; it only matters once the status is 3.
    one(api.put(f"/blast/{draft['id']}", {"date_scheduled_utc": _in(-3600)}))
    assert_api_error(api.put(f"/blast/{draft['id']}", {"status": 3}), 400)


def test_scheduling_uses_the_sandbox_clock(fresh_api):
    sb = fresh_api.sb
    item = dict(EXAMPLES["blast"], status={"id": 3}, date_scheduled_utc=_in(2 * 86400))
    b = one(fresh_api.post("/blast", [item]), 201)
    sb.advance_clock(3 * 86400)  # the sandbox now lives past the scheduled time
    fresh_api.renew()
    assert_api_error(fresh_api.post("/blast", [item]), 400)
    # GET -> modify -> PUT of the unchanged scheduled blast still works (no rescheduling).
    current = one(fresh_api.get(f"/blast/{b['id']}"))
    current["subject"] = "Changed after its time"
    assert one(fresh_api.put(f"/blast/{b['id']}", current))["subject"] == "Changed after its time"
    later = dict(item, date_scheduled_utc=_in(4 * 86400))
    assert one(fresh_api.post("/blast", [later]), 201)["status"]["id"] == 3


# ---------------------------------------------------------------------------- content


@pytest.mark.parametrize("ctype", ["story", "event", "need", "link"])
def test_content_write_and_read(api, ctype):
    item = dict(EXAMPLES[ctype])
    item.pop("external_id", None)
    created = one(api.post(f"/{ctype}", [item]), 201)
    cid = created["id"]
    assert created["content_type"] == ctype
    assert created["self"] == f"{api.sb.url}/content/{cid}"
    read = one(api.get(f"/content/{cid}"))
    assert read == created
    # Reads go through /content only, as Cerkl documents: GET /story/{id} is 405.
    r = api.get(f"/{ctype}/{cid}")
    assert_api_error(r, 405)
    assert "PUT" in r.headers["Allow"] and "DELETE" in r.headers["Allow"]
    upd = one(api.put(f"/{ctype}/{cid}", {"id": cid, "title": "Changed"}))
    assert upd["title"] == "Changed"
    assert_api_error(api.put(f"/{ctype}/{cid}", {"id": cid + 1, "title": "x"}), 400)
    other = "story" if ctype != "story" else "link"
    assert_api_error(api.put(f"/{other}/{cid}", {"title": "wrong type"}), 404)
    assert api.delete(f"/{ctype}/{cid}").status_code == 204
    assert_api_error(api.get(f"/content/{cid}"), 404)


def test_content_list_has_every_type(api):
    body = api.get("/content").json()
    types = {c["content_type"] for c in body["data"]}
    assert types == {"story", "event", "need", "link"}
    event = next(c for c in body["data"] if c["content_type"] == "event")
    assert "event_start_date_time_utc" in event and "evergreen" not in event


def test_event_rules(api):
    ev = dict(EXAMPLES["event"])
    ev.pop("event_end_date_time_utc")
    assert_api_error(api.post("/event", [ev]), 400)
    ev["event_all_day"] = True
    assert api.post("/event", [ev]).status_code == 201
    bad = dict(EXAMPLES["event"], event_end_date_time_utc="2000-01-01 00:00:00")
    assert_api_error(api.post("/event", [bad]), 400)


def test_iso_dates_are_normalised(api):
    item = dict(EXAMPLES["story"], publish_date_utc="2030-07-20T12:00:00+02:00")
    item.pop("external_id")
    s = one(api.post("/story", [item]), 201)
    assert s["publish_date_utc"] == "2030-07-20 10:00:00"


def test_version_string_placeholder_accepted(api):
    """Cerkl's own Event/Need examples say "version": "string"; accept it, echo 3.0."""
    body = {"template": {"version": "string", "data": [{"description": "v"}]}}
    r = api.post("/category", json=body)
    assert r.status_code == 201 and r.json()["version"] == "3.0"


# ---------------------------------------------------------------------------- insights


def test_insights_both_paths(api):
    for name in ("content_insights", "subscriber_insights"):
        a = api.get(f"/{name}?page_size=5").json()
        b = api.session.get(
            api.sb.url + f"//{name}?page_size=5", headers=api.h(), timeout=10
        ).json()
        assert a["data"] == b["data"] and a["total"] > 0
    row = api.get("/content_insights?page_size=1").json()["data"][0]
    assert {
        "delivered",
        "opens",
        "unique_opens",
        "clicks",
        "unique_clicks",
        "impressions",
        "audience_reach",
    } <= set(row)
    assert row["content"]["self"].startswith(api.sb.url + "/content/")


def test_subscriber_insights_exclude_privacy_level_2(api):
    ids_level2 = {
        s["id"]
        for s in api.get(
            "/subscriber", params={"filters_json": '{"subscriber_privacy_level": {"eq": 2}}'}
        ).json()["data"]
    }
    assert ids_level2
    rows = api.get("/subscriber_insights?page_size=100").json()
    seen = {r["subscriber"]["id"] for r in rows["data"]}
    assert not (seen & ids_level2)


# ---------------------------------------------------------------------------- templates


@pytest.mark.parametrize(
    "res", ["subscriber", "segment", "category", "blast", "story", "event", "need", "link"]
)
def test_template_endpoints(api, res):
    body = api.get(f"/{res}/template").json()
    assert body["x-sandbox-only"] is True
    assert isinstance(body["template"]["data"][0], dict) and body["template"]["version"] == "3.0"


def test_index_and_self_links_follow_host(api):
    r = api.session.get(
        api.sb.url + "/segment/5001", headers=api.h({"Host": f"localhost:{api.sb.port}"})
    )
    assert one(r)["self"] == f"http://localhost:{api.sb.port}/v3/segment/5001"
    r = api.session.get(api.sb.url + "/segment/5001", headers=api.h({"Host": "evil host/<x>"}))
    assert one(r)["self"].startswith(api.sb.url)
    assert api.session.get(api.sb.root_url + "/").json()["token_url"].endswith("/v3/oauth/Token")
