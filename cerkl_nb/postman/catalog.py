"""The endpoint catalogue: which requests the API offers, grouped like a Postman collection.

The catalogue is built from a machine-readable API description (the sandbox serves an
OpenAPI 3 document) or, when none is available (Cerkl production publishes none we can
read), from :data:`cerkl_nb.spec.ENDPOINTS`, the package's one list of operations.
:class:`Param` and :data:`FILTER_OPERATORS` are those of :mod:`cerkl_nb.spec`. It is UI-free: the
:class:`~cerkl_nb.widgets.ApiExplorer` draws it, and scripts can use it too.

A :class:`RequestSpec` also turns into code: ``curl``, plain ``requests``, and the
equivalent ``cerkl_nb`` call (written by :mod:`cerkl_nb.postman.snippets`, as the history's
snippets are). Snippets never contain a token or a secret: they read
``$CERKL_ACCESS_TOKEN`` from the environment.

Examples
--------
>>> cat = Catalog.builtin()
>>> cat.find("GET", "/subscriber").summary
'List subscribers'
>>> RequestSpec("GET", "/subscriber", params={"page": 1}).to_cerkl_nb()
"page = client.list('subscriber', page=1)\\npage.items"
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from .. import spec
from ..spec import FILTER_OPERATORS, Param, wrap_template
from .snippets import Snippets

__all__ = [
    "Param",
    "Endpoint",
    "Catalog",
    "RequestSpec",
    "load_catalog",
    "fill_path",
    "template_envelope",
    "FILTER_OPERATORS",
]

_METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}
_PATH_PARAM = re.compile(r"\{([^{}/]+)\}")


def template_envelope(*items: Mapping[str, Any]) -> dict[str, Any]:
    """Wrap items in Cerkl's envelope (:func:`cerkl_nb.spec.wrap_template`).

    With no items the data holds one empty object, ready to fill in.
    """
    return wrap_template([dict(i) for i in items] or [{}])


@dataclass(frozen=True)
class Endpoint(spec.Operation):
    """One operation: a method on a path, in a resource folder.

    Attributes
    ----------
    method
        Upper-case HTTP method.
    path
        The path template relative to the API base, such as ``/subscriber/{id}``.
    resource
        The folder it belongs in (``subscriber``, ``segment`` ...).
    summary
        A short human title.
    params
        Path and query parameters.
    body_template
        A ready-to-edit request body (the resource's template envelope), or ``None`` for
        requests without a body.
    fields
        Field names of the resource, used to suggest ``filters_json`` properties.
    """

    method: str
    path: str
    resource: str
    summary: str = ""
    params: tuple[Param, ...] = ()
    body_template: Any = None
    fields: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """A menu label such as ``"GET /subscriber: List subscribers"``."""
        return f"{self.method} {self.path}" + (f": {self.summary}" if self.summary else "")

    @property
    def is_list(self) -> bool:
        """True for a paged "GET all" collection endpoint."""
        names = {p.name for p in self.query_params}
        return self.method == "GET" and ("page" in names or "page_size" in names)

    @property
    def has_body(self) -> bool:
        """True when the method carries a JSON body."""
        return self.method in ("POST", "PUT", "PATCH")


class Catalog:
    """An ordered, grouped collection of :class:`Endpoint` objects.

    Parameters
    ----------
    endpoints
        The operations; duplicates (same method and path) keep the first.
    source
        Where the catalogue came from (a URL or ``"built-in"``), for display.
    """

    def __init__(self, endpoints: Iterable[Endpoint], *, source: str = "built-in") -> None:
        seen: dict[str, Endpoint] = {}
        for ep in endpoints:
            seen.setdefault(ep.key, ep)
        self._endpoints = tuple(
            sorted(
                seen.values(),
                key=lambda e: (
                    e.resource,
                    e.path.count("/"),
                    e.path,
                    _METHOD_ORDER.get(e.method, 9),
                ),
            )
        )
        self.source = source

    # -- access ---------------------------------------------------------------------------
    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """All endpoints, grouped by resource."""
        return self._endpoints

    def __len__(self) -> int:
        return len(self._endpoints)

    def __iter__(self):
        return iter(self._endpoints)

    def __repr__(self) -> str:
        folders = len(self.resources())
        return f"Catalog({len(self)} endpoints in {folders} folders, source={self.source!r})"

    def resources(self) -> list[str]:
        """Folder names in display order (``subscriber`` first: it is where people start)."""
        names = sorted({e.resource for e in self._endpoints})
        if "subscriber" in names:
            names.remove("subscriber")
            names.insert(0, "subscriber")
        return names

    def by_resource(self, resource: str) -> list[Endpoint]:
        """The endpoints in one folder."""
        return [e for e in self._endpoints if e.resource == resource]

    def find(self, method: str, path: str) -> Endpoint | None:
        """Find an endpoint by method and path template, or by a concrete path.

        ``find("GET", "/subscriber/42")`` matches ``GET /subscriber/{id}``.
        """
        method = method.upper()
        path = "/" + path.lstrip("/")
        for e in self._endpoints:
            if e.method == method and e.path == path:
                return e
        for e in self._endpoints:
            if e.method == method and _template_regex(e.path).fullmatch(path):
                return e
        return None

    def default(self) -> Endpoint | None:
        """The endpoint a newcomer should try first: ``GET /subscriber``."""
        return self.find("GET", "/subscriber") or (self._endpoints[0] if self._endpoints else None)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_openapi(cls, doc: Mapping[str, Any], *, source: str = "openapi") -> Catalog:
        """Build a catalogue from an OpenAPI 3 document.

        Parameters
        ----------
        doc
            The parsed document. Paths may include the server's base path (``/v3/...``);
            it is stripped using the first ``servers`` entry.
        source
            A label for display.

        Returns
        -------
        Catalog
        """
        base_path = ""
        servers = doc.get("servers") or []
        if servers and isinstance(servers[0], Mapping):
            base_path = urlsplit(str(servers[0].get("url", ""))).path.rstrip("/")
        schemas = ((doc.get("components") or {}).get("schemas")) or {}
        endpoints: list[Endpoint] = []
        for raw_path, item in (doc.get("paths") or {}).items():
            if not isinstance(item, Mapping):
                continue
            path = raw_path
            if base_path and path.startswith(base_path + "/"):
                path = path[len(base_path) :]
            if path.startswith("/_sandbox") or path.startswith("/oauth"):
                continue  # admin and token endpoints are not API calls for the explorer
            shared = list(item.get("parameters") or [])
            for method, op in item.items():
                if method.upper() not in _METHOD_ORDER or not isinstance(op, Mapping):
                    continue
                params = tuple(
                    _param_from_openapi(p, doc)
                    for p in [*shared, *(op.get("parameters") or [])]
                    if isinstance(p, Mapping)
                )
                params = tuple(
                    p for p in params if p is not None and p.location in ("path", "query")
                )
                tags = op.get("tags") or []
                resource = str(tags[0]) if tags else _resource_of(path)
                body, fields = _body_from_openapi(op, doc)
                if not fields:
                    fields = _fields_for(resource, schemas)
                endpoints.append(
                    Endpoint(
                        method=method.upper(),
                        path=path,
                        resource=resource,
                        summary=str(op.get("summary") or op.get("operationId") or ""),
                        params=params,
                        body_template=body if method.upper() in ("POST", "PUT", "PATCH") else None,
                        fields=fields,
                    )
                )
        return cls(endpoints, source=source)

    @classmethod
    def builtin(cls) -> Catalog:
        """The catalogue for Cerkl production, where no description is served.

        Built from :data:`cerkl_nb.spec.ENDPOINTS`: the operations Cerkl documents, plus
        the update and delete of its documented collections.
        """
        return cls(_builtin_endpoints(), source="built-in")


def _template_regex(path: str) -> re.Pattern[str]:
    pattern = re.escape(path)
    pattern = re.sub(r"\\\{[^{}/]+\\\}", r"[^/]+", pattern)
    return re.compile(pattern)


def _resource_of(path: str) -> str:
    parts = [p for p in path.split("/") if p and not p.startswith("{")]
    return parts[0] if parts else "api"


def _deref(node: Any, doc: Mapping[str, Any], depth: int = 0) -> Any:
    """Follow a local ``$ref`` (``#/components/...``); bounded to stop cycles."""
    while isinstance(node, Mapping) and "$ref" in node and depth < 20:
        ref = str(node["$ref"])
        if not ref.startswith("#/"):
            return {}
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        node = target
        depth += 1
    return node


def _param_from_openapi(raw: Mapping[str, Any], doc: Mapping[str, Any]) -> Param | None:
    p = _deref(raw, doc)
    if not isinstance(p, Mapping) or "name" not in p:
        return None
    schema = _deref(p.get("schema") or {}, doc)
    return Param(
        name=str(p["name"]),
        location=str(p.get("in", "query")),
        required=bool(p.get("required", p.get("in") == "path")),
        description=str(p.get("description") or ""),
        type=str(schema.get("type") or "string") if isinstance(schema, Mapping) else "string",
        default=schema.get("default") if isinstance(schema, Mapping) else None,
        example=p.get("example"),
    )


def _example_from_schema(schema: Any, doc: Mapping[str, Any], depth: int = 0) -> Any:
    """A plausible example value for a JSON schema (examples win over synthesis)."""
    schema = _deref(schema, doc)
    if not isinstance(schema, Mapping) or depth > 8:
        return None
    if "example" in schema:
        return copy.deepcopy(schema["example"])
    if "default" in schema:
        return copy.deepcopy(schema["default"])
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("allOf", "oneOf", "anyOf"):
        if schema.get(key):
            if key == "allOf":
                merged: dict[str, Any] = {}
                for sub in schema[key]:
                    value = _example_from_schema(sub, doc, depth + 1)
                    if isinstance(value, dict):
                        merged.update(value)
                return merged
            return _example_from_schema(schema[key][0], doc, depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        read_only = {
            k
            for k, v in props.items()
            if isinstance(_deref(v, doc), Mapping) and _deref(v, doc).get("readOnly")
        }
        return {
            k: _example_from_schema(v, doc, depth + 1)
            for k, v in props.items()
            if k not in read_only
        }
    if kind == "array":
        return [_example_from_schema(schema.get("items") or {}, doc, depth + 1)]
    return {"integer": 0, "number": 0, "boolean": False, "string": ""}.get(str(kind), None)


def _body_from_openapi(
    op: Mapping[str, Any], doc: Mapping[str, Any]
) -> tuple[Any, tuple[str, ...]]:
    body = _deref(op.get("requestBody") or {}, doc)
    content = (body.get("content") or {}) if isinstance(body, Mapping) else {}
    media = content.get("application/json") or (next(iter(content.values())) if content else None)
    if not isinstance(media, Mapping):
        return None, ()
    example: Any = None
    if "example" in media:
        example = copy.deepcopy(media["example"])
    elif isinstance(media.get("examples"), Mapping) and media["examples"]:
        first = _deref(next(iter(media["examples"].values())), doc)
        if isinstance(first, Mapping):
            example = copy.deepcopy(first.get("value"))
    if example is None and media.get("schema"):
        example = _example_from_schema(media["schema"], doc)
    fields: tuple[str, ...] = ()
    try:
        data = example["template"]["data"]
        if isinstance(data, list) and data and isinstance(data[0], Mapping):
            fields = tuple(data[0])
    except (KeyError, TypeError, IndexError):
        pass
    return example, fields


def _fields_for(resource: str, schemas: Mapping[str, Any]) -> tuple[str, ...]:
    for name, schema in schemas.items():
        if str(name).lower() == resource.lower() and isinstance(schema, Mapping):
            return tuple((schema.get("properties") or {}).keys())
    return _filterable_fields(resource)


# -- built-in catalogue ------------------------------------------------------------------


def _filterable_fields(model: str | None) -> tuple[str, ...]:
    """Field names of a record shape that ``filters_json`` can use."""
    res = spec.RESOURCES.get(model or "") or (spec.LOOKUP if model in spec.LOOKUPS else None)
    return tuple(f.name for f in res.fields if f.filterable) if res is not None else ()


def _offered_by_cerkl(ep: spec.Endpoint) -> bool:
    """What to offer against production: Cerkl's documented operations, plus the update
    and delete of a documented collection that Cerkl's pattern implies. Not the token
    endpoint (the client handles it), nor the sandbox's template endpoints and
    invented lookup lists."""
    if ep.kind in ("token", "template"):
        return False
    if ep.documented:
        return True
    return ep.kind in ("update", "delete") and any(
        o.documented and o.kind == "create" and o.model == ep.model for o in spec.ENDPOINTS
    )


def _builtin_endpoints() -> list[Endpoint]:
    return [
        Endpoint(
            ep.method,
            ep.path,
            ep.resource,
            ep.summary,
            ep.params,
            ep.example_body,
            _filterable_fields(ep.model),
        )
        for ep in spec.ENDPOINTS
        if _offered_by_cerkl(ep)
    ]


# -- fetching ----------------------------------------------------------------------------


def load_catalog(
    client: Any = None,
    *,
    openapi: Mapping[str, Any] | str | None = None,
    timeout_s: float = 5.0,
) -> Catalog:
    """Return the best catalogue available for ``client``.

    Parameters
    ----------
    client
        A :class:`~cerkl_nb.client.CerklClient` (or anything with ``.settings.base_url``).
        When its base URL is on this machine (the sandbox), its OpenAPI description is
        fetched. Production is never probed: the built-in catalogue is used.
    openapi
        An OpenAPI document (dict) or its URL; takes precedence over ``client``.
    timeout_s
        Timeout for fetching the description.

    Returns
    -------
    Catalog
        The served description when one could be read, else :meth:`Catalog.builtin`.
    """
    if isinstance(openapi, Mapping):
        return Catalog.from_openapi(openapi)
    urls: list[str] = []
    if isinstance(openapi, str):
        urls.append(openapi)
    elif client is not None:
        settings = getattr(client, "settings", None)
        if settings is not None and getattr(settings, "is_loopback", False):
            urls.extend(_openapi_candidates(settings.base_url))
    if not urls:
        return Catalog.builtin()
    import requests

    for url in urls:
        try:
            resp = requests.get(url, timeout=timeout_s, headers={"Accept": "application/json"})
            if resp.status_code == 200:
                doc = resp.json()
                if isinstance(doc, Mapping) and doc.get("paths"):
                    catalog = Catalog.from_openapi(doc, source=url)
                    if len(catalog):
                        return catalog
        except (requests.RequestException, ValueError):
            continue
    return Catalog.builtin()


def _openapi_candidates(base_url: str) -> list[str]:
    """Where a sandbox at ``base_url`` may serve its OpenAPI document."""
    parts = urlsplit(base_url)
    root = f"{parts.scheme}://{parts.netloc}"
    base = base_url.rstrip("/")
    return [
        base + spec.OPENAPI_PATH,
        root + spec.OPENAPI_PATH,
        root + "/_sandbox" + spec.OPENAPI_PATH,
    ]


# -- requests and snippets -----------------------------------------------------------------


def fill_path(template: str, values: Mapping[str, Any]) -> str:
    """Replace ``{name}`` placeholders with URL-quoted values.

    Raises
    ------
    ValueError
        When a placeholder has no (non-empty) value, naming it.
    """

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        value = values.get(name)
        if value is None or str(value).strip() == "":
            raise ValueError(f"path parameter {{{name}}} is empty: fill it in")
        return quote(str(value).strip(), safe="")

    return _PATH_PARAM.sub(sub, template)


@dataclass(frozen=True)
class RequestSpec:
    """A request ready to send or to turn into code.

    Attributes
    ----------
    method
        HTTP method.
    path
        Concrete path relative to the API base (placeholders filled).
    params
        Query parameters (values already strings or numbers).
    body
        JSON body, or ``None``.
    """

    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None

    def _snippets(self) -> Snippets:
        return Snippets(self.method, self.path, self.params, self.body)

    def to_curl(self, base_url: str) -> str:
        """A ``curl`` command; the token comes from ``$CERKL_ACCESS_TOKEN``."""
        return self._snippets().curl(base_url)

    def to_python(self, base_url: str) -> str:
        """Plain ``requests`` code; the token comes from ``os.environ["CERKL_ACCESS_TOKEN"]``."""
        return self._snippets().python_requests(base_url)

    def to_cerkl_nb(self, client_name: str = "client") -> str:
        """The equivalent ``cerkl_nb`` call as a notebook cell, idiomatic where one fits.

        Parameters
        ----------
        client_name
            The variable holding a :class:`~cerkl_nb.client.CerklClient`.
        """
        return self._snippets().cerkl_nb_call(client_name, cell=True)
