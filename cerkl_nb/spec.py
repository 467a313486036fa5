"""Cerkl Broadcast API v3 as data: the one home for what this project knows about it.

Everything else derives from this module: the client (base URL, token path, envelope),
the paging helpers (filter operators, tolerant unwrapping), the sandbox (its routes, its
field tables and its OpenAPI description) and the explorer's catalogue. It is
plain data and a few pure functions, uses the standard library only and imports nothing
from ``cerkl_nb``, so any part of the package may import it without a cycle.

What Cerkl's public documentation states and what the sandbox chose where it is silent
are told apart by :attr:`Endpoint.documented` (and ``docs/cerkl-api.md`` /
``docs/sandbox.md`` in prose). The module is longer than 600 lines because it is the
field tables of a dozen resources; splitting them would only scatter the facts again.

Examples
--------
>>> wrap_template({"description": "Engineers"})
{'template': {'version': '3.0', 'data': [{'description': 'Engineers'}]}}
>>> find_endpoint("GET", "/segment/5001").summary
'Get one segment'
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "ENV_CLIENT_ID",
    "ENV_CLIENT_SECRET",
    "ENV_BASE_URL",
    "ENV_TOKEN_URL",
    "ENV_BASIC_AUTH_ENCODING",
    "ENV_SANDBOX_URL",
    "ENV_SANDBOX_KEY",
    "ENV_SANDBOX_PARENT_PID",
    "ENV_STATE_DIR",
    "SANDBOX_KEY_HEADER",
    "DEFAULT_ACCEPT_LANGUAGE",
    "default_headers",
    "is_loopback_host",
    "origin_of",
    "PRODUCTION_HOST",
    "API_PREFIX",
    "PRODUCTION_BASE_URL",
    "TOKEN_PATH",
    "PRODUCTION_TOKEN_URL",
    "OPENAPI_PATH",
    "ENVELOPE_VERSION",
    "TOKEN_LIFETIME_S",
    "DATE_FORMAT",
    "FILTER_OPERATORS",
    "DOCUMENTED_FILTER_OPERATORS",
    "FILTER_OPERATOR_ALIASES",
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "MAX_BATCH_ITEMS",
    "MAX_TEXT_LENGTH",
    "MAX_FILTER_VALUES",
    "SCALAR_KINDS",
    "wrap_template",
    "unwrap_items",
    "is_envelope",
    "Field",
    "Resource",
    "Param",
    "PATH_PARAM",
    "Endpoint",
    "RESOURCES",
    "CONTENT_TYPES",
    "LOOKUP",
    "LOOKUPS",
    "DOCUMENTED_LOOKUPS",
    "EXAMPLES",
    "ENDPOINTS",
    "find_endpoint",
]

# --------------------------------------------------------------------------- addresses

PRODUCTION_HOST = "api.cerkl.com"
API_PREFIX = "/v3"
PRODUCTION_BASE_URL = f"https://{PRODUCTION_HOST}{API_PREFIX}"
#: Relative to a base URL that ends in ``/v3``; note the capital T of Cerkl's docs.
TOKEN_PATH = "/oauth/Token"
PRODUCTION_TOKEN_URL = PRODUCTION_BASE_URL + TOKEN_PATH
#: Where the sandbox serves its OpenAPI description (relative to the base URL and to the
#: server root). Cerkl production publishes none we can read.
OPENAPI_PATH = "/openapi.json"

#: The sandbox's standard port (``cerkl-nb sandbox``, ``cerkl-nb lab``), so its standard
#: address is ``http://127.0.0.1:8765/v3``; exported Postman collections default to it.
SANDBOX_DEFAULT_PORT = 8765

# ------------------------------------------------------ names and rules every part shares

#: The environment variables cerkl-nb reads. Credentials and the API's address:
ENV_CLIENT_ID = "CERKL_CLIENT_ID"
ENV_CLIENT_SECRET = "CERKL_CLIENT_SECRET"
ENV_BASE_URL = "CERKL_BASE_URL"
ENV_TOKEN_URL = "CERKL_TOKEN_URL"
ENV_BASIC_AUTH_ENCODING = "CERKL_BASIC_AUTH_ENCODING"
#: Where a sandbox started outside the kernel publishes its root URL and its admin key.
ENV_SANDBOX_URL = "CERKL_SANDBOX_URL"
ENV_SANDBOX_KEY = "CERKL_SANDBOX_KEY"
#: The launcher's process id, for ``cerkl-nb sandbox --exit-with-parent``.
ENV_SANDBOX_PARENT_PID = "CERKL_SANDBOX_PARENT_PID"
#: The folder of a user's ready-file and sandbox log (``~/.cerkl-nb`` by default).
ENV_STATE_DIR = "CERKL_NB_STATE_DIR"
#: The request header that carries a sandbox's admin key.
SANDBOX_KEY_HEADER = "X-Sandbox-Key"

#: Cerkl's documented example sends ``Accept-Language: en_US``.
DEFAULT_ACCEPT_LANGUAGE = "en_US"


def default_headers(accept_language: str = DEFAULT_ACCEPT_LANGUAGE) -> dict[str, str]:
    """The headers of Cerkl's documented curl example: ``Accept`` and ``Accept-Language``."""
    return {"Accept": "application/json", "Accept-Language": accept_language}


