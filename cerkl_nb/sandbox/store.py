"""The sandbox's in-memory organisation: validation, CRUD, membership and insights.

It knows nothing about HTTP: what a client did wrong is a :class:`Problem`. All access
goes through one lock, since the server is threaded and a dict must not change size while
another thread iterates it.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from ..spec import (
    CONTENT_TYPES,
    LOOKUPS,
    MAX_FILTER_VALUES,
    MAX_TEXT_LENGTH,
    RESOURCES,
    Field,
    Resource,
)
from .filters import format_date, is_int, parse_date
from .messages import Problem

__all__ = ["Store"]


# --------------------------------------------------------------------------- validation


_EMAIL_RX = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}\.[^@\s.]{1,63}$")


def _ref_id(v: Any, what: str) -> int:
    """Accept ``{"id": n, ...}`` or a bare ``n``: Cerkl's examples use both."""
    if isinstance(v, dict):
        if "id" not in v:
            raise Problem(400, f"{what} must be an object with an integer 'id'")
        v = v["id"]
    if not is_int(v) or v < 1 or v > 2**53:
        raise Problem(400, f"{what} must be {{'id': <positive integer>}} or a positive integer")
    return v


class Store:
    """The organisation's data, empty (:func:`cerkl_nb.sandbox.seed.seeded_store` fills it):
    ``now`` is the server clock, blasts reply from ``reply_to_domain``, and a collection
    holds at most ``max_records`` (creating more answers 409)."""

    def __init__(
        self,
        *,
        now: Callable[[], float] = time.time,
        reply_to_domain: str = "example.com",
        max_records: int = 50_000,
    ) -> None:
        self.lock = threading.RLock()
        self.max_records = max_records
        self.now = now
        self.reply_to_domain = reply_to_domain
        self.data: dict[str, dict[int, dict]] = {
            name: {}
            for name in ("subscriber", "unsubscribe", "segment", "category", "blast", "content")
        }
        self.members: dict[int, set[int]] = {}  # segment id -> subscriber ids
        self.interests: dict[int, dict[int, int]] = {}  # subscriber id -> {category: score}
        self._ids = {
            "subscriber": itertools.count(100001),
            "segment": itertools.count(5001),
            "category": itertools.count(501),
            "blast": itertools.count(3001),
            "content": itertools.count(20001),
        }
        # unique-value indexes: (collection, field) -> {value: id}
        self.unique: dict[tuple[str, str], dict[str, int]] = {}

    def next_id(self, collection: str) -> int:
        return next(self._ids[collection])

    def now_str(self) -> str:
        return format_date(self.now())

    # ------------------------------------------------------------------ unique index
    def _index(self, resource: Resource, field: Field) -> dict[str, int]:
        return self.unique.setdefault((resource.self_path, field.name), {})

    @staticmethod
    def _unique_key(field: Field, value: Any) -> str:
        return value.lower() if field.kind == "email" else value

    def index_record(self, resource: Resource, rec: dict, add: bool = True) -> None:
        """Enter ``rec``'s unique values in the index (``add=False``: take them out)."""
        for f in resource.fields:
            if f.unique and rec.get(f.name) is not None:
                index, key = self._index(resource, f), self._unique_key(f, rec[f.name])
                if add:
                    index[key] = rec["id"]
                else:
                    index.pop(key, None)

    # ------------------------------------------------------------------ validation
    def validate_item(
        self,
        resource: Resource,
        item: Any,
        *,
        index: int,
        update_of: dict | None = None,
        url_id: int | None = None,
    ) -> dict:
        """Validate one ``template.data`` item and return the normalised values to store.

        Read-only fields sent back by the client are ignored; unknown fields are refused
        so typos surface (docs/sandbox.md).
        """
        where = f"template.data[{index}]"
        if not isinstance(item, dict):
            raise Problem(400, f"{where} must be a JSON object")
        if update_of is not None and "id" in item and item["id"] is not None:
            if not is_int(item["id"]) or item["id"] != url_id:
                raise Problem(400, f"{where}.id ({item['id']!r}) differs from the id in the URL")
        out: dict[str, Any] = {}
        for key, value in item.items():
            f = resource.field(key)
            if f is None:
                allowed = ", ".join(x.name for x in resource.writable)
                raise Problem(400, f"{where}: unknown field {key!r}; writable fields: {allowed}")
            if f.readonly:
                continue
            out[key] = self._validate_value(f, value, f"{where}.{key}")
        for f in resource.writable:
            needed = f.required if update_of is None else f.required_on_update
            if needed and out.get(f.name) is None:
                raise Problem(400, f"{where}: {f.name} is required")
        return out

    def _validate_value(self, f: Field, value: Any, what: str) -> Any:
        if value is None:
            if f.required:
                raise Problem(400, f"{what} is required and cannot be null")
            return None
        k = f.kind
        if k in ("str", "email"):
            if not isinstance(value, str):
                raise Problem(400, f"{what} must be a string")
            if len(value) > MAX_TEXT_LENGTH:
                raise Problem(400, f"{what} is longer than {MAX_TEXT_LENGTH} characters")
            if "\x00" in value:
                raise Problem(400, f"{what} must not contain NUL characters")
            if k == "email":
                value = value.strip()
                if not _EMAIL_RX.match(value):
                    raise Problem(400, f"{what} is not an email address: {value!r}")
            if f.required and not value.strip():
                raise Problem(400, f"{what} must not be empty")
            return value
        if k == "int":
            if not is_int(value) or not (0 <= value <= 2**31):
                raise Problem(400, f"{what} must be a non-negative integer")
            return value
        if k == "bool":
            if not isinstance(value, bool):
                raise Problem(400, f"{what} must be true or false")
            return value
        if k == "date":
            return parse_date(value, what)
        if k == "ref":
            rid = _ref_id(value, what)
            self._check_ref(f.target, rid, what)
            return rid
        if k == "refs":
            if not isinstance(value, list) or len(value) > MAX_FILTER_VALUES:
                raise Problem(400, f"{what} must be a list of {{'id': n}} objects")
            ids = []
            for i, v in enumerate(value):
                rid = _ref_id(v, f"{what}[{i}]")
                self._check_ref(f.target, rid, f"{what}[{i}]")
                if rid not in ids:
                    ids.append(rid)
            return ids
        if k == "merge_fields":
            if not isinstance(value, list) or len(value) > 100:
                raise Problem(400, f"{what} must be a list of merge fields")
            out = []
            for i, v in enumerate(value):
                w = f"{what}[{i}]"
                if not isinstance(v, dict):
                    raise Problem(400, f"{w} must be an object with id, type and value")
                extra = set(v) - {"id", "type", "value"}
                if extra:
                    raise Problem(400, f"{w}: unknown key(s) {sorted(extra)}")
                mid = _ref_id(v.get("id"), f"{w}.id")
                tid = _ref_id(v.get("type"), f"{w}.type")
                self._check_ref("merge_field_type", tid, f"{w}.type")
                val = v.get("value")
                if not isinstance(val, str) or len(val) > MAX_TEXT_LENGTH:
                    raise Problem(400, f"{w}.value must be a string")
                out.append({"id": mid, "type": tid, "value": val})
            return out
        raise Problem(400, f"{what}: unsupported field")  # pragma: no cover

    def _check_ref(self, target: str | None, rid: int, what: str) -> None:
        if target in LOOKUPS:
            if not any(i == rid for i, _ in LOOKUPS[target]):
                ids = ", ".join(str(i) for i, _ in LOOKUPS[target])
                raise Problem(400, f"{what}: unknown {target} id {rid}; valid ids: {ids}")
        elif target is not None and rid not in self.data[target]:
            raise Problem(400, f"{what}: there is no {target} with id {rid}")

    def _check_unique(
        self, resource: Resource, values: dict, own_id: int | None, seen: dict
    ) -> None:
        for f in resource.fields:
            if f.unique and values.get(f.name) is not None:
                key = self._unique_key(f, values[f.name])
                other = self._index(resource, f).get(key)
                if (other is not None and other != own_id) or key in seen.setdefault(f.name, set()):
                    raise Problem(
                        409, f"a {resource.name} with {f.name} {values[f.name]!r} already exists"
                    )
                seen[f.name].add(key)

    # ------------------------------------------------------------------ type rules
    def _rules(self, resource: Resource, values: dict, existing: dict | None) -> None:
        """Cross-field rules that Cerkl documents (or that docs/sandbox.md chose)."""
        merged = {**(existing or {}), **values}
        if resource.name == "blast":
            if existing is not None and existing.get("status") == 4:
                raise Problem(409, "this blast was already sent; a sent blast cannot be changed")
            if values.get("status") == 4:
                # Sent is the outcome of sending, not something a client can claim.
                verb = "created" if existing is None else "set"
                raise Problem(
                    400,
                    f"a blast cannot be {verb} as Sent (status 4); use status 2 (Sending now) "
                    "to send it now, or status 3 (Scheduled) with date_scheduled_utc",
                )
            if merged.get("status") == 3:
                when = merged.get("date_scheduled_utc")
                if not when:
                    raise Problem(
                        400, "date_scheduled_utc is required when status is 3 (Scheduled)"
                    )
                # Only a write that schedules (status becomes 3, or the time changes) must
                # pick a future time; re-sending an unchanged scheduled blast (GET → PUT)
                # is fine even after its time has passed.
                scheduling = (
                    existing is None
                    or existing.get("status") != 3
                    or existing.get("date_scheduled_utc") != when
                )
                now = self.now_str()
                if scheduling and when <= now:
                    raise Problem(
                        400,
                        f"date_scheduled_utc ({when} UTC) must be in the future of the "
                        f"server clock ({now} UTC) when status is 3 (Scheduled); use status "
                        "2 (Sending now) to send it now",
                    )
            email = values.get("reply_to_email")
            if email is not None:
                domain = email.rsplit("@", 1)[-1].lower()
                if domain != self.reply_to_domain.lower():
                    raise Problem(
                        400,
                        f"reply_to_email must use the organisation's verified reply-to domain "
                        f"({self.reply_to_domain}), not {domain}",
                    )
        elif resource.name == "event":
            if not merged.get("event_all_day") and not merged.get("event_end_date_time_utc"):
                raise Problem(
                    400, "event_end_date_time_utc is required unless event_all_day is true"
                )
            start, end = (
                merged.get("event_start_date_time_utc"),
                merged.get("event_end_date_time_utc"),
            )
            if start and end and end < start:
                raise Problem(400, "event_end_date_time_utc is before event_start_date_time_utc")

    def _after_write(self, resource: Resource, rec: dict) -> None:
        if resource.name == "blast" and rec.get("status") == 2:
            # "Sending now": the sandbox records the send instantly and emails nobody.
            rec["status"] = 4
            rec["date_sent_utc"] = rec["date_modified_utc"]

    # ------------------------------------------------------------------ CRUD
    def create(self, resource: Resource, items: list) -> list[dict]:
        """Validate every item, then create them all (all or nothing)."""
        collection = resource.self_path
        with self.lock:
            if len(self.data[collection]) + len(items) > self.max_records:
                # A bound on memory: a loop of POSTs must not grow the hosting process
                # (often the user's kernel) without limit.
                raise Problem(
                    409,
                    f"the sandbox holds at most {self.max_records} {collection} records; "
                    "delete some, or reset the sandbox",
                )
            validated = [self.validate_item(resource, it, index=i) for i, it in enumerate(items)]
            seen: dict = {}
            for v in validated:
                self._check_unique(resource, v, None, seen)
                self._rules(resource, v, None)
            created = []
            now = self.now_str()
            for v in validated:
                rec = self._new_record(resource, v, now)
                self._after_write(resource, rec)
                self.data[collection][rec["id"]] = rec
                self.index_record(resource, rec)
                created.append(rec)
            return created

    def _new_record(self, resource: Resource, values: dict, now: str) -> dict:
        collection = resource.self_path
        rec: dict[str, Any] = {
            f.name: [] if f.kind in ("refs", "merge_fields") else None
            for f in resource.fields
            if f.name != "self"
        }
        rec.update(values)
        rec["id"] = self.next_id(collection)
        if "date_created_utc" in rec:
            rec["date_created_utc"] = now
        if "date_subscribed_utc" in rec:
            rec["date_subscribed_utc"] = now
        rec["date_modified_utc"] = now
        if collection == "content":
            rec["content_type"] = resource.name
        if resource.name == "segment":
            rec["subscriber_count"] = 0
            self.members[rec["id"]] = set()
        if resource.name == "subscriber":
            self.interests[rec["id"]] = {}
        return rec

    def update(self, resource: Resource, rid: int, item: Any) -> dict:
        """Apply a PUT: the fields sent replace those fields; others are kept."""
        with self.lock:
            rec = self.get(resource, rid)
            v = self.validate_item(resource, item, index=0, update_of=rec, url_id=rid)
            self._check_unique(resource, v, rid, {})
            self._rules(resource, v, rec)
            self.index_record(resource, rec, add=False)
            rec.update(v)
            rec["date_modified_utc"] = self.now_str()
            self._after_write(resource, rec)
            self.index_record(resource, rec)
            return rec

    def get(self, resource: Resource, rid: int) -> dict:
        rec = self.data[resource.self_path].get(rid)
        if rec is None or (
            resource.name in CONTENT_TYPES and rec.get("content_type") != resource.name
        ):
            raise Problem(404, f"there is no {resource.name} with id {rid}")
        return rec

    def delete(self, resource: Resource, rid: int) -> None:
        collection = resource.self_path
        with self.lock:
            rec = self.get(resource, rid)
            if resource.name == "blast" and rec.get("status") == 4:
                raise Problem(409, "a sent blast cannot be deleted")
            self.index_record(resource, rec, add=False)
            del self.data[collection][rid]
            if resource.name == "subscriber":
                self._unsubscribe(rec, source="api")
            elif resource.name == "segment":
                self.members.pop(rid, None)
                self._drop_refs("segment", rid)
            elif resource.name == "category":
                for scores in self.interests.values():
                    scores.pop(rid, None)
                self._drop_refs("category", rid)

    def _drop_refs(self, target: str, rid: int) -> None:
        # Deleting a segment or category removes it from content and blast targets,
        # so later reads never point at a missing object.
        plural = "segments" if target == "segment" else "categories"
        for coll in ("content", "blast"):
            for rec in self.data[coll].values():
                for key in (plural, "target_" + plural):
                    lst = rec.get(key)
                    if lst and rid in lst:
                        lst.remove(rid)

    def _unsubscribe(self, rec: dict, *, source: str, when: str | None = None) -> None:
        sid = rec["id"]
        for members in self.members.values():
            members.discard(sid)
        self._recount()
        self.interests.pop(sid, None)
        self.data["unsubscribe"][sid] = {
            "id": sid,
            "first_name": rec.get("first_name"),
            "last_name": rec.get("last_name"),
            "email": rec.get("email"),
            "external_id": rec.get("external_id"),
            "date_subscribed_utc": rec.get("date_subscribed_utc"),
            "date_unsubscribed_utc": when or self.now_str(),
            "source": source,
        }

    def _recount(self) -> None:
        for seg_id, members in self.members.items():
            seg = self.data["segment"].get(seg_id)
            if seg is not None:
                seg["subscriber_count"] = len(members)

    # ------------------------------------------------------------------ membership
    @staticmethod
    def member_id(items: list) -> int:
        """The subscriber id of a membership body: exactly one ``{"id": n}``."""
        if len(items) != 1 or not isinstance(items[0], dict) or "id" not in items[0]:
            raise Problem(400, "template.data must hold exactly one {'id': <subscriber id>}")
        return _ref_id(items[0]["id"], "template.data[0].id")

    def add_member(self, seg_id: int, sid: int) -> dict:
        with self.lock:
            sub = self.data["subscriber"].get(sid)
            if sub is None:
                raise Problem(400, f"template.data[0].id: there is no subscriber with id {sid}")
            if sid in self._members_of(seg_id):
                raise Problem(409, f"subscriber {sid} is already a member of segment {seg_id}")
            self._set_member(seg_id, sid, True)
            return sub

    def remove_member(self, seg_id: int, sid: int) -> None:
        with self.lock:
            if sid not in self._members_of(seg_id):
                raise Problem(404, f"subscriber {sid} is not a member of segment {seg_id}")
            self._set_member(seg_id, sid, False)

    def _members_of(self, seg_id: int) -> set[int]:
        self.get(RESOURCES["segment"], seg_id)  # 404 for an unknown segment
        return self.members[seg_id]

    def _set_member(self, seg_id: int, sid: int, member: bool) -> None:
        members = self.members[seg_id]
        if member:
            members.add(sid)
        else:
            members.discard(sid)
        seg = self.data["segment"][seg_id]
        seg["subscriber_count"] = len(members)
        seg["date_modified_utc"] = self.now_str()

    # ------------------------------------------------------------------ reads
    def interest_rows(self, sid: int) -> list[dict]:
        scores = self.interests.get(sid, {})
        rows = []
        for cid, score in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])):
            cat = self.data["category"].get(cid)
            if cat is not None:
                rows.append({"id": cid, "description": cat["description"], "score": score})
        return rows

    def category_subscribers(self, cid: int) -> list[dict]:
        return [
            self.data["subscriber"][sid]
            for sid, scores in self.interests.items()
            if cid in scores and sid in self.data["subscriber"]
        ]

    def content_insight_rows(self) -> list[dict]:
        rows = []
        for rec in self.data["content"].values():
            h = _h(rec["id"])
            delivered = 80 + h % 400
            opens = delivered * (30 + h % 50) // 100
            uopens = opens * (70 + h % 25) // 100
            clicks = opens * (10 + h % 40) // 100
            uclicks = clicks * (60 + h % 35) // 100
            rows.append(
                {
                    "content": rec["id"],
                    "content_type": rec["content_type"],
                    "title": rec.get("title"),
                    "delivered": delivered,
                    "opens": opens,
                    "unique_opens": uopens,
                    "clicks": clicks,
                    "unique_clicks": uclicks,
                    "impressions": delivered + h % 300,
                    "audience_reach": uopens,
                    "engagement_score": min(100, (uopens + 3 * uclicks) * 100 // max(delivered, 1)),
                }
            )
        return rows

    def subscriber_insight_rows(self) -> list[dict]:
        rows = []
        for rec in self.data["subscriber"].values():
            if rec.get("subscriber_privacy_level") == 2:
                continue  # documented: level 2 activity is left out of insights
            h = _h(rec["id"])
            delivered = 5 + h % 60
            opens = delivered * (h % 90) // 100
            clicks = opens * (h % 60) // 100
            rows.append(
                {
                    "subscriber": rec["id"],
                    "email": rec["email"],
                    "delivered": delivered,
                    "opens": opens,
                    "unique_opens": opens * 9 // 10,
                    "clicks": clicks,
                    "unique_clicks": clicks * 9 // 10,
                    "sessions": clicks + h % 7,
                    "engagement_score": min(100, (opens + 3 * clicks) * 100 // max(delivered, 1)),
                }
            )
        return rows


def _h(n: int) -> int:
    # A cheap deterministic hash so insight numbers are stable across runs and processes.
    return (n * 2654435761) % 2**32 >> 7
