"""Schemathesis, driven by the sandbox's own OpenAPI description: the fuzzer of every operation.

Complements ``test_sandbox_fuzz.py`` (hand-written Hypothesis strategies): here
Schemathesis generates requests for every described operation from the schemas, and
checks that none gets a 5xx and that every response conforms to the description
(status code, content type, headers, body schema). Bounded by
``CERKL_SCHEMATHESIS_EXAMPLES`` (default 5 per operation) to stay well inside CI's budget.
"""

from __future__ import annotations

import os

import pytest
import requests
from hypothesis import HealthCheck, settings
from sandbox_helpers import require

schemathesis = require("schemathesis")
from schemathesis import checks as sc  # noqa: E402

from cerkl_nb.sandbox import SandboxConfig, start  # noqa: E402
from cerkl_nb.sandbox.openapi import build_openapi  # noqa: E402

# The description does not depend on the port except for servers/tokenUrl; the base URL
# of the running sandbox is passed to each call.
schema = schemathesis.openapi.from_dict(build_openapi("http://127.0.0.1/v3"))

CHECKS = [
    sc.not_a_server_error,
    sc.status_code_conformance,
    sc.content_type_conformance,
    sc.response_headers_conformance,
    sc.response_schema_conformance,
]


@pytest.fixture(scope="module")
def st_sandbox():
    sb = start(config=SandboxConfig(subscribers=50))
    tok = requests.post(
        sb.token_url,
        data={"grant_type": "client_credentials"},
        auth=(sb.client_id, sb.client_secret),
        timeout=10,
    ).json()["access_token"]
    session = requests.Session()
    yield sb, tok, session
    internal = sb.stats()["internal_errors"]
    sb.stop()
    assert internal == 0


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("CERKL_SCHEMATHESIS_EXAMPLES", "5")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_schemathesis(case, st_sandbox):
    sb, tok, session = st_sandbox
    headers = {}
    if case.operation.path == "/oauth/Token":
        headers["Authorization"] = requests.auth._basic_auth_str(sb.client_id, sb.client_secret)
    else:
        headers["Authorization"] = f"Bearer {tok}"
    case.call_and_validate(base_url=sb.url, session=session, headers=headers, checks=CHECKS)
