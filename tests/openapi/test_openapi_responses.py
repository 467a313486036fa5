"""openapi-core validates real sandbox traffic against the served description.

Every operation is sent once, with the examples the description gives (path ids, query
values, bodies), to a freshly seeded sandbox: the request must match the description,
the answer must be the documented success status, and the response must validate,
``null`` fields included.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from openapi_helpers import served_description

from cerkl_nb import spec
from cerkl_nb.sandbox import Sandbox

openapi_core = pytest.importorskip("openapi_core")
from openapi_core.contrib.requests import (  # noqa: E402
    RequestsOpenAPIRequest,
    RequestsOpenAPIResponse,
)

TIMEOUT_S = 10


class Checker:
    """Sends requests to one sandbox and validates each exchange with openapi-core."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.spec = served_description(sb)
        with warnings.catch_warnings():
            # openapi-core cannot check OAuth 2.0 credentials itself and says so; the
            # sandbox does check them, and every call here carries a real token.
            warnings.simplefilter("ignore", UserWarning)
            self.openapi = openapi_core.OpenAPI.from_dict(self.spec)
        self.session = requests.Session()
        token = requests.post(
            sb.token_url,
            data={"grant_type": "client_credentials"},
            auth=(sb.client_id, sb.client_secret),
            timeout=TIMEOUT_S,
        )
        assert token.status_code == 200, token.text
        self.bearer = {"Authorization": "Bearer " + token.json()["access_token"]}
        self.validated = 0

    def send(self, method: str, path: str, *, bearer: bool = True, **kw: Any) -> requests.Response:
        """Send one request and validate the request (when it succeeded) and the response."""
        headers = {**(self.bearer if bearer else {}), **kw.pop("headers", {})}
        r = self.session.request(
            method, self.sb.url + path, headers=headers, timeout=TIMEOUT_S, **kw
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            req = RequestsOpenAPIRequest(r.request)
            if r.status_code < 400:
                self.openapi.validate_request(req)
            self.openapi.validate_response(req, RequestsOpenAPIResponse(r))
        self.validated += 1
        return r


@pytest.fixture
def checker(fresh_sandbox: Sandbox) -> Iterator[Checker]:
    c = Checker(fresh_sandbox)
    try:
        yield c
    finally:
        c.session.close()


def example_request(ep: spec.Endpoint) -> tuple[str, dict[str, Any], Any]:
    """The concrete path, query and JSON body that the description's examples give."""
    values = {p.name: p.example for p in ep.params}
    path = re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), ep.path)
    query = {p.name: p.example for p in ep.query_params}
    return path, query, ep.example_body


def test_every_operation_answers_its_examples_and_validates(checker):
    for ep in spec.ENDPOINTS:
        path, query, body = example_request(ep)
        if ep.kind == "token":
            # Cerkl's documented form: curl -u id:secret -d grant_type=client_credentials.
            sb = checker.sb
            r = checker.send("POST", path, bearer=False, data={"grant_type": "client_credentials"},
                             auth=(sb.client_id, sb.client_secret))  # fmt: skip
        else:
            r = checker.send(ep.method, path, params=query, json=body)
        assert r.status_code == ep.status, (ep.key, r.status_code, r.text[:300])
    assert checker.validated == len(spec.ENDPOINTS) == 73


def test_null_fields_validate(checker):
    """Records created with only their required fields come back full of nulls."""
    minimal = {
        "story": {"title": "Only a title"},
        "need": {"title": "Only a title"},
        "link": {"title": "Only a title", "external_url": "https://example.com/x"},
        "event": {
            "title": "Only a title",
            "event_start_date_time_utc": "2030-01-01 10:00:00",
            "event_all_day": True,
        },  # fmt: skip
        "segment": {"description": "Only a name"},
        "category": {"description": "Only a name"},
        "blast": {"name": "Only the minimum", "subject": "Hi", "status": {"id": 1}},
        "subscriber": {
            "email": "only.required@example.com",
            "subscriber_privacy_level": 1,
            "subscriber_status": 1,
        },  # fmt: skip
    }
    for resource, item in minimal.items():
        r = checker.send("POST", f"/{resource}", json=spec.wrap_template(item))
        assert r.status_code == 201, (resource, r.text)
        created = r.json()["data"][0]
        assert any(v is None for v in created.values()), resource  # nulls were really sent
        read = "/content" if resource in spec.CONTENT_TYPES else f"/{resource}"
        assert checker.send("GET", f"{read}/{created['id']}").status_code == 200


def test_every_seeded_record_validates(checker):
    """Every page of every collection: the seed has nulls, empty lists and all types."""
    lists = [ep for ep in spec.ENDPOINTS if ep.kind == "list" and "{" not in ep.path]
    for ep in lists:
        page = 1
        while True:
            r = checker.send("GET", ep.path, params={"page": page, "page_size": 100})
            assert r.status_code == 200, (ep.path, r.text)
            if r.json()["links"]["next"] is None:
                break
            page += 1
    # 300 seeded subscribers fill three pages: the loop really followed next links.
    assert checker.validated >= len(lists) + 2


def test_error_answers_validate(checker):
    assert checker.send("GET", "/subscriber/999999").status_code == 404
    assert checker.send("GET", "/subscriber", params={"page_size": 101}).status_code == 400
    assert checker.send("GET", "/subscriber", bearer=False).status_code == 401
    r = checker.send("POST", "/segment", json={"template": {"version": "3.0", "data": []}})
    assert r.status_code == 400


def test_validation_can_fail(checker):
    """A response that breaks the description is caught (here: a null where none may be)."""
    from openapi_core.validation.response.exceptions import InvalidData

    r = checker.session.get(checker.sb.url + "/segment/5001", headers=checker.bearer,
                            timeout=TIMEOUT_S)  # fmt: skip
    body = r.json()
    body["data"][0]["id"] = None
    r._content = requests.compat.json.dumps(body).encode()
    with warnings.catch_warnings(), pytest.raises(InvalidData):
        warnings.simplefilter("ignore", UserWarning)
        checker.openapi.validate_response(
            RequestsOpenAPIRequest(r.request), RequestsOpenAPIResponse(r)
        )
