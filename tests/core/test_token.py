"""Token parsing and ageing against a fake clock."""

from __future__ import annotations

import warnings

import pytest

from cerkl_nb import FakeClock, Token, TokenState
from cerkl_nb.errors import BadResponse, TokenEndpointError

ACCESS = "e37b98a75db58f83edaaccdb75d15c3a38ae5e38"
REFRESH = "5d0c0f3b8e7a4c1d9f2e6b7a8c9d0e1f2a3b4c5d"


def make(clock: FakeClock, **body) -> Token:
    base = {"access_token": ACCESS, "token_type": "Bearer", "expires_in": 43200}
    base.update(body)
    return Token.from_response(
        base, sent_at=clock.time(), sent_monotonic=clock.monotonic(), default_lifetime_s=43200
    )


@pytest.mark.parametrize("tt", ["Bearer", "bearer", "BEARER", "BeArEr"])
def test_token_type_in_any_case(clock: FakeClock, tt: str) -> None:
    tok = make(clock, token_type=tt)
    assert tok.token_type == tt
    assert tok.authorization == "Bearer " + ACCESS


def test_extra_fields_and_missing_refresh_token_are_fine(clock: FakeClock) -> None:
    tok = make(clock, scope=None, foo="bar", id_token_hint=1)
    assert tok.refresh_token is None and not tok.has_refresh_token and tok.scope is None
    tok = make(clock, refresh_token=REFRESH, scope=["a", "b"])
    assert tok.has_refresh_token and tok.scope == "a b"


def test_missing_expires_in_uses_the_default_and_warns(clock: FakeClock) -> None:
    body = {"access_token": ACCESS, "token_type": "bearer"}
    with pytest.warns(UserWarning, match="no expires_in"):
        tok = Token.from_response(
            body, sent_at=clock.time(), sent_monotonic=clock.monotonic(), default_lifetime_s=600
        )
    assert tok.lifetime_s == 600


def test_string_expires_in_and_bad_bodies(clock: FakeClock) -> None:
    assert make(clock, expires_in="3600").lifetime_s == 3600
    with pytest.raises(BadResponse):
        make(clock, expires_in="soon")
    with pytest.raises(BadResponse, match="no access_token"):
        Token.from_response({"token_type": "Bearer"}, sent_at=0, sent_monotonic=0)
    with pytest.raises(TokenEndpointError, match="only Bearer"):
        make(clock, token_type="mac")


def test_expiry_counts_from_the_send_time(clock: FakeClock) -> None:
    sent_wall, sent_mono = clock.time(), clock.monotonic()
    clock.advance(5)  # the server took 5 s to answer
    tok = Token.from_response(
        {"access_token": ACCESS, "token_type": "Bearer", "expires_in": 100},
        sent_at=sent_wall,
        sent_monotonic=sent_mono,
    )
    assert tok.issued_at == sent_wall and tok.expires_at == sent_wall + 100
    assert tok.remaining_s(clock) == pytest.approx(95)


def test_state_boundaries(clock: FakeClock) -> None:
    tok = make(clock)
    leeway = 300
    assert tok.state(clock, leeway) is TokenState.FRESH
    clock.advance(43200 - leeway - 1)  # just before the leeway
    assert tok.state(clock, leeway) is TokenState.FRESH
    clock.advance(2)  # one second inside the leeway
    assert tok.state(clock, leeway) is TokenState.STALE
    clock.advance(leeway)
    assert tok.state(clock, leeway) is TokenState.EXPIRED
    assert tok.remaining_s(clock) == 0  # never negative


def test_leeway_is_capped_at_a_tenth_of_the_lifetime(clock: FakeClock) -> None:
    tok = make(clock, expires_in=60)
    clock.advance(53)
    assert tok.state(clock, 300) is TokenState.FRESH  # not stale from birth
    clock.advance(2)
    assert tok.state(clock, 300) is TokenState.STALE


def test_a_wall_clock_going_back_never_extends_a_token(clock: FakeClock) -> None:
    tok = make(clock, expires_in=3600)
    clock.jump_wall(-86400)
    assert tok.state(clock, 300) is TokenState.FRESH
    assert tok.remaining_s(clock) == pytest.approx(3600)  # the monotonic estimate
    clock.advance(3600)  # monotonic time alone expires it, whatever the wall clock says
    assert tok.state(clock, 300) is TokenState.EXPIRED and tok.remaining_s(clock) == 0


def test_suspend_either_clock_expires_the_token(clock: FakeClock) -> None:
    # During a suspend the monotonic clock may stand still while the wall clock moves on.
    tok = make(clock, expires_in=3600)
    clock.jump_wall(3600 - 100)  # inside the leeway by the wall clock only
    assert tok.state(clock, 300) is TokenState.STALE
    assert tok.remaining_s(clock) == pytest.approx(100)
    clock.jump_wall(200)
    assert tok.state(clock, 300) is TokenState.EXPIRED and tok.remaining_s(clock) == 0
    assert tok.age_s(clock) == pytest.approx(3600 + 100)


def test_system_clock_counts_through_suspend_where_the_os_allows() -> None:
    import time

    from cerkl_nb.clock import SYSTEM_CLOCK

    if not hasattr(time, "CLOCK_BOOTTIME"):
        pytest.skip("no CLOCK_BOOTTIME on this platform")
    import importlib

    clock_module = importlib.import_module("cerkl_nb.clock")
    assert getattr(clock_module._monotonic, "args", None) == (time.CLOCK_BOOTTIME,)
    a = time.clock_gettime(time.CLOCK_BOOTTIME)
    m = SYSTEM_CLOCK.monotonic()
    b = time.clock_gettime(time.CLOCK_BOOTTIME)
    assert a <= m <= b


def test_repr_shows_no_part_of_either_token(clock: FakeClock) -> None:
    tok = make(clock, refresh_token=REFRESH)
    from IPython.core.formatters import DisplayFormatter

    shown = DisplayFormatter().format(tok)[0].values()  # what a notebook displays
    texts = [repr(tok), str(tok), tok.masked(), *shown]
    for text in texts:
        for secret in (ACCESS, REFRESH):
            for i in range(0, 40 - 6):
                assert secret[i : i + 6] not in text, text
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(tok)


def test_repr_masks_both_tokens_the_way_secret_does(clock: FakeClock) -> None:
    from cerkl_nb.redact import Secret

    mask = repr(Secret("x"))
    tok = make(clock, refresh_token=REFRESH)
    assert f"access_token={mask}, refresh_token={mask}," in repr(tok)
    assert "refresh_token=None," in repr(make(clock))


def test_no_warning_for_complete_responses(clock: FakeClock) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(clock)
