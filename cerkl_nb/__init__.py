"""cerkl_nb: learn and use the Cerkl Broadcast API v3 from JupyterLab.

The UI-free core (this package's top level) handles the whole OAuth 2.0
client-credentials lifecycle and the API calls::

    import cerkl_nb

    client = cerkl_nb.connect()       # real credentials from env/.env, else the local sandbox
    page = client.list("subscriber", page_size=5)
    segment = client.create("segment", {"description": "Engineers"})

Importing ``cerkl_nb`` loads no widget library, IPython, tqdm or pandas; the widget layer
is reached through :func:`dashboard` (or ``cerkl_nb.widgets``) only when asked for.
"""

from __future__ import annotations

from typing import Any

from .auth import BearerAuth, TokenEvent, TokenManager
from .client import ApiResponse, CerklClient, Page, connect
from .clock import SYSTEM_CLOCK, Clock, FakeClock
from .config import DEFAULT_BASE_URL, Credentials, Settings, load_config, save_dotenv
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
from .history import History, HistoryEntry
from .paging import filters_json, unwrap_items
from .redact import Secret, redact
from .token import Token, TokenState

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


def __getattr__(name: str) -> Any:
    # PEP 562: the widget layer (ipywidgets, anywidget, traitlets) is imported only when
    # someone asks for it, so scripts and tests of the core never pay for it.
    if name == "dashboard":
        from .widgets import dashboard

        return dashboard
    if name in ("widgets", "sandbox"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'cerkl_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"dashboard", "widgets", "sandbox"})
