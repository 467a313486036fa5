"""The autouse ``widget_errors`` fixture really catches exceptions raised in callbacks."""

from __future__ import annotations

import logging

import ipywidgets as widgets
import pytest


def test_fixture_collects_an_exception_raised_in_a_button_callback(widget_errors):
    button = widgets.Button(description="boom")

    def explode(_b):
        raise RuntimeError("callback exploded")

    button.on_click(explode)
    button.click()  # ipywidgets swallows the exception and only logs it
    assert len(widget_errors.records) == 1
    assert "callback exploded" in widget_errors.records[0].getMessage()
    widget_errors.clear()  # this test expected it; others would fail


def test_fixture_collects_an_exception_raised_in_a_custom_message_callback(widget_errors):
    w = widgets.Button()
    w.on_msg(lambda *_a: 1 / 0)
    w._handle_custom_msg({"kind": "x"}, [])
    assert widget_errors.records
    widget_errors.clear()


def test_check_fails_the_test_when_a_callback_raised(widget_errors):
    handler = type(widget_errors)()
    record = logging.LogRecord(
        "traitlets", logging.WARNING, __file__, 1, "Exception in callback %s: %s", ("cb", "x"), None
    )
    handler.emit(record)
    with pytest.raises(pytest.fail.Exception, match="a widget callback raised"):
        handler.check()


def test_unexpected_error_in_our_handlers_is_shown_and_fails_the_test(widget_errors, client):
    from cerkl_nb.widgets import ApiExplorer

    explorer = ApiExplorer(client)

    def broken(*_a, **_k):
        raise KeyError("not a CerklError")

    explorer._send_spec = broken  # type: ignore[method-assign]
    explorer.send_button.click()
    # Shown to the user in plain words ...
    assert "Unexpected error (KeyError)" in explorer.status_text
    # ... and recorded, so a test that did not expect it fails.
    assert widget_errors.records
    widget_errors.clear()
    explorer.close()
