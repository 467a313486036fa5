"""The shapes of Cerkl API v3 objects as the sandbox serves them.

One table of :class:`Field` per resource drives body validation, the ``filters_json``
rules, the rendering of references as ``{"id", "self"}`` and the OpenAPI schemas. The
tables live in :mod:`cerkl_nb.spec`, the package's one home for facts about the API; this
module names them for the sandbox. Where Cerkl's docs are silent, the choice is written
down in ``docs/sandbox.md``.
"""

from __future__ import annotations

from ..spec import (
    CONTENT_TYPES,
    EXAMPLES,
    LOOKUP,
    LOOKUPS,
    RESOURCES,
    SCALAR_KINDS,
    Field,
    Resource,
)

__all__ = [
    "Field",
    "Resource",
    "LOOKUP",
    "LOOKUPS",
    "RESOURCES",
    "CONTENT_TYPES",
    "EXAMPLES",
    "SCALAR_KINDS",
]
