"""The sandbox's route table, derived from :data:`cerkl_nb.spec.ENDPOINTS`.

Every operation of the API is described once, in :mod:`cerkl_nb.spec`; here each one is
given the name of the :class:`~cerkl_nb.sandbox.app.App` method that serves it, and the
paths are compiled for matching. A new endpoint in ``api.py`` without a handler fails at
import time, so the description and what is served cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..spec import ENDPOINTS, Endpoint
from .messages import Problem, Response

__all__ = ["ROUTES", "Route", "Router", "handler_for"]

# Lists that are not "the collection at /<name>": they read a relation instead.
_SPECIAL = {
    "GET /subscriber/{id}/subscriber_interest": "subscriber_interest",
    "GET /segment/{id}/subscriber": "segment_members",
    "GET /category/{id}/subscriber": "category_subscribers",
}
# Handler by endpoint kind; lookups and insights have their own readers.
_BY_KIND = {
    "token": "token",
    "template": "template",
    "list": "list_collection",
    "get": "get_one",
    "create": "create",
    "update": "update",
    "delete": "delete",
    "add_member": "add_member",
    "remove_member": "remove_member",
    "remove_member_body": "remove_member_body",
}
_BY_RESOURCE_KIND = {
    ("lookup", "list"): "lookup_list",
    ("lookup", "get"): "lookup_get",
    ("insights", "list"): "insights",
}


def handler_for(ep: Endpoint) -> str:
    """The name of the :class:`~cerkl_nb.sandbox.app.App` method that serves ``ep``.

    Raises
    ------
    LookupError
        When the sandbox has no handler for that kind of endpoint.
    """
    name = (
        _SPECIAL.get(ep.key)
        or _BY_RESOURCE_KIND.get((ep.resource, ep.kind))
        or _BY_KIND.get(ep.kind)
    )
    if name is None:
        raise LookupError(f"the sandbox has no handler for {ep.key} (kind {ep.kind!r})")
    return name


@dataclass(frozen=True)
class Route:
    """One operation the sandbox serves: an endpoint and the handler that serves it."""

    endpoint: Endpoint
    handler: str

    @property
    def method(self) -> str:
        return self.endpoint.method

    @property
    def path(self) -> str:
        return self.endpoint.path

    @property
    def resource(self) -> str | None:
        """The record shape it reads or writes (``Endpoint.model``)."""
        return self.endpoint.model

    @property
    def kind(self) -> str:
        return self.endpoint.kind

    @property
    def filterable(self) -> bool:
        return self.endpoint.filterable


#: Every operation, in :data:`cerkl_nb.spec.ENDPOINTS` order.
ROUTES: tuple[Route, ...] = tuple(Route(ep, handler_for(ep)) for ep in ENDPOINTS)


class Router:
    """Matches a path (relative to ``/v3``) and a method to a :class:`Route`.

    Paths are grouped so that a known path with the wrong method gives 405 with
    ``Allow``; static paths (``/subscriber/template``) are tried before parametrised ones
    (``/subscriber/{id}``).
    """

    def __init__(self, routes: tuple[Route, ...] = ROUTES) -> None:
        groups: dict[str, list[Route]] = {}
        for rt in routes:
            groups.setdefault(rt.path, []).append(rt)
        ordered = sorted(groups, key=lambda p: ("{" in p, p.count("{"), p))
        self._table = [
            (re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", p) + "$"), groups[p])
            for p in ordered
        ]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | Response:
        """The route and path parameters, or the answer to ``OPTIONS``.

        Raises
        ------
        Problem
            404 for an unknown path, 405 (with ``Allow``) for a known path and another
            method.
        """
        for rx, group in self._table:
            m = rx.match(path)
            if m is None:
                continue
            for rt in group:
                if rt.method == method or (method == "HEAD" and rt.method == "GET"):
                    return rt, m.groupdict()
            allow = sorted({rt.method for rt in group})
            if "GET" in allow:
                allow = sorted([*allow, "HEAD"])
            if method == "OPTIONS":
                return Response(204, b"", [("Allow", ", ".join([*allow, "OPTIONS"]))])
            raise Problem(
                405,
                f"{method} is not allowed on /v3{path}; allowed: {', '.join(allow)}",
                {"Allow": ", ".join(allow)},
            )
        raise Problem(404, f"no such endpoint: /v3{path} (see /v3/openapi.json for the list)")
