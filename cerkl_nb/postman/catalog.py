"""The explorer's endpoint catalogue: the operations of :data:`cerkl_nb.spec.ENDPOINTS`, by folder.

Against the sandbox the catalogue holds every operation it serves; against Cerkl it holds
what Cerkl documents plus the update and delete its pattern implies. Each entry is the
:class:`cerkl_nb.spec.Endpoint` itself, so whatever the facts say about an operation (its
examples, its fields, whether Cerkl documents it) reaches the explorer unchanged. It is
UI-free: :class:`~cerkl_nb.widgets.ApiExplorer` draws it, and scripts can use it too.

A :class:`RequestSpec` turns into code through :mod:`cerkl_nb.postman.snippets`, as the
history's entries do: the token is always ``$CERKL_ACCESS_TOKEN``, never a value.

Examples
--------
>>> Catalog.builtin().find("GET", "/subscriber").summary
'List subscribers'
>>> RequestSpec("GET", "/subscriber", params={"page": 1}).to_cerkl_nb()
"page = client.list('subscriber', page=1)\\npage.items"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ..spec import ENDPOINTS, PATH_PARAM, Endpoint, find_endpoint, wrap_template
from .snippets import Snippets

__all__ = ["Catalog", "RequestSpec", "load_catalog", "fill_path", "template_envelope"]

_METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}


class Catalog:
    """An ordered collection of :class:`~cerkl_nb.spec.Endpoint`, grouped by resource.

    Parameters
    ----------
    endpoints
        The operations; of two with the same method and path the first is kept.
    source
        Where the catalogue came from, for display: ``"built-in"`` (Cerkl's operations)
        or ``"sandbox"`` (everything the sandbox serves).
    """

    def __init__(self, endpoints: Iterable[Endpoint], *, source: str = "built-in") -> None:
        unique: dict[str, Endpoint] = {}
        for e in endpoints:
            unique.setdefault(e.key, e)
        self.endpoints: tuple[Endpoint, ...] = tuple(sorted(unique.values(), key=_display_order))
        self.source = source

    @classmethod
    def builtin(cls, *, sandbox: bool = False) -> Catalog:
        """The catalogue for Cerkl production, or with ``sandbox=True`` for the sandbox.

        Production gets Cerkl's documented operations plus the update and delete of a
        documented collection that Cerkl's pattern implies, not the sandbox's template
        endpoints and invented lookup lists. Neither holds the token endpoint: the client
        handles it.
        """
        if sandbox:
            return cls((e for e in ENDPOINTS if e.kind != "token"), source="sandbox")
        return cls((e for e in ENDPOINTS if _offered_by_cerkl(e)), source="built-in")

    def __len__(self) -> int:
        return len(self.endpoints)

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self.endpoints)

    def __repr__(self) -> str:
        folders = len(self.resources())
        return f"Catalog({len(self)} endpoints in {folders} folders, source={self.source!r})"

    def resources(self) -> list[str]:
        """Folder names in display order (``subscriber`` first: it is where people start)."""
        names = sorted({e.resource for e in self.endpoints})
        return sorted(names, key=lambda n: n != "subscriber")

    def by_resource(self, resource: str) -> list[Endpoint]:
        """The endpoints in one folder."""
        return [e for e in self.endpoints if e.resource == resource]

    def find(self, method: str, path: str) -> Endpoint | None:
        """The endpoint for a path template or a concrete path (``/subscriber/42``)."""
        return find_endpoint(method, path, self.endpoints)

    def default(self) -> Endpoint | None:
        """The endpoint a newcomer should try first: ``GET /subscriber``."""
        return self.find("GET", "/subscriber") or next(iter(self.endpoints), None)


def _display_order(e: Endpoint) -> tuple[str, int, str, int]:
    # By folder, shallow paths first, then GET, POST, PUT, PATCH, DELETE.
    return e.resource, e.path.count("/"), e.path, _METHOD_ORDER.get(e.method, 9)


def _offered_by_cerkl(ep: Endpoint) -> bool:
    if ep.kind in ("token", "template"):
        return False
    return ep.documented or (
        ep.kind in ("update", "delete")
        and any(o.documented and o.kind == "create" and o.model == ep.model for o in ENDPOINTS)
    )


def load_catalog(client: Any = None) -> Catalog:
    """The catalogue for ``client``: the sandbox's when its base URL is on this machine.

    Parameters
    ----------
    client
        A :class:`~cerkl_nb.client.CerklClient` (anything with ``.settings.is_loopback``),
        or ``None`` for Cerkl production's catalogue. Nothing is fetched.
    """
    settings = getattr(client, "settings", None)
    return Catalog.builtin(sandbox=bool(getattr(settings, "is_loopback", False)))


def template_envelope(*items: Mapping[str, Any]) -> dict[str, Any]:
    """Cerkl's envelope around ``items``; with none, one empty object to fill in."""
    return wrap_template([dict(i) for i in items] or [{}])


def fill_path(template: str, values: Mapping[str, Any]) -> str:
    """Replace ``{name}`` placeholders with URL-quoted values.

    Raises
    ------
    ValueError
        When a placeholder has no (non-empty) value, naming it.
    """

    def sub(m: re.Match[str]) -> str:
        value = values.get(m.group(1))
        if value is None or str(value).strip() == "":
            raise ValueError(f"path parameter {{{m.group(1)}}} is empty: fill it in")
        return quote(str(value).strip(), safe="")

    return PATH_PARAM.sub(sub, template)


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
        Query parameters.
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
        """The equivalent call on the :class:`~cerkl_nb.client.CerklClient` ``client_name``,
        as a notebook cell."""
        return self._snippets().cerkl_nb_call(client_name, cell=True)
