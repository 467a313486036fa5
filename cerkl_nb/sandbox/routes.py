"""The sandbox's route table, derived from :data:`cerkl_nb.spec.ENDPOINTS`.

Each operation of the API is described once, in :mod:`cerkl_nb.spec`; here it is given the
name of the :class:`~cerkl_nb.sandbox.app.App` method that serves it. An endpoint without
a handler fails at import time, so what is described and what is served cannot drift apart.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..spec import ENDPOINTS, Endpoint
from .messages import Problem, Response

__all__ = ["ROUTES", "Route", "Router", "handler_for"]

# Lists that are not "the collection at /<name>": they read a relation instead.
_SPECIAL = {
    "GET /subscriber/{id}/subscriber_interest": "subscriber_interest",
    "GET /segment/{id}/subscriber": "segment_members",
    "GET /category/{id}/subscriber": "category_subscribers",
}
_BY_RESOURCE_KIND = {
    ("lookup", "list"): "lookup_list",
    ("lookup", "get"): "lookup_get",
    ("insights", "list"): "insights",
}
# Every other kind is served by the App method of its own name.
_BY_KIND = {"list": "list_collection", "get": "get_one"}
_KINDS = frozenset(
    ("token", "template", "list", "get", "create", "update", "delete")
    + ("add_member", "remove_member", "remove_member_body")
)


def handler_for(ep: Endpoint) -> str:
    """The name of the :class:`~cerkl_nb.sandbox.app.App` method that serves ``ep``
    (``LookupError`` for a kind of endpoint the sandbox has no handler for)."""
    if ep.kind not in _KINDS:
        raise LookupError(f"the sandbox has no handler for {ep.key} (kind {ep.kind!r})")
    return (
        _SPECIAL.get(ep.key)
        or _BY_RESOURCE_KIND.get((ep.resource, ep.kind))
        or _BY_KIND.get(ep.kind, ep.kind)
    )


class Route(NamedTuple):
    """One operation the sandbox serves: an endpoint and the handler that serves it."""

    endpoint: Endpoint
    handler: str


#: Every operation, in :data:`cerkl_nb.spec.ENDPOINTS` order.
ROUTES: tuple[Route, ...] = tuple(Route(ep, handler_for(ep)) for ep in ENDPOINTS)


class Router:
    """Matches a path (relative to ``/v3``) and a method to a :class:`Route`.

    Routes are grouped by path, so that a known path with another method gives 405 with
    ``Allow``; static paths (``/subscriber/template``) are tried before parametrised ones
    (``/subscriber/{id}``).
    """

    def __init__(self, routes: tuple[Route, ...] = ROUTES) -> None:
        groups: dict[str, list[Route]] = {}
        for rt in routes:
            groups.setdefault(rt.endpoint.path, []).append(rt)
        ordered = sorted(groups, key=lambda p: (p.count("{"), p))
        self._table = [
            (re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", p) + "$"), groups[p])
            for p in ordered
        ]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | Response:
        """The route and path parameters, or the answer to ``OPTIONS``; a 404 for an
        unknown path, a 405 (with ``Allow``) for a known path and another method."""
        for rx, group in self._table:
            m = rx.match(path)
            if m is None:
                continue
            for rt in group:
                if rt.endpoint.method in (method, "GET" if method == "HEAD" else None):
                    return rt, m.groupdict()
            allow = {rt.endpoint.method for rt in group}
            allow = sorted(allow | {"HEAD"} if "GET" in allow else allow)
            if method == "OPTIONS":
                return Response(204, b"", [("Allow", ", ".join([*allow, "OPTIONS"]))])
            raise Problem(
                405,
                f"{method} is not allowed on /v3{path}; allowed: {', '.join(allow)}",
                {"Allow": ", ".join(allow)},
            )
        raise Problem(404, f"no such endpoint: /v3{path} (see /v3/openapi.json for the list)")
