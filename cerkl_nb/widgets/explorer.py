"""ApiExplorer: a Postman-like request builder, response view and history.

The builder (:class:`~cerkl_nb.widgets._builder.RequestBuilder`) picks folder → endpoint
→ method, path and query parameters (``page``, ``page_size``, a ``filters_json`` builder)
→ a body pre-filled with the resource's template envelope. Send → status, time, size,
collapsible JSON, a table for lists and the headers. Every call lands in the client's
history, which the explorer lists: select an entry to load it, Re-run to send it again.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..errors import CerklError
from ..postman.catalog import Catalog, RequestSpec, load_catalog
from ..redact import redact
from ..spec import PRODUCTION_BASE_URL, Endpoint
from ._bridge import FrontEndBridge, HtmlPane, StatusLine
from ._builder import RequestBuilder
from ._common import (
    MainThreadRelay,
    button,
    describe_error,
    esc,
    labelled,
    on_click,
    set_busy,
    shielded,
)
from ._render import ResponseView, reason

_current: Callable[[], Any] | None = None

_CODE_HEADER = (
    "# The explorer's request as a cerkl_nb call.\n"
    "import cerkl_nb.widgets\n"
    "\n"
    "client = cerkl_nb.widgets.current_client()  # the explorer's client; in a script: "
    "cerkl_nb.connect()\n"
)


def current_client() -> Any:
    """The client of the explorer (or dashboard) used last; a RuntimeError before there is one.

    Code inserted by "Insert as code cell" starts from it, so the new cell uses the same
    credentials and environment as the widgets.
    """
    client = _current() if _current is not None else None
    if client is None:
        raise RuntimeError(
            "No explorer client yet: run cerkl_nb.dashboard() first, or use cerkl_nb.connect()."
        )
    return client


class ApiExplorer(widgets.VBox):
    """Build, send and inspect API requests through ``client`` (or none yet: :meth:`set_client`).

    The endpoints are :func:`~cerkl_nb.postman.catalog.load_catalog`'s for its environment.
    The response body, table and headers (personal data, such as e-mail addresses) are
    not saved with the notebook, even with "save widget state" on: they reach the page in
    one-off messages, not synced traits. What is saved: the builder's fields, the status
    lines and the History list's labels (method, path, up to 40 characters of the query).
    """

    def __init__(self, client: Any = None, **kwargs: Any) -> None:
        self._client: Any = None
        self._remove_history_listener: Any = None
        self._anchor_ids: list[str] = []
        self._environment_notice = ""
        self._loading_history = False
        self._relay = MainThreadRelay(on_error=self._report)
        self.last_response: Any = None
        self.last_error: BaseException | None = None
        self.builder = RequestBuilder(on_error=self._report, on_switch=self._endpoint_switched)
        self.send_button = button("Send", "Send the request with the current token", primary=True)
        self.curl_button = button(
            "Copy as curl", "Copy a curl command ($CERKL_ACCESS_TOKEN stands for the token)"
        )
        self.python_button = button(
            "Copy as Python", "Copy plain requests code (the token is read from the environment)"
        )
        self.insert_button = button(
            "Insert as code cell", "Add a new notebook cell below with the equivalent cerkl_nb call"
        )
        self.clear_button = button(
            "Clear response", "Empty the response view (status, body, table, headers)"
        )
        self.rerun_button = button("Re-run", "Send the selected history request again")
        self.status = StatusLine()
        # Code the page could not copy or insert, to select and copy by hand (not synced).
        self.snippet = HtmlPane(layout=widgets.Layout(display="none"))
        self.response = ResponseView()
        self.history = labelled(
            widgets.Select, "History", "560px", "Select a request to load it", rows=6
        )
        self.bridge = FrontEndBridge()
        for control, action in (
            (self.send_button, self.send),
            (self.curl_button, self.copy_as_curl),
            (self.python_button, self.copy_as_python),
            (self.insert_button, self.insert_code_cell),
            (self.rerun_button, self._rerun_selected),
            (self.clear_button, self.clear_response),
        ):
            on_click(control, action, self._report)
        self.history.observe(shielded(self._on_history_select, self._report), names="value")
        self.bridge.on_report(self._on_bridge_report)
        actions = [self.send_button, self.curl_button, self.python_button, self.insert_button]
        response = [self.status, self.snippet, self.response]
        history = widgets.HBox([self.history, self.rerun_button])
        rows = [self.builder, widgets.HBox([*actions, self.clear_button]), *response, history]
        super().__init__([*rows, self.bridge], **kwargs)
        self.add_class("cerkl-widget")
        self.add_class("cerkl-api-explorer")
        if client is not None:
            self.set_client(client)
        else:
            self.builder.set_catalog(Catalog.builtin())
            self.status.show("info", "No client yet: get a token with the credentials form.")

    # -- public API ------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The :class:`~cerkl_nb.client.CerklClient` requests go through."""
        return self._client

    @property
    def status_text(self) -> str:
        """The status line as plain (redacted) text."""
        return self.status.text

    @property
    def status_kind(self) -> str:
        """``"info"``, ``"ok"``, ``"warn"``, ``"error"`` or ``"busy"``."""
        return self.status.kind

    @property
    def environment_notice(self) -> str:
        """Why Send is disabled ("" when it is not): the form targets another environment."""
        return self._environment_notice

    def set_client(self, client: Any) -> None:
        """Send requests through ``client`` from now on (and list its history)."""
        global _current
        old = self._client
        if self._remove_history_listener is not None:
            self._remove_history_listener()
        self._client = client
        _current = weakref.ref(client)
        # The history calls its listeners on the thread that made the request: relay.
        refresh = self._refresh_history
        self._remove_history_listener = client.history.add_listener(
            lambda _entry: self._relay.call(refresh)
        )
        if old is None or old.settings.base_url != client.settings.base_url:
            self.builder.set_catalog(load_catalog(client))
        self._refresh_history()
        self._show_ready()

    def set_environment_notice(self, notice: str) -> None:
        """Disable Send / Re-run and show ``notice`` (or, with ``""``, enable them again)."""
        if notice == self._environment_notice:
            return
        self._environment_notice = notice
        self.send_button.disabled = self.rerun_button.disabled = bool(notice)
        if notice or self._client is not None:
            self._show_ready()

    def set_anchor(self, *model_ids: str) -> None:
        """Model ids of the widgets this explorer is shown in (for "Insert as code cell")."""
        self._anchor_ids = [m for m in model_ids if m]

    def select(self, method: str, path: str) -> Endpoint | None:
        """Load an endpoint into the builder (what choosing Folder and Endpoint does).

        ``path`` is a template (``/subscriber/{id}``) or a concrete path
        (``/subscriber/7``, which fills the path parameters). Returns the catalogue entry,
        or ``None`` for a path the catalogue does not know (the builder is filled anyway).
        """
        return self.builder.select(method, path)

    def current_request(self) -> RequestSpec:
        """The request the builder describes now; a ValueError names the field to fix."""
        return self.builder.current_request()

    def send(self, *, raise_errors: bool = False) -> Any:
        """Send the request in the builder ("Send").

        Returns the response, or ``None`` when the request failed (the response view shows
        the error, :attr:`last_error` keeps it; ``raise_errors`` re-raises it).
        """
        self._relay.drain()
        try:
            client = self._require_client()
            spec = self.current_request()
        except (CerklError, ValueError) as err:
            self._report(err)
            if raise_errors:
                raise
            return None
        return self._send_spec(client, spec, raise_errors=raise_errors)

    def rerun(self, history_id: int, *, raise_errors: bool = False) -> Any:
        """Load history entry ``history_id`` into the builder and send it again ("Re-run")."""
        client = self._require_client()
        entry = client.history.get(int(history_id))
        if entry is None:
            err = ValueError(f"history entry #{history_id} is no longer in the history")
            self._report(err)
            if raise_errors:
                raise err
            return None
        self.builder.load_entry(entry)
        spec = RequestSpec(entry.method, entry.path, dict(entry.params or {}), entry.request_body)
        return self._send_spec(client, spec, raise_errors=raise_errors)

    def copy_as_curl(self) -> str | None:
        """Copy the request as a curl command; returns the command (no token in it)."""
        return self._copy(lambda spec, base: spec.to_curl(base), "curl command")

    def copy_as_python(self) -> str | None:
        """Copy the request as plain ``requests`` code; returns the code (no token in it)."""
        return self._copy(lambda spec, base: spec.to_python(base), "Python code")

    def code_for_cell(self) -> str:
        """The code "Insert as code cell" inserts: the equivalent cerkl_nb call."""
        return _CODE_HEADER + self.current_request().to_cerkl_nb("client") + "\n"

    def insert_code_cell(self) -> str | None:
        """Add a new notebook cell below with the equivalent cerkl_nb call; returns the code.

        Where widgets cannot add cells (Voilà, VS Code ...), the code is shown to copy
        instead. ``None`` when the request in the builder is incomplete.
        """
        try:
            code = self.code_for_cell()
        except (CerklError, ValueError) as err:
            self._report(err)
            return None
        if self.bridge.can_insert_cells is False:
            self._show_snippet(code, "The code for a new cell")
            self.status.show(
                "info",
                "This front end does not let widgets add cells: the code is shown below the "
                "buttons; copy it into a new cell.",
            )
            return code
        self.bridge.insert_cell(code, [*self._anchor_ids, self.model_id])
        self.status.show("info", "Asked the notebook to add a code cell below…")
        return code

    def clear_response(self) -> None:
        """Empty the response view ("Clear response") and forget the last response."""
        self.response.clear()
        self.last_response = None

    def close(self) -> None:
        """Stop listening to the history and close the widget tree."""
        if self._remove_history_listener is not None:
            self._remove_history_listener()
            self._remove_history_listener = None
        super().close()

    # -- sending -----------------------------------------------------------------------------
    def _require_client(self) -> Any:
        if self._client is None:
            raise CerklError("No client yet: click Get New Access Token in the credentials form.")
        if self._environment_notice:
            raise CerklError(self._environment_notice)
        return self._client

    def _send_spec(self, client: Any, spec: RequestSpec, *, raise_errors: bool) -> Any:
        # Busy, not disabled, while the request runs: the button keeps the keyboard focus.
        for control in (self.send_button, self.rerun_button):
            set_busy(control, True)
        self.status.show("busy", f"Sending {spec.method} {spec.path} …")
        try:
            resp = client.request(
                spec.method, spec.path, params=dict(spec.params) or None, json=spec.body
            )
        except Exception as err:
            self.last_error, self.last_response = err, None
            self._show_error_response(spec, err)
            if raise_errors:
                raise
            return None
        finally:
            for control in (self.send_button, self.rerun_button):
                set_busy(control, False)
        self.last_error, self.last_response = None, resp
        self.response.show(spec.method, spec.path, resp)
        n = len(resp.items or [])
        extra = f" {n} item{'s' if n != 1 else ''} (see the Table tab)." if n else ""
        what = f"{resp.status} {reason(resp.status)} from {spec.method} {spec.path}"
        self.status.show("ok", f"{what}.{extra}")
        return resp

    def _show_error_response(self, spec: RequestSpec, err: BaseException) -> None:
        text = describe_error(err)
        self.response.show_error(spec.method, spec.path, err, text)
        # The core's message usually names the request already ("GET https://… failed
        # with 404 …"): don't say it twice.
        if not text.startswith(f"{spec.method} "):
            text = f"{spec.method} {spec.path} failed: {text}"
        self.status.show("error", text)

    def _copy(self, make: Callable[[RequestSpec, str], str], what: str) -> str | None:
        try:
            base = self._client.settings.base_url if self._client else PRODUCTION_BASE_URL
            text = make(self.current_request(), base)
        except (CerklError, ValueError) as err:
            self._report(err)
            return None
        self.bridge.copy(text, what)
        self.status.show(
            "ok",
            f"Copied the {what} to the clipboard. It reads the token from $CERKL_ACCESS_TOKEN: "
            "set that variable first (the token itself is never put in a snippet).",
        )
        return text

    # -- the view --------------------------------------------------------------------------
    def _report(self, err: BaseException) -> None:
        self.last_error = err
        self.status.show("error", describe_error(err))

    def _show_ready(self) -> None:
        if self._environment_notice:
            self.status.show("warn", self._environment_notice)
            return
        ep = self.builder.chosen
        what = f"{ep.method} {ep.path}" if ep else "an endpoint"
        if self._client is None:
            self.status.show(
                "info", f"{what} is selected. No client yet: get a token with the credentials form."
            )
        else:
            self.status.show("info", f"Ready: {what} is selected. Click Send.")

    def _endpoint_switched(self) -> None:
        # What the view shows belongs to the previous endpoint: clear it.
        self._show_snippet(None)
        self.clear_response()
        self.last_error = None
        self._show_ready()

    def _show_snippet(self, text: str | None, what: str = "") -> None:
        """Show ``text`` in a selectable box (where the page could not help); None hides it."""
        self.snippet.layout.display = None if text is not None else "none"
        self.snippet.value = (
            f"<div class='cerkl-note'>{esc(what)}, to select and copy:</div>"
            f"<pre class='cerkl-snippet' tabindex='0' aria-label='{esc(what)}'>{esc(text)}</pre>"
            if text is not None
            else ""
        )

    # -- history -------------------------------------------------------------------------------
    def _refresh_history(self) -> None:
        client = self._client
        if client is None:
            return
        options = []
        for e in list(client.history.entries())[-50:][::-1]:
            status = e.status if e.status is not None else "error"
            retry = f" (attempt {e.attempt})" if e.attempt > 1 else ""
            query = "?" + "&".join(f"{k}={v}" for k, v in e.params.items()) if e.params else ""
            if len(query) > 40:
                query = query[:39] + "…"
            label = f"#{e.id} {e.method} {e.path}{query} → {status} ({e.elapsed_s * 1000:.0f} ms)"
            options.append((redact(label + retry), e.id))
        self._loading_history = True
        try:
            self.history.options = options
            self.history.value = None
        finally:
            self._loading_history = False

    def _on_history_select(self, change: dict[str, Any]) -> None:
        if self._loading_history or change["new"] is None or self._client is None:
            return
        entry = self._client.history.get(int(change["new"]))
        if entry is not None:
            self.builder.load_entry(entry)
            self.status.show("info", f"Loaded #{entry.id} into the builder: Re-run or Send it.")

    def _rerun_selected(self) -> None:
        if self.history.value is None:
            self.status.show("warn", "Select a request in the history first.")
            return
        self.rerun(self.history.value)

    def _on_bridge_report(self, report: dict[str, Any]) -> None:
        kind, ok, why, text = (report.get(k) for k in ("kind", "ok", "error", "text"))
        if kind == "capabilities" and not report.get("insert_cell"):
            self.insert_button.description = "Show as code"
            self.insert_button.tooltip = (
                "This front end does not let widgets add cells: show the cerkl_nb code to copy"
            )
        elif kind == "inserted" and ok:
            self.status.show("ok", "Inserted a new code cell below with the cerkl_nb call.")
        elif kind == "inserted":
            self._show_snippet(text or "", "The code for a new cell")
            self.status.show("warn", f"Could not insert a cell ({why}): the code is shown below.")
        elif kind == "copied" and not ok:
            what = report.get("what") or "text"
            self._show_snippet(text or "", f"The {what}")
            self.status.show(
                "warn", f"The browser refused the clipboard ({why}): the {what} is shown below."
            )

    def __repr__(self) -> str:
        ep, count = self.builder.chosen, len(self.builder.catalog)
        return f"ApiExplorer(endpoint={ep.key if ep else None!r}, endpoints={count})"
