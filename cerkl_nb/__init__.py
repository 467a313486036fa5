"""cerkl_nb: learn and use the Cerkl Broadcast API v3 from JupyterLab.

The UI-free core (this package's top level) handles the whole OAuth 2.0
client-credentials lifecycle and the API calls::

    import cerkl_nb

    client = cerkl_nb.connect()       # real credentials from env/.env, else the local sandbox
    page = client.list("subscriber", page_size=5)
    segment = client.create("segment", {"description": "Engineers"})

Importing ``cerkl_nb`` loads nothing but this file: every name below is imported on first
use (PEP 562), so ``import cerkl_nb.sandbox`` or ``import cerkl_nb.spec`` never pulls in
``requests``, and importing changes no global state (loggers, ``http.client``). The widget
layer is reached through :func:`dashboard` (or ``cerkl_nb.widgets``) only when asked for.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .auth import BearerAuth, TokenEvent, TokenManager
    from .client import ApiResponse, CerklClient, Page, connect
    from .clock import SYSTEM_CLOCK, Clock, FakeClock
    from .config import (
        DEFAULT_BASE_URL,
        Credentials,
        Settings,
        load_config,
        save_dotenv,
    )
    from .errors import (
        ApiError,
        AuthError,
        BadResponse,
        CerklError,
        ConfigurationError,
        Conflict,
        ConnectionFailed,
        Forbidden,
        InvalidCredentials,
        InvalidGrant,
        MissingCredentials,
        MissingDependency,
        NotFound,
        OutcomeUnknown,
        RateLimited,
        RequestTimeout,
        ServerError,
        TokenEndpointError,
        Unauthorized,
        UnsupportedGrant,
        ValidationError,
    )
    from .paging import filters_json
    from .postman.history import History, HistoryEntry
    from .redact import Secret, install_log_redaction, redact
    from .spec import unwrap_items
    from .token import Token, TokenState
    from .widgets import dashboard

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # entry points
    "connect",
    "dashboard",
    # core objects
    "Settings",
    "Credentials",
    "DEFAULT_BASE_URL",
    "load_config",
    "save_dotenv",
    "Token",
    "TokenState",
    "TokenManager",
    "TokenEvent",
    "BearerAuth",
    "CerklClient",
    "ApiResponse",
    "Page",
    "History",
    "HistoryEntry",
    "filters_json",
    "unwrap_items",
    "Secret",
    "redact",
    "install_log_redaction",
    "Clock",
    "FakeClock",
    "SYSTEM_CLOCK",
    # errors
    "CerklError",
    "ConfigurationError",
    "MissingCredentials",
    "MissingDependency",
    "AuthError",
    "InvalidCredentials",
    "InvalidGrant",
    "TokenEndpointError",
    "UnsupportedGrant",
    "ApiError",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "ValidationError",
    "RateLimited",
    "ServerError",
    "OutcomeUnknown",
    "BadResponse",
    "ConnectionFailed",
    "RequestTimeout",
]


# Where each public name lives; imported on first access (PEP 562).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "auth": ("BearerAuth", "TokenEvent", "TokenManager"),
    "client": ("ApiResponse", "CerklClient", "Page", "connect"),
    "clock": ("SYSTEM_CLOCK", "Clock", "FakeClock"),
    "config": ("DEFAULT_BASE_URL", "Credentials", "Settings", "load_config", "save_dotenv"),
    "errors": (
        "ApiError",
        "AuthError",
        "BadResponse",
        "CerklError",
        "ConfigurationError",
        "Conflict",
        "ConnectionFailed",
        "Forbidden",
        "InvalidCredentials",
        "InvalidGrant",
        "MissingCredentials",
        "MissingDependency",
        "NotFound",
        "OutcomeUnknown",
        "RateLimited",
        "RequestTimeout",
        "ServerError",
        "TokenEndpointError",
        "Unauthorized",
        "UnsupportedGrant",
        "ValidationError",
    ),
    "postman.history": ("History", "HistoryEntry"),
    "paging": ("filters_json",),
    "spec": ("unwrap_items",),
    "redact": ("redact", "Secret", "install_log_redaction"),
    "token": ("Token", "TokenState"),
    "widgets": ("dashboard",),
}
_HOMES = {name: module for module, names in _EXPORTS.items() for name in names}
_SUBPACKAGES = ("widgets", "sandbox", "spec", "postman", "launch")


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(importlib.import_module(f".{home}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'cerkl_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES) | set(_SUBPACKAGES))


class _Package(types.ModuleType):
    """This package, keeping ``cerkl_nb.redact`` the function.

    The function ``redact`` shares its name with its module, and importing a submodule
    sets the package attribute of that name to the module. That one assignment is skipped,
    so ``cerkl_nb.redact`` stays the function (found by ``__getattr__``), as it has always
    been, without importing anything when the package is imported.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "redact" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
