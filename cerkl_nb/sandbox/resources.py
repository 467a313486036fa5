"""The shapes of Cerkl API v3 objects as the sandbox serves them.

One table of :class:`Field` per resource drives everything: body validation, the
``filters_json`` rules, the rendering of references as ``{"id", "self"}`` and the
OpenAPI schemas. Field names come from Cerkl's documentation (see
``/work/shared/cerkl-api-v3.md`` §2.3 and §3); where the docs are silent the choice is
written down in ``docs/sandbox.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Field",
    "Resource",
    "LOOKUPS",
    "RESOURCES",
    "CONTENT_TYPES",
    "EXAMPLES",
]

# Field kinds:
#   str, int, bool, date ("YYYY-MM-DD HH:MM:SS" UTC), email, ref (a {"id": n} reference
#   to a lookup or collection), refs (a list of references), merge_fields (blast only).
SCALAR_KINDS = frozenset({"str", "int", "bool", "date", "email", "ref"})


@dataclass(frozen=True)
class Field:
    """One field of a resource.

    Attributes
    ----------
    name
        The JSON key.
    kind
        ``str``, ``int``, ``bool``, ``date``, ``email``, ``ref``, ``refs`` or
        ``merge_fields``.
    target
        For ``ref``/``refs``: the lookup list or collection the id must exist in.
    required
        Must be present (and not null) on create.
    required_on_update
        Must be present on PUT too (Cerkl documents this for two subscriber fields).
    readonly
        Set by the server; ignored when a client sends it back (GET-modify-PUT works).
    unique
        Duplicate values answer 409.
    description
        Shown in the OpenAPI description.
    """

    name: str
    kind: str
    target: str | None = None
    required: bool = False
    required_on_update: bool = False
    readonly: bool = False
    unique: bool = False
    description: str = ""

    @property
    def filterable(self) -> bool:
        """Scalar fields (and references, by id) can be used in ``filters_json``.

        ``self`` is computed from the request's Host, not stored, so it is not searchable.
        """
        return self.kind in SCALAR_KINDS and self.name != "self"


@dataclass(frozen=True)
class Resource:
    """A collection with its fields.

    Attributes
    ----------
    name
        The path segment (``subscriber``) and the OpenAPI tag.
    fields
        All fields, including the read-only ones, in output order.
    self_path
        The collection whose URL is each item's ``self`` (content types use ``content``).
    """

    name: str
    fields: tuple[Field, ...]
    self_path: str
    description: str = ""

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def writable(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.readonly)


def _ro(name: str, kind: str = "date", target: str | None = None, desc: str = "") -> Field:
    return Field(name, kind, target, readonly=True, description=desc)


_ID = _ro("id", "int", desc="Assigned by the server.")
_SELF = _ro("self", "str", desc="Canonical URL of this object.")
_CREATED = _ro("date_created_utc")
_MODIFIED = _ro("date_modified_utc")

SUBSCRIBER = Resource(
    "subscriber",
    (
        _ID,
        Field("first_name", "str"),
        Field("last_name", "str"),
        Field("email", "email", required=True, unique=True, description="Unique per audience."),
        Field("external_id", "str", unique=True),
        Field(
            "subscriber_privacy_level",
            "ref",
            "subscriber_privacy_level",
            required=True,
            required_on_update=True,
            description="Required on create and update; {'id': n} or a bare integer.",
        ),
        Field(
            "subscriber_status",
            "ref",
            "subscriber_status",
            required=True,
            required_on_update=True,
            description="Required on create and update; {'id': n} or a bare integer.",
        ),
        Field("department", "str", description="Organisational attribute (sandbox choice)."),
        Field("job_title", "str", description="Organisational attribute (sandbox choice)."),
        Field("location", "str", description="Organisational attribute (sandbox choice)."),
        _ro("date_subscribed_utc"),
        _MODIFIED,
        _SELF,
    ),
    "subscriber",
    "The organisation's audience. Email addresses are unique.",
)

UNSUBSCRIBE = Resource(
    "unsubscribe",
    (
        _ID,
        _ro("first_name", "str"),
        _ro("last_name", "str"),
        _ro("email", "email"),
        _ro("external_id", "str"),
        _ro("date_subscribed_utc"),
        _ro("date_unsubscribed_utc"),
        _ro("source", "str", desc="How the subscriber left: 'api', 'email_link' or 'admin'."),
        _SELF,
    ),
    "unsubscribe",
    "Former subscribers. The id is the former subscriber's id.",
)

SEGMENT = Resource(
    "segment",
    (
        _ID,
        Field("description", "str", required=True, description="The segment's name."),
        Field("external_id", "str", unique=True),
        _ro("subscriber_count", "int", desc="Number of members (sandbox addition)."),
        _CREATED,
        _MODIFIED,
        _SELF,
    ),
    "segment",
    "Manual (non-dynamic) segments of the audience.",
)

CATEGORY = Resource(
    "category",
    (
        _ID,
        Field("description", "str", required=True, description="The category's name."),
        Field("external_id", "str", unique=True),
        _CREATED,
        _MODIFIED,
        _SELF,
    ),
    "category",
    "Interest topics; content is tagged with them.",
)

BLAST = Resource(
    "blast",
    (
        _ID,
        Field(
            "status",
            "ref",
            "blast_status",
            required=True,
            description=(
                "1 Draft, 2 Sending now, 3 Scheduled, 4 Sent. 4 cannot be written: "
                "send 2 (it becomes 4 at once)."
            ),
        ),
        Field("blast_template", "ref", "blast_template"),
        Field("blast_merge_fields", "merge_fields", "merge_field_type"),
        Field("name", "str", required=True),
        Field("reply_to_email", "email", description="Must be in the verified reply-to domain."),
        Field("reply_to_name", "str"),
        Field("subject", "str", required=True),
        Field("message", "str"),
        Field("target_segments", "refs", "segment"),
        Field("target_categories", "refs", "category"),
        Field("target_conditional", "ref", "target_conditional"),
        Field(
            "date_scheduled_utc",
            "date",
            description="Required when status is 3 (Scheduled), in the future of the server clock.",
        ),
        _ro("date_sent_utc"),
        _CREATED,
        _MODIFIED,
        _SELF,
    ),
    "blast",
    "One-off emails to segments, categories or everyone. Never actually sent.",
)

_CONTENT_COMMON_HEAD = (
    _ID,
    _ro("content_type", "str", desc="story, event, need or link (sandbox addition)."),
    Field("author", "ref", "author"),
    Field("title", "str", required=True),
    Field("summary", "str"),
    Field("body", "str"),
)
_CONTENT_COMMON_TAIL = (
    Field("more_button_text", "str"),
    Field("image_url", "str"),
    Field("categories", "refs", "category"),
    Field("external_id", "str", unique=True),
    Field("priority", "ref", "priority"),
    Field("priority_until_date_utc", "date"),
)
_CONTENT_FLAGS = (
    Field("private", "bool"),
    Field("segments", "refs", "segment"),
    Field("exclusive_to_segment", "bool"),
    Field("available_in_aptly", "bool"),
    Field("enable_comments", "bool"),
    Field("enable_link_tracking", "bool"),
    Field("status", "ref", "content_status"),
)
_CONTENT_END = (_CREATED, _MODIFIED, _SELF)

STORY = Resource(
    "story",
    _CONTENT_COMMON_HEAD
    + _CONTENT_COMMON_TAIL
    + (Field("publish_date_utc", "date"), Field("expiration_date_utc", "date"))
    + _CONTENT_FLAGS
    + (Field("evergreen", "bool"),)
    + _CONTENT_END,
    "content",
    "Stories. Written here, read through /content.",
)
EVENT = Resource(
    "event",
    _CONTENT_COMMON_HEAD
    + (Field("external_url", "str"),)
    + _CONTENT_COMMON_TAIL
    + _CONTENT_FLAGS
    + (
        Field("event_location", "str"),
        Field("event_street_address", "str"),
        Field("event_city", "str"),
        Field("event_postal_code", "str"),
        Field("event_region", "str"),
        Field("event_country", "str"),
        Field("event_all_day", "bool"),
        Field("event_start_date_time_utc", "date", required=True),
        Field("event_end_date_time_utc", "date", description="Required unless event_all_day."),
        Field("event_time_zone", "ref", "time_zone"),
        Field("event_registration_url", "str"),
    )
    + _CONTENT_END,
    "content",
    "Events. Written here, read through /content.",
)
NEED = Resource(
    "need",
    _CONTENT_COMMON_HEAD
    + _CONTENT_COMMON_TAIL
    + (Field("publish_date_utc", "date"),)
    + _CONTENT_FLAGS
    + (Field("need_quantity", "int"), Field("need_by_date_utc", "date"))
    + _CONTENT_END,
    "content",
    "Needs (requests for volunteers or items). Written here, read through /content.",
)
LINK = Resource(
    "link",
    _CONTENT_COMMON_HEAD
    + (Field("external_url", "str", required=True),)
    + _CONTENT_COMMON_TAIL
    + (Field("publish_date_utc", "date"), Field("expiration_date_utc", "date"))
    + _CONTENT_FLAGS
    + (Field("evergreen", "bool"),)
    + _CONTENT_END,
    "content",
    "Links to outside articles. Written here, read through /content.",
)

CONTENT_TYPES: dict[str, Resource] = {"story": STORY, "event": EVENT, "need": NEED, "link": LINK}


def _content_union() -> Resource:
    seen: dict[str, Field] = {}
    for r in CONTENT_TYPES.values():
        for f in r.fields:
            seen.setdefault(f.name, f)
    # On the read side every field is output only.
    fields = tuple(
        Field(f.name, f.kind, f.target, readonly=True, description=f.description)
        for f in seen.values()
    )
    return Resource("content", fields, "content", "All content (stories, events, needs, links).")


CONTENT = _content_union()

CONTENT_INSIGHT = Resource(
    "content_insights",
    (
        Field("content", "ref", "content", readonly=True),
        _ro("content_type", "str"),
        _ro("title", "str"),
        _ro("delivered", "int"),
        _ro("opens", "int"),
        _ro("unique_opens", "int"),
        _ro("clicks", "int"),
        _ro("unique_clicks", "int"),
        _ro("impressions", "int"),
        _ro("audience_reach", "int"),
        _ro("engagement_score", "int", desc="0-100."),
    ),
    "content_insights",
    "Engagement per piece of content (deterministic fake numbers).",
)

SUBSCRIBER_INSIGHT = Resource(
    "subscriber_insights",
    (
        Field("subscriber", "ref", "subscriber", readonly=True),
        _ro("email", "email"),
        _ro("delivered", "int"),
        _ro("opens", "int"),
        _ro("unique_opens", "int"),
        _ro("clicks", "int"),
        _ro("unique_clicks", "int"),
        _ro("sessions", "int"),
        _ro("engagement_score", "int", desc="0-100."),
    ),
    "subscriber_insights",
    "Engagement per subscriber; privacy level 2 subscribers are left out.",
)

SUBSCRIBER_INTEREST = Resource(
    "subscriber_interest",
    (
        _ID,
        _ro("description", "str"),
        _ro("score", "int", desc="Interest strength 0-100 (sandbox choice)."),
        _SELF,
    ),
    "category",
    "The categories a subscriber cares most about.",
)

LOOKUP = Resource(
    "lookup",
    (_ID, _ro("description", "str"), _SELF),
    "lookup",
    "A read-only list of values referenced by id.",
)

RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        SUBSCRIBER,
        UNSUBSCRIBE,
        SEGMENT,
        CATEGORY,
        BLAST,
        CONTENT,
        STORY,
        EVENT,
        NEED,
        LINK,
        CONTENT_INSIGHT,
        SUBSCRIBER_INSIGHT,
        SUBSCRIBER_INTEREST,
    )
}

#: Read-only lookup lists. The first two value sets are documented by Cerkl
#: (subscriber_status is a labelled guess); the rest are sandbox inventions.
LOOKUPS: dict[str, tuple[tuple[int, str], ...]] = {
    "subscriber_privacy_level": (
        (1, "Experience personalized"),
        (2, "Experience personalized, activity excluded from reporting"),
        (3, "Experience not personalized"),
    ),
    "subscriber_status": (
        (1, "Email Blasts and Newsletters"),
        (2, "Blasts Only"),
        (3, "Newsletters Only"),
        (4, "Unsubscribed"),
    ),
    "blast_status": ((1, "Draft"), (2, "Sending now"), (3, "Scheduled"), (4, "Sent")),
    "priority": ((1, "Normal"), (2, "Top Story to everyone"), (3, "Required to everyone")),
    "content_status": ((1, "Approved"), (2, "Queue"), (3, "Draft"), (4, "Archive")),
    "time_zone": (
        (1, "UTC"),
        (2, "America/New_York"),
        (3, "America/Chicago"),
        (4, "America/Denver"),
        (5, "America/Los_Angeles"),
        (6, "Europe/London"),
        (7, "Europe/Berlin"),
        (8, "Asia/Kolkata"),
    ),
    "author": (
        (1, "Comms Team"),
        (2, "Grace Hopper"),
        (3, "Alan Turing"),
        (4, "Katherine Johnson"),
        (5, "HR Team"),
    ),
    "blast_template": ((1, "Plain"), (2, "Branded header"), (3, "Newsletter style")),
    "target_conditional": ((1, "Any of the targets (OR)"), (2, "All of the targets (AND)")),
    "merge_field_type": ((1, "Text"), (2, "Link"), (3, "Image")),
}

#: One example body item per writable resource: the explorer pre-fills from these.
EXAMPLES: dict[str, dict[str, Any]] = {
    "subscriber": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada.lovelace@example.com",
        "external_id": "EMP-0042",
        "subscriber_privacy_level": {"id": 1},
        "subscriber_status": {"id": 1},
    },
    "segment": {"description": "Engineers", "external_id": "seg-12345"},
    "segment_member": {"id": 100001},
    "category": {"description": "Engineering"},
    "blast": {
        "status": {"id": 1},
        "blast_template": {"id": 1},
        "blast_merge_fields": [{"id": 1, "type": {"id": 1}, "value": "Hello"}],
        "name": "Q3 all-hands",
        "reply_to_email": "comms@example.com",
        "reply_to_name": "Comms Team",
        "subject": "All-hands on Friday",
        "message": "<p>Join us in the atrium.</p>",
        "target_segments": [{"id": 5001}],
        "target_categories": [{"id": 501}],
        "target_conditional": {"id": 1},
        "date_scheduled_utc": "2030-07-20 15:00:00",
    },
    "story": {
        "author": {"id": 1},
        "title": "New API launched",
        "summary": "Short teaser",
        "body": "<p>Full text</p>",
        "more_button_text": "Read more",
        "image_url": "https://example.com/i.png",
        "categories": [{"id": 501}],
        "external_id": "cms-981",
        "priority": {"id": 1},
        "priority_until_date_utc": "2030-08-01 00:00:00",
        "publish_date_utc": "2030-07-20 12:00:00",
        "expiration_date_utc": "2030-09-01 00:00:00",
        "private": False,
        "segments": [{"id": 5001}],
        "exclusive_to_segment": False,
        "available_in_aptly": True,
        "enable_comments": True,
        "enable_link_tracking": True,
        "status": {"id": 1},
        "evergreen": False,
    },
    "event": {
        "author": {"id": 1},
        "title": "Innovation day",
        "summary": "A day of demos",
        "categories": [{"id": 501}],
        "event_location": "Innovation Center",
        "event_street_address": "1 Main St",
        "event_city": "Cincinnati",
        "event_postal_code": "45202",
        "event_region": "OH",
        "event_country": "US",
        "event_all_day": False,
        "event_start_date_time_utc": "2030-08-20 16:00:00",
        "event_end_date_time_utc": "2030-08-20 17:00:00",
        "event_time_zone": {"id": 2},
        "event_registration_url": "https://example.com/register",
        "external_url": "https://example.com/event",
        "status": {"id": 1},
    },
    "need": {
        "author": {"id": 1},
        "title": "Volunteers for the food drive",
        "summary": "We need 25 people",
        "categories": [{"id": 501}],
        "need_quantity": 25,
        "need_by_date_utc": "2030-08-20 00:00:00",
        "status": {"id": 1},
    },
    "link": {
        "author": {"id": 1},
        "title": "Industry news",
        "summary": "An outside article",
        "external_url": "https://example.com/article",
        "categories": [{"id": 501}],
        "status": {"id": 1},
    },
}
