"""redact() masks every registered value, however they change, within one bounded set."""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Iterator

import pytest

from cerkl_nb.config import Credentials, Settings
from cerkl_nb.redact import MASK, Secret, redact, register_secret

from .loopback import json_reply

R = importlib.import_module("cerkl_nb.redact")


@pytest.fixture
def registry() -> Iterator[None]:
    """Leave the process-wide registry as the other tests expect it."""
    saved = list(R._registered)
    try:
        yield
    finally:
        with R._lock:
            R._registered.clear()
            R._longest_first = ()
        for value in saved:
            register_secret(value)


def _shapes(i: int) -> list[str]:
    """Token shapes seen in the wild: 40 hex, base64url, JWT, standard base64, short."""
    return [
        secrets.token_hex(20),
        secrets.token_urlsafe(24),
        f"eyJ{secrets.token_urlsafe(12)}.{secrets.token_urlsafe(30)}.{secrets.token_urlsafe(8)}",
        secrets.token_urlsafe(18).replace("-", "+").replace("_", "/") + "==",
        f"short-{i:03d}x",
    ]


def _contexts(secret: str) -> list[str]:
    """Places a value shows up in: prose, headers, forms, JSON, URLs, glued to other text."""
    return [
        secret,
        f"the value {secret} leaked",
        f"Authorization: Bearer {secret}",
        f"grant_type=refresh_token&refresh_token={secret}&x=1",
        f'{{"value": "{secret}", "n": 1}}',
        f"https://api.example.com/v3/segment?q={secret}",
        f"prefix{secret}suffix",
        f"abcdefghijklmnopqrstuvwxyz{secret}0123456789abcdefghij",
        f"{secret}{secret}",
    ]


def test_every_registered_value_is_masked_up_to_the_bound(registry) -> None:
    values = [v for i in range(R.MAX_SECRETS // 5) for v in _shapes(i)]
    for v in values:
        register_secret(v)
    for v in values:
        for text in _contexts(v):
            out = redact(text)
            assert v not in out, (v, text, out)
            assert MASK in out


def test_building_a_secret_registers_nothing(registry) -> None:
    value = "not-registered-" + secrets.token_urlsafe(20)
    held = Secret(value)
    assert redact(f"[{value}]") == f"[{value}]" and repr(held) == "Secret('***')"
    register_secret(held)
    assert redact(f"[{value}]") == "[***]"


def test_values_registered_after_a_redaction_are_masked_too(registry) -> None:
    before = secrets.token_hex(20)
    register_secret(before)
    assert redact(f"x {before} y") == "x *** y"
    after = ["zz-" + secrets.token_urlsafe(30), "with space " + secrets.token_hex(8)]
    for v in after:
        assert redact(f"[{v}]") == f"[{v}]"  # not yet registered: left alone
        register_secret(v)
        assert redact(f"[{v}]") == "[***]"
    assert redact(f"x {before} y") == "x *** y"


def test_a_value_inside_another_is_removed_with_it(registry) -> None:
    inner = secrets.token_urlsafe(20)
    outer = f"Basic {inner}:and more"
    register_secret(inner)
    register_secret(outer)
    assert redact(f"<{outer}>") == "<***>"
    assert redact(f"<{inner}>") == "<***>"
    long_word = "a" * 8 + secrets.token_hex(16) + "b" * 8
    register_secret(long_word)
    register_secret(long_word[8:-8])
    assert redact(f"({long_word})") == "(***)"
    assert redact(f"({long_word[8:-8]})") == "(***)"


def test_only_the_most_recently_registered_values_are_remembered(registry) -> None:
    kept_alive = "in-use-" + secrets.token_urlsafe(20)
    register_secret(kept_alive)
    tokens = [f"tok-{i:06d}-" + secrets.token_urlsafe(16) for i in range(R.MAX_SECRETS + 50)]
    for i, t in enumerate(tokens):
        register_secret(t)
        if i % 100 == 0:
            register_secret(kept_alive)  # registered again: the most recent once more
    assert len(R._registered) == R.MAX_SECRETS  # the bound holds
    forgotten, kept = tokens[:51], tokens[51:]  # 51: the value kept alive holds one place
    for t in forgotten:
        assert redact(f"[{t}]") == f"[{t}]"
    for t in kept:
        assert redact(f"[{t}]") == "[***]"
    assert redact(kept_alive) == MASK
    # Registering a forgotten value again brings it back.
    register_secret(forgotten[0])
    assert redact(forgotten[0]) == MASK


def test_a_client_secret_in_use_outlives_any_number_of_tokens(registry, loopback) -> None:
    from cerkl_nb.auth import TokenManager

    loopback.handler = lambda req: json_reply(
        {"access_token": "tok-" + secrets.token_urlsafe(12), "expires_in": 60}
    )
    secret = "in-use-client-secret-" + secrets.token_urlsafe(8)
    tm = TokenManager(Credentials("id", secret), Settings(base_url=loopback.url + "/v3"))
    for _ in range(3):
        for _ in range(R.MAX_SECRETS - 4):  # other values pile up between token requests
            register_secret("filler-" + secrets.token_urlsafe(16))
        tm.fetch()  # the manager registers its secret and Basic value again
    assert redact(f"secret={secret}!") == "secret=***!"
    assert redact(secret) == MASK
    tm.close()


def test_short_values_are_masked_by_pattern_only(registry) -> None:
    Credentials("id", "k9Q!")  # a 4-character secret is registered and masked anywhere
    assert redact("the secret is k9Q!") == "the secret is ***"
    Credentials("id", "ab1")  # shorter than 4: accepted, not matched in free text
    assert redact("ab1") == "ab1"
    assert redact("client_secret=ab1") == "client_secret=***"


def test_excerpt_window_follows_the_longest_value(registry) -> None:
    long_secret = secrets.token_urlsafe(300)
    register_secret(long_secret)
    text = "x" * 90 + long_secret
    assert long_secret[:20] not in R.excerpt(text, 100)