_HOST_PORT = re.compile(r"^(?P<name>\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::[0-9]{1,5})?$")


def is_loopback_host(host: str | None) -> bool:
    """True for the literal name ``localhost``, ``127.0.0.0/8`` and ``::1``.

    ``host`` may carry a port (``127.0.0.1:8765``, ``[::1]:8765``), as a ``Host`` header
    does. Names under ``.localhost`` do not count: a resolver may send them anywhere.
    """
    import ipaddress

    text = (host or "").strip()
    if text.count(":") > 1 and not text.startswith("["):
        text = f"[{text}]"  # a bare IPv6 address, as urllib's hostname gives it
    m = _HOST_PORT.match(text)
    if m is None:
        return False
    name = m.group("name").strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


_DEFAULT_PORTS = {"https": 443, "http": 80}


def origin_of(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a URL, lower-cased, with the default port filled in.

    ``https://api.cerkl.com:443/v3`` and ``https://api.cerkl.com/v3`` have the same origin.
    A malformed port counts as the scheme's default; a URL without a scheme or host gives
    empty strings, which match no configured origin.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = _DEFAULT_PORTS.get(scheme, 80)
    return scheme, (parts.hostname or "").lower().rstrip("."), port


# --------------------------------------------------------------------------- conventions

#: The ``template.version`` of Cerkl's request envelope.
ENVELOPE_VERSION = "3.0"
#: Cerkl documents 12-hour access tokens.
TOKEN_LIFETIME_S = 43200
#: How dates look in bodies and filters (UTC, no zone), as in Cerkl's filter example.
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

#: Operators for ``filters_json``. Cerkl documents only ``gt``; the rest are the sandbox's
#: choice, and the client passes any operator name through unchecked.
FILTER_OPERATORS: tuple[str, ...] = ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "in")
DOCUMENTED_FILTER_OPERATORS: tuple[str, ...] = ("gt",)
#: Other names the sandbox accepts for an operator.
FILTER_OPERATOR_ALIASES: Mapping[str, str] = {"like": "contains"}

#: Cerkl documents ``page`` (default 1) and ``page_size`` (default 100).
DEFAULT_PAGE_SIZE = 100
#: Not documented; the sandbox refuses more than the default.
MAX_PAGE_SIZE = 100
#: Sandbox limits (Cerkl publishes none): items in one ``template.data``, characters in
#: one string field, values in one ``in`` filter or reference list.
MAX_BATCH_ITEMS = 1000
MAX_TEXT_LENGTH = 20000
MAX_FILTER_VALUES = 1000


