"""Helpers shared by the OpenAPI tests (imported as a plain module)."""

from __future__ import annotations

from typing import Any

import requests

from cerkl_nb.sandbox import Sandbox


def served_description(sb: Sandbox) -> dict[str, Any]:
    """The OpenAPI document ``sb`` serves at ``/v3/openapi.json``."""
    r = requests.get(sb.openapi_url, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()
