"""TokenPanel: follows the TokenManager, buttons call the core, no token in any trait."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from ipywidgets.embed import embed_data

import cerkl_nb
from cerkl_nb.auth import TokenManager
from cerkl_nb.config import Credentials, Settings
from cerkl_nb.widgets import TokenPanel, dashboard


def _sandbox_config(sandbox) -> tuple[Credentials, Settings]:
    return Credentials.for_sandbox(sandbox), Settings.for_sandbox(sandbox)


def _front_end(panel: TokenPanel, **content) -> None:
    """Deliver a message as the page would (a button click)."""
    panel._handle_custom_msg(content, [])


def _secrets_of(tm) -> list[str]:
    tok = tm.token
    out = [tok.access_token.get_secret_value()]
    if tok.refresh_token is not None:
        out.append(tok.refresh_token.get_secret_value())
    return out


def _assert_not_in_state(panel, values) -> None:
    text = json.dumps(panel.get_state(), default=str) + json.dumps(
        embed_data(views=[panel])["manager_state"], default=str
    )
    for v in values:
        assert v not in text


def test_without_a_client_the_panel_says_what_to_do():
    panel = TokenPanel()
    assert panel.state == "none" and not panel.has_client
    assert panel.refresh() is None
    assert "No client yet" in panel.error


def test_a_token_fetched_by_code_shows_at_once(sandbox):
    tm = TokenManager(*_sandbox_config(sandbox))
    panel = TokenPanel(tm)
    assert panel.has_client and panel.expires_at == 0
    token = tm.fetch()  # not through the panel: the listener shows it
    assert panel.state == "fresh"
    assert panel.token_type == "Bearer"
    assert panel.masked_token == "••••••••" and token.token_type == "Bearer"
    assert panel.expires_at == pytest.approx(token.expires_at * 1000)
    assert panel.issued_at == pytest.approx(token.issued_at * 1000)
    assert panel.lifetime_s == token.lifetime_s
    assert 0 < panel.leeway_s <= 300
    assert panel.has_refresh_token is True
    assert panel.token_serial == 1
    assert "new token (client credentials): ok" in panel.last_refresh
    assert not panel.busy
    _assert_not_in_state(panel, _secrets_of(tm))


def test_refresh_button_uses_the_refresh_token_and_moves_the_expiry(sandbox, fake_clock):
    tm = TokenManager(*_sandbox_config(sandbox), clock=fake_clock)
    panel = TokenPanel(tm)
    _front_end(panel, kind="new_token")
    first_expiry = panel.expires_at
    first = _secrets_of(tm)
    fake_clock.advance(600)
    _front_end(panel, kind="refresh")
    assert panel.error == ""
    assert "refreshed with the refresh token: ok" in panel.last_refresh
    assert panel.expires_at == pytest.approx(first_expiry + 600_000)
    assert panel.token_serial == 2
    assert tm.stats["refreshes"] == 1
    # the countdown of the page runs against the manager's clock
    assert panel.clock_offset_ms == pytest.approx(
        (fake_clock.time() - __import__("time").time()) * 1000, abs=2000
    )
    _assert_not_in_state(panel, first + _secrets_of(tm))


def test_refresh_falls_back_to_client_credentials_when_the_refresh_token_is_dead(fresh_sandbox):
    client = cerkl_nb.connect(sandbox=fresh_sandbox)
    panel = TokenPanel(client)
    panel.get_new_token()
    fresh_sandbox.revoke_all_tokens()
    assert panel.refresh() is not None
    assert "fallback" in panel.last_refresh or "client credentials" in panel.last_refresh
    assert panel.error == ""
    assert client.token_manager.stats["fallbacks"] == 1


def test_expired_and_stale_states(sandbox, fake_clock):
    tm = TokenManager(*_sandbox_config(sandbox), clock=fake_clock)
    panel = TokenPanel(tm)
    panel.get_new_token()
    assert panel.state == "fresh"
    fake_clock.advance(tm.token.lifetime_s - 60)
    panel.sync()
    assert panel.state == "stale"
    fake_clock.advance(120)
    panel.sync()
    assert panel.state == "expired"


def test_errors_are_shown_in_plain_words(sandbox, own_client):
    cid, _ = own_client
    tm = TokenManager(cerkl_nb.Credentials(cid, "wrong-secret-000"), Settings.for_sandbox(sandbox))
    panel = TokenPanel(tm)
    _front_end(panel, kind="new_token")
    assert "invalid_client" in panel.error or "rejected" in panel.error
    assert "failed" in panel.last_refresh
    assert not panel.busy


def test_auto_refresh_toggle_reaches_the_manager(client):
    panel = TokenPanel(client)
    assert panel.auto_refresh is True
    _front_end(panel, kind="auto_refresh", value=False)
    assert panel.auto_refresh is False and client.token_manager.auto_refresh is False
    panel.set_auto_refresh(True)
    assert client.token_manager.auto_refresh is True


def test_copy_token_uses_a_one_off_message_never_a_trait(client, monkeypatch):
    panel = TokenPanel(client)
    sent = []
    monkeypatch.setattr(panel, "send", lambda content, buffers=None: sent.append(content))
    panel.copy_token()
    assert not sent and "No token to copy" in panel.error
    panel.get_new_token()
    assert panel.copy_token() is None  # nothing to print in a cell
    _front_end(panel, kind="copy_token")
    assert len(sent) == 2
    token = client.token_manager.token.access_token.get_secret_value()
    assert sent[0]["kind"] == "copy" and sent[0]["text"] == token
    _assert_not_in_state(panel, [token])
    _front_end(panel, kind="copied", ok=False, error="denied")
    assert "denied" in panel.error


def test_updates_from_another_thread_are_relayed_to_the_main_thread(client):
    panel = TokenPanel(client)
    t = threading.Thread(target=client.token_manager.fetch)
    t.start()
    t.join()
    # No running event loop here (plain pytest): the update waits for the main thread.
    assert panel.expires_at == 0
    assert panel._relay._pending  # waiting for the main thread
    panel.sync()
    assert panel.expires_at > 0 and panel.state == "fresh"


def test_with_a_running_loop_thread_updates_arrive_via_the_loop(client):
    async def main():
        panel = TokenPanel(client)  # created on the loop, like in a kernel cell
        seen_threads = []
        original = panel._apply_event

        def spy(event):
            seen_threads.append(threading.current_thread() is threading.main_thread())
            original(event)

        panel._apply_event = spy
        await asyncio.to_thread(client.token_manager.fetch)
        for _ in range(50):
            if panel.expires_at:
                break
            await asyncio.sleep(0.01)
        return panel, seen_threads

    panel, seen_threads = asyncio.run(main())
    assert panel.expires_at > 0
    assert seen_threads and all(seen_threads)


def test_set_client_switches_listener(sandbox, own_client):
    cid, secret = own_client
    a = cerkl_nb.connect(sandbox=sandbox)
    b = cerkl_nb.connect(client_id=cid, client_secret=secret, base_url=sandbox.url)
    panel = TokenPanel(a)
    panel.set_client(b)
    a.token_manager.fetch()
    assert panel.expires_at == 0  # no longer listening to a
    b.token_manager.fetch()
    assert panel.expires_at > 0
    panel.close()
    b.token_manager.fetch()  # a closed panel is not updated (and does not raise)


def test_unknown_front_end_message_is_ignored(client, caplog):
    panel = TokenPanel(client)
    _front_end(panel, kind="bogus")
    assert any("unknown front-end message" in r.getMessage() for r in caplog.records)


def test_token_row_shows_the_mask_alone(client):
    dash = dashboard(client)
    dash.form.submit()
    assert dash.panel.masked_token == "••••••••" and dash.panel.token_type == "Bearer"
    dash.close()


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_countdown_rounds_up_and_times_show_the_date_when_not_today(tmp_path):
    # The module exactly as the page loads it (with the shared clipboard helper).
    mod = tmp_path / "panel.mjs"
    mod.write_text(TokenPanel._esm)
    script = (
        f"import {{ formatHMS, localTime }} from {json.dumps(mod.as_uri())};\n"
        "const now = new Date(2026, 10, 29, 16, 0, 0).getTime();\n"
        "console.log(JSON.stringify([formatHMS(500), formatHMS(0), formatHMS(-5),\n"
        "  formatHMS(3599001), localTime(now + 3600e3, now), localTime(now + 86400e3, now),\n"
        "  localTime(0, now)]));\n"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    a, zero, neg, hour, today, tomorrow, empty = json.loads(out)
    assert (a, zero, neg, hour) == ("00:00:01", "00:00:00", "00:00:00", "01:00:00")
    assert re.fullmatch(r"17:00:00( \S+)?", today)
    assert re.fullmatch(r"2026-11-30 16:00:00( \S+)?", tomorrow)
    assert empty == "—"


def test_one_name_for_getting_a_new_token_and_auto_refresh_says_when_it_acts():
    import cerkl_nb.widgets as package

    root = Path(package.__file__).parent
    texts = [p.read_text() for p in (*root.glob("*.py"), *root.glob("static/*.js"))]
    assert not any("Get new token" in t for t in texts)
    panel_js = (root / "static" / "token_panel.js").read_text()
    assert ">Get New Access Token</button>" in panel_js
    assert "Auto-refresh on next request: ${auto" in panel_js
