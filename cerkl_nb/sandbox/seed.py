"""The deterministic demo organisation ("Acme Widgets", docs/sandbox.md §5.5).

Same seed, same data, on every machine, so the tutorials can say "subscriber 100001 is
...". Dates are drawn from a fixed window (2019-2024), never from the current time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from ..spec import RESOURCES
from .filters import format_date
from .store import Store

__all__ = ["seeded_store"]

_FIRST = (
    "Ada Alan Grace Katherine Linus Margaret Dennis Barbara Ken Frances Edsger Radia "
    "Tim Hedy Donald John Sophie Annie Claude Mary Guido Yukihiro Bjarne Niklaus "
    "Anita Shafi Leslie Tony Jean Ruth Evelyn Carol Karen Joan Lynn Marian Fran Adele"
).split()
_LAST = (
    "Lovelace Turing Hopper Johnson Torvalds Hamilton Ritchie Liskov Thompson Allen "
    "Dijkstra Perlman Berners-Lee Lamarr Knuth McCarthy Wilson Easley Shannon Jackson "
    "Rossum Matsumoto Stroustrup Wirth Borg Goldwasser Lamport Hoare Sammet Teitelbaum "
    "Boyd Shaw Jones Clarke Conway Spärck"
).split()
_DEPARTMENTS = ("Engineering", "Sales", "Marketing", "Finance", "People", "Operations", "Support")
_LOCATIONS = ("Cincinnati", "Columbus", "Chicago", "Remote", "London", "Austin")
_TITLES = ("Analyst", "Engineer", "Manager", "Director", "Associate", "Specialist", "Lead")
_CATEGORIES = (
    "Company News|Engineering|Health & Wellness|Benefits|Community|Learning|Safety|Events|"
    "Sustainability|Leadership"
).split("|")
_SEGMENTS = (
    "All Staff|Engineering Team|Sales Team|Cincinnati Office|Remote Workers|New Hires 2024|"
    "Managers|Volunteers|Wellness Champions|London Office|Executive Team|Interns"
).split("|")
_TITLE_WORDS = (
    "Quarterly results are in|Meet the new team|Open enrolment starts|Office move update|"
    "Hackathon winners|Safety week recap|Volunteer day|Town hall|New learning portal|"
    "Green commute challenge|Leadership offsite notes|Customer spotlight"
).split("|")

_T0 = 1546300800  # 2019-01-01 00:00:00 UTC
_T1 = 1719705600  # 2024-06-30 00:00:00 UTC


def _date(rng: random.Random, lo: int = _T0, hi: int = _T1) -> str:
    return format_date(rng.randrange(lo, hi))


def seeded_store(
    *,
    subscribers: int = 300,
    seed: int = 42,
    now: Callable[[], float] = time.time,
    reply_to_domain: str = "example.com",
    max_records: int = 50_000,
) -> Store:
    """A new :class:`~cerkl_nb.sandbox.store.Store` holding the demo organisation.

    ``subscribers`` active ones (plus about 5 % former subscribers), drawn from ``seed``;
    ``now`` (the server clock), ``reply_to_domain`` and ``max_records`` go to the store.
    """
    store = Store(now=now, reply_to_domain=reply_to_domain, max_records=max_records)
    rng = random.Random(seed)
    # The order of the steps is part of the seed: each draws from the same generator.
    cat_ids = _seed_categories(store, rng)
    sub_ids = _seed_subscribers(store, rng, subscribers, cat_ids)
    seg_ids = _seed_segments(store, rng, sub_ids)
    _seed_content(store, rng, cat_ids, seg_ids)
    _seed_blasts(store, rng, cat_ids, seg_ids)
    return store


def _seed_categories(store: Store, rng: random.Random) -> list[int]:
    d = store.data
    for name in _CATEGORIES:
        cid = store.next_id("category")
        created = _date(rng)
        d["category"][cid] = {
            "id": cid,
            "description": name,
            "external_id": f"cat-{cid}",
            "date_created_utc": created,
            "date_modified_utc": max(created, _date(rng)),
        }
    return list(d["category"])


def _seed_subscribers(
    store: Store, rng: random.Random, n_subscribers: int, cat_ids: list[int]
) -> list[int]:
    d = store.data
    # Subscribers; every 20th is created and then unsubscribed, so /unsubscribe has data
    # and its ids interleave with the live ones as they would in a real organisation.
    n_former = max(1, n_subscribers // 20) if n_subscribers else 0
    live = 0
    former = 0
    i = 0
    while live < n_subscribers or former < n_former:
        i += 1
        sid = store.next_id("subscriber")
        first = rng.choice(_FIRST)
        last = rng.choice(_LAST)
        ascii_last = last.replace("ä", "a").replace("-", "").lower()
        subscribed_ts = rng.randrange(_T0, _T1)
        subscribed = format_date(subscribed_ts)
        rec = {
            "id": sid,
            "first_name": first,
            "last_name": last,
            "email": f"{first.lower()}.{ascii_last}.{sid}@example.com",
            "external_id": f"EMP-{sid:06d}",
            "subscriber_privacy_level": rng.choices((1, 2, 3), (85, 10, 5))[0],
            "subscriber_status": rng.choices((1, 2, 3, 4), (70, 10, 15, 5))[0],
            "department": rng.choice(_DEPARTMENTS),
            "job_title": rng.choice(_TITLES),
            "location": rng.choice(_LOCATIONS),
            "date_subscribed_utc": subscribed,
            "date_modified_utc": max(subscribed, _date(rng)),
        }
        make_former = (i % 20 == 0 and former < n_former) or live >= n_subscribers
        if make_former:
            former += 1
            store._unsubscribe(
                rec,
                source=rng.choice(("email_link", "admin", "api")),
                when=_date(rng, subscribed_ts + 1, _T1 + 86400),
            )
            continue
        live += 1
        d["subscriber"][sid] = rec
        store.index_record(RESOURCES["subscriber"], rec)
        k = rng.randint(1, 3)
        store.interests[sid] = {c: rng.randint(20, 100) for c in rng.sample(cat_ids, k)}
    return list(d["subscriber"])


def _seed_segments(store: Store, rng: random.Random, sub_ids: list[int]) -> list[int]:
    d = store.data
    for name in _SEGMENTS:
        gid = store.next_id("segment")
        created = _date(rng)
        if name == "All Staff":
            members = set(sub_ids)
        else:
            share = rng.uniform(0.03, 0.3)
            members = {s for s in sub_ids if rng.random() < share}
        store.members[gid] = members
        d["segment"][gid] = {
            "id": gid,
            "description": name,
            "external_id": f"seg-{gid}",
            "subscriber_count": len(members),
            "date_created_utc": created,
            "date_modified_utc": max(created, _date(rng)),
        }
    return list(d["segment"])


def _seed_content(store: Store, rng: random.Random, cat_ids: list[int], seg_ids: list[int]) -> None:
    types = ["story"] * 16 + ["event"] * 8 + ["need"] * 6 + ["link"] * 10
    for n, ctype in enumerate(types):
        cid = store.next_id("content")
        created = _date(rng)
        res = RESOURCES[ctype]
        rec = {f.name: None for f in res.fields if f.name != "self"}
        rec.update(
            {
                "id": cid,
                "content_type": ctype,
                "author": rng.randint(1, 5),
                "title": f"{rng.choice(_TITLE_WORDS)} ({ctype} {n + 1})",
                "summary": f"A {ctype} from the seeded Acme Widgets organisation.",
                "body": f"<p>Body of {ctype} {n + 1}.</p>",
                "more_button_text": "Read more",
                "image_url": f"https://example.com/img/{cid}.png",
                "categories": rng.sample(cat_ids, rng.randint(1, 2)),
                "external_id": f"cms-{cid}",
                "priority": rng.choices((1, 2, 3), (80, 15, 5))[0],
                "private": rng.random() < 0.1,
                "segments": rng.sample(seg_ids, rng.randint(0, 1)),
                "exclusive_to_segment": False,
                "available_in_aptly": rng.random() < 0.5,
                "enable_comments": rng.random() < 0.7,
                "enable_link_tracking": True,
                "status": rng.choices((1, 2, 3, 4), (70, 10, 10, 10))[0],
                "date_created_utc": created,
                "date_modified_utc": max(created, _date(rng)),
            }
        )
        if ctype in ("story", "need", "link"):
            rec["publish_date_utc"] = created
        if ctype in ("story", "link"):
            rec["evergreen"] = rng.random() < 0.2
        if ctype in ("event", "link"):
            rec["external_url"] = f"https://example.com/{ctype}/{cid}"
        if ctype == "event":
            start = rng.randrange(_T0, _T1)
            all_day = rng.random() < 0.25
            rec.update(
                {
                    "event_location": rng.choice(("Innovation Center", "Atrium", "Online")),
                    "event_city": rng.choice(_LOCATIONS),
                    "event_country": "US",
                    "event_all_day": all_day,
                    "event_start_date_time_utc": format_date(start),
                    "event_end_date_time_utc": None if all_day else format_date(start + 3600),
                    "event_time_zone": rng.randint(1, 8),
                    "event_registration_url": f"https://example.com/register/{cid}",
                }
            )
        if ctype == "need":
            rec["need_quantity"] = rng.randint(1, 50)
            rec["need_by_date_utc"] = _date(rng)
        store.data["content"][cid] = rec
        store.index_record(res, rec)


def _seed_blasts(store: Store, rng: random.Random, cat_ids: list[int], seg_ids: list[int]) -> None:
    for n in range(8):
        bid = store.next_id("blast")
        created = _date(rng)
        status = (1, 3, 4, 4, 1, 4, 3, 4)[n]
        store.data["blast"][bid] = {
            "id": bid,
            "status": status,
            "blast_template": rng.randint(1, 3),
            "blast_merge_fields": [],
            "name": f"Blast {n + 1}: {rng.choice(_TITLE_WORDS)}",
            "reply_to_email": f"comms@{store.reply_to_domain}",
            "reply_to_name": "Comms Team",
            "subject": rng.choice(_TITLE_WORDS),
            "message": "<p>Hello from the sandbox.</p>",
            "target_segments": rng.sample(seg_ids, rng.randint(1, 2)),
            "target_categories": rng.sample(cat_ids, rng.randint(0, 2)),
            "target_conditional": 1,
            "date_scheduled_utc": "2030-01-15 15:00:00" if status == 3 else None,
            "date_sent_utc": created if status == 4 else None,
            "date_created_utc": created,
            "date_modified_utc": created,
        }
