"""redact() masks every registered value, however many there are and however they change."""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Iterator

import pytest

from cerkl_nb.redact import MASK, Secret, redact

R = importlib.import_module("cerkl_nb.redact")


@pytest.fixture
def registry() -> Iterator[None]:
    """Leave the process-wide registry as the other tests expect it."""
    saved = R._registry_state()
    try:
        yield
    finally:
        R._restore_registry(saved)


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


def test_every_registered_value_is_masked_whatever_the_count(registry) -> None:
    values = [v for i in range(250) for v in _shapes(i)]
    for i, v in enumerate(values):
        Secret(v, transient=i % 2 == 0)
    for v in values:
        for text in _contexts(v):
            out = redact(text)
            assert v not in out, (v, text, out)
            assert MASK in out


def test_values_registered_after_a_redaction_are_masked_too(registry) -> None:
    before = secrets.token_hex(20)
    Secret(before, transient=True)
    assert redact(f"x {before} y") == "x *** y"
    after = ["zz-" + secrets.token_urlsafe(30), "with space " + secrets.token_hex(8)]
    for v in after:
        assert redact(f"[{v}]") == f"[{v}]"  # not yet registered: left alone
        Secret(v)
        assert redact(f"[{v}]") == "[***]"
    assert redact(f"x {before} y") == "x *** y"


def test_a_value_inside_another_is_removed_with_it(registry) -> None:
    inner = secrets.token_urlsafe(20)
    outer = f"Basic {inner}:and more"
    Secret(inner)
    Secret(outer)
    assert redact(f"<{outer}>") == "<***>"
    assert redact(f"<{inner}>") == "<***>"
    long_word = "a" * 8 + secrets.token_hex(16) + "b" * 8
    Secret(long_word)
    Secret(long_word[8:-8])
    assert redact(f"({long_word})") == "(***)"
    assert redact(f"({long_word[8:-8]})") == "(***)"


def test_only_the_newest_transient_tokens_are_remembered(registry) -> None:
    pinned = "pinned-" + secrets.token_urlsafe(20)
    Secret(pinned)
    tokens = [
        f"tok-{i:06d}-" + secrets.token_urlsafe(16) for i in range(R.MAX_TRANSIENT_SECRETS + 50)
    ]
    for t in tokens:
        Secret(t, transient=True)
    forgotten, kept = tokens[:50], tokens[50:]
    for t in forgotten:
        assert redact(f"[{t}]") == f"[{t}]"
    for t in kept:
        assert redact(f"[{t}]") == "[***]"
    assert redact(pinned) == MASK
    # Re-registering an old token brings it back; registering a pinned value as a token
    # does not demote it.
    Secret(forgotten[0], transient=True)
    assert redact(forgotten[0]) == MASK
    Secret(pinned, transient=True)
    for t in tokens[51:]:
        Secret(t + "-again", transient=True)
    assert redact(pinned) == MASK


def test_pinning_a_transient_value_keeps_it_forever(registry) -> None:
    v = "pin-me-" + secrets.token_urlsafe(20)
    Secret(v, transient=True)
    Secret(v)
    for i in range(R.MAX_TRANSIENT_SECRETS + 5):
        Secret(f"filler-{i:06d}-" + secrets.token_hex(8), transient=True)
    assert redact(f"'{v}'") == "'***'"


def test_excerpt_window_follows_the_longest_value(registry) -> None:
    long_secret = secrets.token_urlsafe(300)
    Secret(long_secret)
    text = "x" * 90 + long_secret
    assert long_secret[:20] not in R.excerpt(text, 100)