def wrap_template(items: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Wrap one record or a sequence of records in Cerkl's request envelope.

    Parameters
    ----------
    items
        One mapping, or a sequence of mappings.

    Returns
    -------
    dict
        ``{"template": {"version": "3.0", "data": [...]}}``; ``data`` is always a list,
        as Cerkl's documentation shows even for one object.
    """
    data = [items] if isinstance(items, Mapping) else list(items)
    return {"template": {"version": ENVELOPE_VERSION, "data": data}}


def is_envelope(value: Any) -> bool:
    """True when ``value`` is a mapping that holds records under a known key."""
    return isinstance(value, Mapping) and any(
        k in value for k in ("data", "items", "results", "collection")
    )


def unwrap_items(body: Any) -> list[dict[str, Any]]:
    """Return the list of records in a response body, whatever the envelope.

    Cerkl does not document its response shape, so this accepts the plausible ones: a
    top-level list; ``data`` (list or single object); ``items``; ``results``;
    Collection+JSON ``collection.items`` (``{name, value}`` pairs become a dict); a
    request-style ``template.data``; or a bare object that looks like a record.
    """
    if body is None:
        return []
    if isinstance(body, list):
        return [x for x in body if isinstance(x, dict)]
    if not isinstance(body, Mapping):
        return []
    for key in ("data", "items", "results", "records"):
        if key in body:
            value = body[key]
            if isinstance(value, list):
                return [x for x in value if isinstance(x, dict)]
            if isinstance(value, Mapping):
                return unwrap_items(value) if is_envelope(value) else [dict(value)]
            if value is None:
                return []
    coll = body.get("collection")
    if isinstance(coll, Mapping):
        items = coll.get("items") or []
        return [_from_collection_json(x) for x in items if isinstance(x, Mapping)]
    tmpl = body.get("template")
    if isinstance(tmpl, Mapping) and isinstance(tmpl.get("data"), list):
        return [x for x in tmpl["data"] if isinstance(x, dict)]
    if "error" in body:
        return []
    if "id" in body:
        return [dict(body)]
    return []


def _from_collection_json(item: Mapping[str, Any]) -> dict[str, Any]:
    data = item.get("data")
    if isinstance(data, list) and all(isinstance(d, Mapping) and "name" in d for d in data):
        out = {d["name"]: d.get("value") for d in data}
        if "href" in item:
            out.setdefault("self", item["href"])
        return out
    return dict(item)


# --------------------------------------------------------------------------- record shapes

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
        One line of help (shown in the OpenAPI description).
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
    """The shape of one kind of record.

    Attributes
    ----------
    name
        The path segment (``subscriber``) and the OpenAPI tag.
    fields
        All fields, including the read-only ones, in output order.
    self_path
        The collection whose URL is each item's ``self`` (content types use ``content``).
    description
        One line about the records.
    """

    name: str
    fields: tuple[Field, ...]
    self_path: str
    description: str = ""

    def field(self, name: str) -> Field | None:
        """The field called ``name``, or ``None``."""
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def writable(self) -> tuple[Field, ...]:
        """The fields a client may send."""
        return tuple(f for f in self.fields if not f.readonly)


def _ro(name: str, kind: str = "date", target: str | None = None, desc: str = "") -> Field:
    return Field(name, kind, target, readonly=True, description=desc)


_ID = _ro("id", "int", desc="Assigned by the server.")
_SELF = _ro("self", "str", desc="Canonical URL of this object.")
_CREATED = _ro("date_created_utc", desc="When the object was created (sandbox addition).")
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

#: The four kinds of content, written through their own paths and read through /content.
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

#: The shape of every lookup list item.
LOOKUP = Resource(
    "lookup",
    (_ID, _ro("description", "str"), _SELF),
    "lookup",
    "A read-only list of values referenced by id.",
)

#: Every record shape, by name.
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

#: Read-only lookup lists referenced by id in bodies. Cerkl documents the privacy levels
#: and blast statuses; subscriber_status values are a labelled guess; the rest are
#: sandbox inventions.
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
#: The lookup lists that have an endpoint in Cerkl's documentation.
DOCUMENTED_LOOKUPS: tuple[str, ...] = (
    "subscriber_privacy_level",
    "subscriber_status",
    "blast_status",
)

# --------------------------------------------------------------------------- examples

#: One example body item per writable resource, for create requests. The ids they refer
#: to (segment 5001, category 501, subscriber 100001, lookups) exist in a freshly seeded
#: sandbox, and the unique values (email, external_id) are not taken there, so every
#: example is answered with 2xx.
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


def _update_example(resource: str) -> dict[str, Any]:
    """A PUT example: the create example without unique values (they belong to the
    record just created, so reusing them on another record would answer 409)."""
    unique = {f.name for f in RESOURCES[resource].fields if f.unique}
    item = {k: v for k, v in EXAMPLES[resource].items() if k not in unique}
    if resource == "subscriber":
        item["last_name"] = "King"
    return item


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Param:
    """One path or query parameter of an endpoint.

    Attributes
    ----------
    name
        The parameter's name.
    location
        ``"path"`` or ``"query"``.
    required
        Whether the server insists on it.
    description
        One line of help.
    type
        The JSON-schema type (``"integer"``, ``"string"`` ...).
    default
        The server's default, if any.
    example
        A value a freshly seeded sandbox answers with 2xx.
    minimum, maximum
        Bounds for integers, if any.
    """

    name: str
    location: str
    required: bool = False
    description: str = ""
    type: str = "string"
    default: Any = None
    example: Any = None
    minimum: int | None = None
    maximum: int | None = None


#: A ``{placeholder}`` in a path template; group 1 is its name.
PATH_PARAM = re.compile(r"\{([^{}/]+)\}")


@dataclass(frozen=True)
class Endpoint:
    """One operation of the API: a method on a path.

    Attributes
    ----------
    method
        Upper-case HTTP method.
    path
        The path template relative to the base URL (``/subscriber/{id}``).
    resource
        The folder it belongs in (the OpenAPI tag): ``subscriber``, ``segment`` ...
    summary
        A short human title.
    kind
        ``token``, ``list``, ``get``, ``create``, ``update``, ``delete``, ``template``,
        ``add_member``, ``remove_member`` or ``remove_member_body``.
    model
        The record shape it reads or writes: a key of :data:`RESOURCES`, a lookup name
        (:data:`LOOKUPS`), ``"segment_member"`` or ``None``.
    params
        Path and query parameters, each with an example.
    example
        One example item for the body's ``template.data`` (see :attr:`example_body`), or
        ``None`` for requests without a body.
    status
        The status code of success.
    documented
        Whether Cerkl's public documentation describes this operation; the others are
        the sandbox's own (``x-sandbox-only`` in its OpenAPI description).
    description
        Longer help, if any.
    filterable
        Whether ``filters_json`` applies.
    """

    method: str
    path: str
    resource: str
    summary: str
    kind: str
    model: str | None = None
    params: tuple[Param, ...] = ()
    # A dict cannot be hashed: leave it out of the hash so endpoints can be dict keys.
    example: Mapping[str, Any] | None = field(default=None, hash=False)
    status: int = 200
    documented: bool = True
    description: str = ""
    filterable: bool = True

    @property
    def key(self) -> str:
        """``"GET /subscriber"``: unique within a list of operations."""
        return f"{self.method} {self.path}"

    @property
    def label(self) -> str:
        """A menu label such as ``"GET /subscriber: List subscribers"``."""
        return f"{self.key}: {self.summary}" if self.summary else self.key

    @property
    def path_params(self) -> tuple[Param, ...]:
        """Parameters that fill ``{placeholders}`` in the path, in path order."""
        declared = {p.name: p for p in self.params if p.location == "path"}
        names = PATH_PARAM.findall(self.path)
        return tuple(declared.get(n, Param(n, "path", required=True)) for n in names)

    @property
    def query_params(self) -> tuple[Param, ...]:
        """Query-string parameters."""
        return tuple(p for p in self.params if p.location == "query")

    @property
    def filter_fields(self) -> tuple[str, ...]:
        """Names of the fields of :attr:`model` that ``filters_json`` can use."""
        res = RESOURCES.get(self.model or "") or (LOOKUP if self.model in LOOKUPS else None)
        return tuple(f.name for f in res.fields if f.filterable) if res is not None else ()

    @property
    def sandbox_only(self) -> bool:
        """True when only the sandbox offers this operation."""
        return not self.documented

    @property
    def body_fields(self) -> tuple[Field, ...]:
        """The fields a request body may hold (empty for requests without a body)."""
        if self.kind in ("create", "update") and self.model in RESOURCES:
            return RESOURCES[self.model].writable
        if self.kind in ("add_member", "remove_member_body"):
            return (Field("id", "ref", "subscriber", required=True),)
        return ()

    @property
    def example_body(self) -> dict[str, Any] | None:
        """The example wrapped in the request envelope, or ``None``."""
        # A deep copy: callers edit the body they get (the explorer's editor does).
        return None if self.example is None else wrap_template(copy.deepcopy(dict(self.example)))

    @property
    def operation_id(self) -> str:
        """A stable identifier such as ``get_subscriber_id``."""
        if self.kind == "template":  # /blast/template must not clash with /blast_template
            return f"get_{self.model}_body_template"
        slug = re.sub(r"[{}]", "", self.path).strip("/").replace("/", "_") or "root"
        return f"{self.method.lower()}_{slug}"


def _id_param(name: str, example: int, what: str) -> Param:
    return Param(name, "path", True, f"The {what}'s id.", "integer", example=example, minimum=1)


def _filter_example(model: str | None) -> str:
    """A ``filters_json`` value that suits the model (the documented one where it fits)."""
    res = RESOURCES.get(model or "", LOOKUP)
    if res.field("date_modified_utc"):
        return '{"date_modified_utc": {"gt": "2020-07-16 00:00:00"}}'
    if res.field("id"):
        return '{"id": {"gte": 1}}'
    return '{"engagement_score": {"gte": 0}}'


def _list_params(model: str | None) -> tuple[Param, ...]:
    return (
        Param("page", "query", False, "1-based page number.", "integer", 1, example=1, minimum=1),
        Param(
            "page_size",
            "query",
            False,
            f"Items per page, 1 to {MAX_PAGE_SIZE}.",
            "integer",
            DEFAULT_PAGE_SIZE,
            example=10,
            minimum=1,
            maximum=MAX_PAGE_SIZE,
        ),
        Param(
            "filters_json",
            "query",
            False,
            'URL-encoded JSON: {"<field>": {"<op>": <value>}}. Operators: '
            + ", ".join(FILTER_OPERATORS)
            + " (Cerkl documents gt). Several fields and operators combine with AND.",
            example=_filter_example(model),
        ),
    )


# Path ids used as examples, per operation. They exist in a freshly seeded sandbox, and an
# operation that deletes or changes a record uses an id no other example uses, so the
# examples can run in any order (as a converted Postman collection runs them).
_IDS: dict[str, dict[str, int]] = {
    "GET /subscriber/{id}": {"id": 100001},
    "PUT /subscriber/{id}": {"id": 100003},
    "DELETE /subscriber/{id}": {"id": 100002},
    "GET /subscriber/{id}/subscriber_interest": {"id": 100001},
    "GET /unsubscribe/{id}": {"id": 100020},
    "GET /segment/{id}": {"id": 5002},
    "PUT /segment/{id}": {"id": 5003},
    "DELETE /segment/{id}": {"id": 5009},
    "GET /segment/{id}/subscriber": {"id": 5002},
    "POST /segment/{id}/subscriber": {"id": 5005},  # subscriber 100001 is not a member
    "DELETE /segment/{id}/subscriber": {"id": 5001},  # All Staff: everyone is a member
    "DELETE /segment/{id}/subscriber/{subscriber_id}": {"id": 5001, "subscriber_id": 100004},
    "GET /category/{id}": {"id": 501},
    "PUT /category/{id}": {"id": 502},
    "DELETE /category/{id}": {"id": 510},
    "GET /category/{id}/subscriber": {"id": 501},
    "GET /blast/{id}": {"id": 3001},
    "PUT /blast/{id}": {"id": 3005},  # a draft (a sent blast cannot change)
    "DELETE /blast/{id}": {"id": 3002},  # scheduled (a sent blast cannot be deleted)
    "GET /content/{id}": {"id": 20001},
    "PUT /story/{id}": {"id": 20002},
    "DELETE /story/{id}": {"id": 20003},
    "PUT /event/{id}": {"id": 20018},
    "DELETE /event/{id}": {"id": 20019},
    "PUT /need/{id}": {"id": 20026},
    "DELETE /need/{id}": {"id": 20027},
    "PUT /link/{id}": {"id": 20032},
    "DELETE /link/{id}": {"id": 20033},
}


#: Success statuses other than 200 (the sandbox's choice: Cerkl documents none).
_SUCCESS = {"create": 201, "add_member": 201, "delete": 204, "remove_member": 204,
            "remove_member_body": 204}  # fmt: skip


class _EndpointList:
    """Collects endpoints in display order; ``crud`` states a resource's usual shape."""

    def __init__(self) -> None:
        self.eps: list[Endpoint] = []

    def add(
        self,
        method: str,
        path: str,
        resource: str,
        summary: str,
        kind: str,
        model: str | None = None,
        documented: bool = True,
        **kw: Any,
    ) -> None:
        key = f"{method} {path}"
        ids = _IDS.get(key, {})
        what = {"subscriber_id": "subscriber"}
        params = tuple(
            _id_param(n, ids.get(n, 1), what.get(n, resource)) for n in PATH_PARAM.findall(path)
        )
        if kind == "list":
            params += _list_params(model)
        status = _SUCCESS.get(kind, 200)
        example = kw.pop("example", None)
        if example is None and kind == "create":
            example = EXAMPLES[model or resource]
        elif example is None and kind == "update":
            example = _update_example(model or resource)
        self.eps.append(
            Endpoint(method, path, resource, summary, kind, model, params, example, status,
                     documented, **kw)
        )  # fmt: skip

    def crud(self, name: str, plural: str, ops: str, undocumented: str = "") -> None:
        # L list, C create, G get, U update, D delete: the usual shape of a Cerkl resource.
        # Every writable resource also has a sandbox-only template endpoint.
        if "C" in ops:
            self.add("GET", f"/{name}/template", name, f"Template for {name} bodies",
                     "template", name, False)  # fmt: skip
        for op, method, path, summary, kind in (
            ("L", "GET", f"/{name}", f"List {plural}", "list"),
            ("C", "POST", f"/{name}", f"Create {plural}", "create"),
            ("G", "GET", f"/{name}/{{id}}", f"Get one {name}", "get"),
            ("U", "PUT", f"/{name}/{{id}}", f"Update a {name}", "update"),
            ("D", "DELETE", f"/{name}/{{id}}", f"Delete a {name}", "delete"),
        ):
            if op in ops:
                self.add(method, path, name, summary, kind, name, op not in undocumented)


def _audience_endpoints(e: _EndpointList) -> None:
    """Subscribers, former subscribers, segments and categories."""
    e.crud("subscriber", "subscribers", "LCGU")
    e.add("DELETE", "/subscriber/{id}", "subscriber", "Delete (unsubscribe) a subscriber",
          "delete", "subscriber", False,
          description="The subscriber becomes an /unsubscribe record, same id.")  # fmt: skip
    e.add("GET", "/subscriber/{id}/subscriber_interest", "subscriber",
          "Categories a subscriber cares most about", "list", "subscriber_interest")  # fmt: skip
    e.crud("unsubscribe", "former subscribers", "LG")

    e.crud("segment", "segments", "LCGUD", undocumented="UD")
    e.add("GET", "/segment/{id}/subscriber", "segment", "List a segment's members", "list",
          "subscriber", False)  # fmt: skip
    e.add("POST", "/segment/{id}/subscriber", "segment", "Add one subscriber to a segment",
          "add_member", "segment_member", example=EXAMPLES["segment_member"])  # fmt: skip
    e.add("DELETE", "/segment/{id}/subscriber", "segment",
          "Remove a subscriber from a segment (id in the body)", "remove_member_body",
          "segment_member", False, example={"id": 100005}, filterable=False)  # fmt: skip
    e.add("DELETE", "/segment/{id}/subscriber/{subscriber_id}", "segment",
          "Remove a subscriber from a segment", "remove_member", None, False)  # fmt: skip

    e.crud("category", "categories", "LCGUD", undocumented="U")
    e.add("GET", "/category/{id}/subscriber", "category",
          "Subscribers interested in a category", "list", "subscriber", False)  # fmt: skip


def _content_endpoints(e: _EndpointList) -> None:
    """Blasts, content of every type, insights and lookups."""
    e.crud("blast", "blasts", "LCGUD", undocumented="D")
    i = next(n for n, ep in enumerate(e.eps) if ep.key == "POST /blast")
    e.eps[i] = replace(
        e.eps[i],
        description="Status 2 (Sending now) is recorded as sent (4) at once; nobody is emailed.",
    )

    # Content: one read side, four write sides (reads of stories etc. go through /content).
    e.crud("content", "content (all types)", "LG")
    for ctype in CONTENT_TYPES:
        e.crud(ctype, f"{ctype} content", "CUD", undocumented="" if ctype == "story" else "D")

    e.add("GET", "/content_insights", "insights", "Engagement per piece of content", "list",
          "content_insights")  # fmt: skip
    e.add("GET", "/subscriber_insights", "insights", "Engagement per subscriber", "list",
          "subscriber_insights")  # fmt: skip

    for name in LOOKUPS:
        e.add("GET", f"/{name}", "lookup", f"List {name} values", "list", name,
              name in DOCUMENTED_LOOKUPS)  # fmt: skip
        e.add("GET", f"/{name}/{{id}}", "lookup", f"Get one {name} value", "get", name, False)


def _build_endpoints() -> tuple[Endpoint, ...]:
    e = _EndpointList()
    e.add("POST", TOKEN_PATH, "oauth", "Get an access token", "token")
    _audience_endpoints(e)
    _content_endpoints(e)
    return tuple(e.eps)


#: Every operation, documented by Cerkl or offered by the sandbox, in display order.
ENDPOINTS: tuple[Endpoint, ...] = _build_endpoints()


def find_endpoint(
    method: str, path: str, endpoints: Iterable[Endpoint] = ENDPOINTS
) -> Endpoint | None:
    """Find an endpoint by method and path template, or by a concrete path.

    ``find_endpoint("GET", "/subscriber/42")`` finds ``GET /subscriber/{id}``; a static
    path (``/subscriber/template``) wins over a template that would also match. Searches
    ``endpoints`` (by default :data:`ENDPOINTS`).
    """
    method = method.upper()
    path = "/" + path.split("?", 1)[0].strip("/")
    candidates = [e for e in endpoints if e.method == method]
    for e in candidates:
        if e.path == path:
            return e
    for e in candidates:
        literals = PATH_PARAM.split(e.path)[::2]  # the text between the placeholders
        if len(literals) > 1 and re.fullmatch("[^/]+".join(map(re.escape, literals)), path):
            return e
    return None
