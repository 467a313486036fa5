"""cerkl_nb: learn and use the Cerkl Broadcast API v3 from JupyterLab.

::

    import cerkl_nb

    client = cerkl_nb.connect()       # real credentials from env/.env, else the local sandbox
    page = client.list("subscriber", page_size=5)

Importing ``cerkl_nb`` loads nothing but this file and changes no global state: each name
below is imported from its home module on first use (PEP 562). The top level holds what a
notebook uses every day; the rest lives in its module (every error in
:mod:`cerkl_nb.errors`, redaction in :mod:`cerkl_nb.redact`, the authorized session in
:mod:`cerkl_nb.session`, clocks in :mod:`cerkl_nb.clock`, widgets in ``cerkl_nb.widgets``).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Each public name, once, with the module it lives in.
_HOMES: dict[str, str] = {
    "connect": "client",
    "dashboard": "widgets",
    "CerklClient": "client",
    "Settings": "config",
    "Credentials": "config",
    "load_config": "config",
    "save_dotenv": "config",
    "TokenManager": "auth",
    "TokenEvent": "auth",
    "Token": "token",
    "TokenState": "token",
    "History": "postman.history",
    "HistoryEntry": "postman.history",
    "filters_json": "paging",
    "Secret": "redact",
    "install_log_redaction": "redact",
    "FakeClock": "clock",
    "CerklError": "errors",
    "ConfigurationError": "errors",
    "MissingCredentials": "errors",
    "AuthError": "errors",
    "InvalidCredentials": "errors",
    "ApiError": "errors",
    "NotFound": "errors",
    "ValidationError": "errors",
    "RateLimited": "errors",
    "OutcomeUnknown": "errors",
    "ConnectionFailed": "errors",
}
__all__ = list(_HOMES)

# Modules and subpackages reachable as attributes (cerkl_nb.errors.NotFound) without an
# import statement of their own.
_MODULES = frozenset(
    ("errors", "clock", "redact", "token", "config", "session", "auth", "client", "paging")
    + ("spec", "sandbox", "widgets", "postman", "launch")
)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'cerkl_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES) | _MODULES)
