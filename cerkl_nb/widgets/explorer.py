"""ApiExplorer: a Postman-like request builder fed by the API description.

Folders (resources) → endpoint → method, path and query parameters (``page``,
``page_size``, a ``filters_json`` builder) → a body pre-filled with the resource's
template envelope → Send → status, time, size, collapsible JSON, a table for lists and
the headers. Every call lands in the client's history, which the explorer lists; select
an entry to load it, Re-run to send it again. Errors are shown in the response view.

Each button is a public method: :meth:`ApiExplorer.send`, :meth:`~ApiExplorer.rerun`,
:meth:`~ApiExplorer.copy_as_curl`, :meth:`~ApiExplorer.copy_as_python`,
:meth:`~ApiExplorer.insert_code_cell`, :meth:`~ApiExplorer.select`,
:meth:`~ApiExplorer.clear_response`.

What is saved with the notebook
-------------------------------
The response body, table and headers (which can hold personal data, such as subscriber
e-mail addresses) are not synced traits: they reach the page in one-off messages
(:class:`~cerkl_nb.widgets._bridge.HtmlPane`), so JupyterLab's "save widget state" does
not write them into the notebook. What is saved: the request builder's fields, the status
lines (status code, time, size, method and path) and the History list's labels (method,
path and up to 40 characters of the query string, e.g. a filters_json value).
"""

from __future__ import annotations

import http
import json
import re
import weakref
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..catalog import (
    FILTER_OPERATORS,
    Catalog,
    Endpoint,
    RequestSpec,
    fill_path,
    load_catalog,
    template_envelope,
)
from ..config import DEFAULT_BASE_URL
from ..errors import ApiError, CerklError
from ..paging import filters_json
from ..redact import redact
from ._bridge import FrontEndBridge, HtmlPane
from ._common import (
    FOCUS_STYLE,
    MainThreadRelay,
    StatusLine,
    button,
    describe_error,
    esc,
    guarded,
    labelled,
    log,
    on_click,
)
from ._render import headers_html, human_size, json_html, table_html

__all__ = ["ApiExplorer", "current_client"]

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_PAGING_NAMES = ("page", "page_size", "filters_json")

_current: Callable[[], Any] | None = None

# Observers show their errors in the status line (see guarded).
_reporting = guarded(lambda self, err: self._report(err))

_CODE_HEADER = (
    "# The explorer's request as a cerkl_nb call.\n"
    "import cerkl_nb.widgets\n"
    "\n"
    "client = cerkl_nb.widgets.current_client()  # the explorer's client; in a script: "
    "cerkl_nb.connect()\n"
)

_NO_RESPONSE = "<div class='cerkl-response-status' style='color:#6e7781'>No response yet.</div>"

_STYLE = FOCUS_STYLE + (
    "<style>.cerkl-mono textarea,.cerkl-mono input{font-family:var(--jp-code-font-family,"
    "monospace)!important;font-size:12px!important}</style>"
)


def current_client() -> Any:
    """The client the most recently used explorer (or dashboard) works with.

    Code inserted by "Insert as code cell" starts from it, so the new cell uses the same
    credentials and environment as the widgets.

    Raises
    ------
    RuntimeError
        When no explorer has a client yet.
    """
    client = _current() if _current is not None else None
    if client is None:
        raise RuntimeError(
            "No explorer client yet: run cerkl_nb.dashboard() first, or use cerkl_nb.connect()."
        )
    return client


def _remember(client: Any) -> None:
    global _current
    try:
        _current = weakref.ref(client)
    except TypeError:  # objects without weakref support: hold them strongly
        _current = lambda: client  # noqa: E731


class _FilterRow(widgets.HBox):
    """One ``field operator value`` condition of the filters_json builder."""

    def __init__(self, fields: tuple[str, ...], on_change: Callable[[], None], on_remove: Any):
        self.field = widgets.Combobox(
            options=list(fields),
            placeholder="field",
            description="Field",
            tooltip="A property of the resource, such as date_modified_utc",
            ensure_option=False,
            layout=widgets.Layout(width="230px"),
            style={"description_width": "40px"},
        )
        self.op = widgets.Dropdown(
            options=list(FILTER_OPERATORS),
            value="eq",
            description="Operator",
            layout=widgets.Layout(width="150px"),
            style={"description_width": "60px"},
        )
        self.value = widgets.Text(
            placeholder="value (for in: a, b, c)",
            description="Value",
            tooltip="Numbers and true/false are sent as JSON; dates as YYYY-MM-DD HH:MM:SS",
            layout=widgets.Layout(width="260px"),
            style={"description_width": "40px"},
        )
        self.remove = button("Remove", "Remove this condition")
        for w in (self.field, self.op, self.value):
            w.observe(lambda _c: on_change(), names="value")
        self.remove.on_click(lambda _b: on_remove(self))
        super().__init__([self.field, self.op, self.value, self.remove])

    def condition(self) -> tuple[str, str, Any] | None:
        name = self.field.value.strip()
        if not name:
            return None
        raw = self.value.value.strip()
        if self.op.value == "in":
            value: Any = [_parse_scalar(v.strip()) for v in raw.split(",") if v.strip()]
        else:
            value = _parse_scalar(raw)
        return name, self.op.value, value


def _count_input(name: str, value: int, top: int, tooltip: str) -> widgets.BoundedIntText:
    """A whole-number input from 1 to ``top`` (``page``, ``page_size``)."""
    return labelled(
        widgets.BoundedIntText, name, "220px", value=value, min=1, max=top, tooltip=tooltip
    )


def _parse_scalar(raw: str) -> Any:
    if re.fullmatch(r"-?\d+(\.\d+)?|true|false|null", raw):
        return json.loads(raw)
    return raw


class ApiExplorer(StatusLine, widgets.VBox):
    """Build, send and inspect API requests.

    Parameters
    ----------
    client
        A :class:`~cerkl_nb.client.CerklClient` (or ``None``; attach one with
        :meth:`set_client`).
    catalog
        The endpoint catalogue; by default loaded from the client's API description
        (the sandbox's ``/v3/openapi.json``) or the built-in one.

    Notes
    -----
    The response body, table and headers are not saved with the notebook, even with
    "save widget state" on (they are not synced traits); "Clear response"
    (:meth:`clear_response`) empties the view. See the module docstring for what is saved.
    """

    def __init__(self, client: Any = None, *, catalog: Catalog | None = None, **kwargs: Any):
        self._client: Any = None
        self._catalog = catalog
        self._fixed_catalog = catalog is not None
        self._remove_history_listener: Any = None
        self._relay = MainThreadRelay(on_error=lambda err: self._report(err))
        self._loading = False
        self._endpoint: Endpoint | None = None
        self._path_inputs: dict[str, widgets.Text] = {}
        self._query_inputs: dict[str, widgets.Text] = {}
        self._filter_rows: list[_FilterRow] = []
        self._anchor_ids: list[str] = []
        self._environment_notice = ""
        self._sending = False
        self.last_response: Any = None
        self.last_error: BaseException | None = None

        self.folder = labelled(
            widgets.Dropdown, "Folder", "300px", tooltip="Endpoints grouped by resource"
        )
        self.endpoint = labelled(
            widgets.Dropdown, "Endpoint", "560px", tooltip="The request to build"
        )
        self.method = labelled(widgets.Dropdown, "Method", "220px", options=_METHODS, value="GET")
        self.path = labelled(
            widgets.Text,
            "Path",
            "560px",
            tooltip="Relative to the base URL; {name} marks a path parameter",
        )
        self.path_params = widgets.VBox()
        self.page = _count_input("page", 1, 1_000_000, "Page number (from 1)")
        self.page_size = _count_input("page_size", 100, 100_000, "Items per page (default 100)")
        self.extra_query = widgets.VBox()
        self.filters_box = widgets.VBox()
        self.add_filter_button = button(
            "Add filter condition", "Add a field/operator/value condition to filters_json"
        )
        self.filters_json = labelled(
            widgets.Text,
            "filters_json",
            "560px",
            placeholder='{"date_modified_utc": {"gt": "2020-07-16 00:00:00"}}',
            tooltip="Sent as the filters_json query parameter; built from the conditions or typed",
        )
        self.filters_json.add_class("cerkl-mono")
        self.query_section = widgets.VBox(
            [
                widgets.HBox([self.page, self.page_size]),
                self.extra_query,
                self.filters_box,
                widgets.HBox([self.add_filter_button]),
                self.filters_json,
            ]
        )
        self.body = labelled(
            widgets.Textarea,
            "Body (JSON)",
            "560px",
            height="170px",
            tooltip="The request body, in Cerkl's template envelope",
        )
        self.body.add_class("cerkl-mono")
        self.reset_body_button = button("Reset body", "Put the resource's template envelope back")
        self.body_section = widgets.VBox([self.body, self.reset_body_button])
        self.send_button = button("Send", "Send the request with the current token", primary=True)
        self.curl_button = button(
            "Copy as curl",
            "Copy a curl command ($CERKL_ACCESS_TOKEN stands for the token)",
        )
        self.python_button = button(
            "Copy as Python",
            "Copy plain requests code (the token is read from the environment)",
        )
        self.insert_button = button(
            "Insert as code cell",
            "Add a new notebook cell below with the equivalent cerkl_nb call",
        )
        self.status = widgets.HTML()
        self.response_status = widgets.HTML(_NO_RESPONSE)
        # Response data (possibly personal data) is never synced state: see HtmlPane.
        self.response_body = HtmlPane(tablist_label="Response view")
        self.response_table = HtmlPane()
        self.response_headers = HtmlPane()
        self.response_tabs = widgets.Tab(
            [self.response_body, self.response_table, self.response_headers],
            titles=("Body", "Table", "Headers"),
        )
        self.response_tabs.add_class("cerkl-response-tabs")
        self.clear_button = button(
            "Clear response", "Empty the response view (status, body, table, headers)"
        )
        self.history = labelled(
            widgets.Select,
            "History",
            "560px",
            options=[],
            rows=6,
            tooltip="Select a request to load it",
        )
        self.rerun_button = button("Re-run", "Send the selected history request again")
        self.bridge = FrontEndBridge()
        self.bridge.on_report(self._on_bridge_report)

        self.folder.observe(self._on_folder, names="value")
        self.endpoint.observe(self._on_endpoint, names="value")
        self.path.observe(self._on_path, names="value")
        self.method.observe(self._on_method, names="value")
        self.history.observe(self._on_history_select, names="value")
        for control, action in (
            (self.add_filter_button, self._add_filter_row),
            (self.reset_body_button, self._reset_body),
            (self.send_button, self.send),
            (self.curl_button, self.copy_as_curl),
            (self.python_button, self.copy_as_python),
            (self.insert_button, self.insert_code_cell),
            (self.rerun_button, self._rerun_selected),
            (self.clear_button, self.clear_response),
        ):
            on_click(control, action, self._report)

        self.catalog_note = widgets.HTML()
        kwargs.setdefault(
            "children",
            [
                widgets.HTML(_STYLE),
                self.catalog_note,
                widgets.HBox(
                    [self.folder, self.endpoint], layout=widgets.Layout(flex_flow="row wrap")
                ),
                widgets.HBox([self.method, self.path], layout=widgets.Layout(flex_flow="row wrap")),
                self.path_params,
                self.query_section,
                self.body_section,
                widgets.HBox(
                    [
                        self.send_button,
                        self.curl_button,
                        self.python_button,
                        self.insert_button,
                        self.clear_button,
                    ],
                    layout=widgets.Layout(flex_flow="row wrap"),
                ),
                self.status,
                self.response_status,
                self.response_tabs,
                widgets.HBox([self.history, self.rerun_button]),
                self.bridge,
            ],
        )
        super().__init__(**kwargs)
        self.add_class("cerkl-api-explorer")
        if client is not None:
            self.set_client(client)
        else:
            self._install_catalog(self._catalog or Catalog.builtin())
            self._set_status("info", "No client yet: get a token with the credentials form.")

    # -- public API ------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The :class:`~cerkl_nb.client.CerklClient` requests go through."""
        return self._client

    @property
    def catalog(self) -> Catalog:
        """The endpoint catalogue in use."""
        return self._catalog or Catalog.builtin()

    @property
    def response_status_text(self) -> str:
        """The response summary line as plain text (``"200 OK · 12 ms · 1.2 kB ..."``)."""
        return re.sub(r"<[^>]+>", "", self.response_status.value)

    def set_client(self, client: Any) -> None:
        """Send requests through ``client`` from now on (and list its history)."""
        old = self._client
        if self._remove_history_listener is not None:
            self._remove_history_listener()
        self._client = client
        _remember(client)
        self._remove_history_listener = client.history.add_listener(self._on_history_event)
        if not self._fixed_catalog and (
            old is None or old.settings.base_url != client.settings.base_url
        ):
            self._install_catalog(load_catalog(client))
        self._refresh_history()
        self._show_ready()

    @property
    def environment_notice(self) -> str:
        """Why Send is disabled ("" when it is not): the form targets another environment."""
        return self._environment_notice

    def set_environment_notice(self, notice: str) -> None:
        """Disable Send / Re-run and show ``notice`` (or, with ``""``, enable them again)."""
        if notice == self._environment_notice:
            return
        self._environment_notice = notice
        self._update_buttons()
        if notice:
            self._set_status("warn", notice)
        elif self._client is not None:
            self._show_ready()

    def _show_ready(self) -> None:
        ep = self._endpoint
        what = f"{ep.method} {ep.path}" if ep else "an endpoint"
        self._set_status("info", f"Ready: {what} is selected. Click Send.")

    def _update_buttons(self) -> None:
        blocked = self._sending or bool(self._environment_notice)
        self.send_button.disabled = blocked
        self.rerun_button.disabled = blocked

    def set_anchor(self, *model_ids: str) -> None:
        """Model ids of the widgets this explorer is shown in (for "Insert as code cell")."""
        self._anchor_ids = [m for m in model_ids if m]

    def select(self, method: str, path: str) -> Endpoint | None:
        """Load an endpoint into the builder.

        Parameters
        ----------
        method
            HTTP method.
        path
            A path template (``/subscriber/{id}``) or a concrete path (``/subscriber/7``);
            a concrete path fills the path parameters.

        Returns
        -------
        Endpoint | None
            The catalogue entry, or ``None`` for a path the catalogue does not know (the
            builder is filled anyway).
        """
        method = method.upper()
        path = "/" + path.strip().lstrip("/")
        ep = self.catalog.find(method, path)
        if ep is not None:
            self._show_in_pickers(ep)
            self._apply_endpoint(ep)
            if path != ep.path:
                m = re.fullmatch(
                    re.sub(r"\\\{([^{}/]+)\\\}", r"(?P<\1>[^/]+)", re.escape(ep.path)), path
                )
                if m:
                    for name, value in m.groupdict().items():
                        if name in self._path_inputs:
                            self._path_inputs[name].value = value
        else:
            self._endpoint = None
            self._loading = True
            try:
                self.endpoint.value = None  # not a catalogue endpoint
                self.method.value = method if method in _METHODS else "GET"
                self.path.value = path
            finally:
                self._loading = False
            self._rebuild_path_params()
            self._show_sections()
        return ep

    def current_request(self) -> RequestSpec:
        """The request the builder describes now.

        Raises
        ------
        ValueError
            With the field to fix (empty path parameter, body or filters_json not JSON).
        """
        template = self.path.value.strip()
        if not template:
            raise ValueError("the path is empty: choose an endpoint or type a path")
        values = {name: w.value for name, w in self._path_inputs.items()}
        path = fill_path("/" + template.lstrip("/"), values)
        params: dict[str, Any] = {}
        if self.query_section.layout.display != "none":
            names = {p.name for p in (self._endpoint.query_params if self._endpoint else ())}
            if "page" in names or self._endpoint is None and self.method.value == "GET":
                params["page"] = int(self.page.value)
            if "page_size" in names or self._endpoint is None and self.method.value == "GET":
                params["page_size"] = int(self.page_size.value)
            for name, w in self._query_inputs.items():
                if w.value.strip():
                    params[name] = w.value.strip()
            text = self.filters_json.value.strip()
            if text:
                try:
                    parsed = json.loads(text)
                except ValueError as err:
                    raise ValueError(
                        f"filters_json is not valid JSON ({err.msg} at column {err.colno})"
                    ) from None
                if not isinstance(parsed, dict):
                    raise ValueError('filters_json must be a JSON object: {"field": {"op": value}}')
                params["filters_json"] = json.dumps(
                    parsed, separators=(",", ":"), ensure_ascii=False
                )
        body: Any = None
        if self.method.value in ("POST", "PUT", "PATCH") and self.body.value.strip():
            try:
                body = json.loads(self.body.value)
            except ValueError as err:
                raise ValueError(
                    f"the body is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})"
                ) from None
        return RequestSpec(self.method.value, path, params, body)

    def send(self, *, raise_errors: bool = False) -> Any:
        """Send the request in the builder ("Send").

        Returns
        -------
        ApiResponse | None
            The response, or ``None`` when the request failed (the error is shown in the
            response view and kept in :attr:`last_error`).
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
        """Load history entry ``history_id`` into the builder and send it again."""
        client = self._require_client()
        entry = client.history.get(int(history_id))
        if entry is None:
            err = ValueError(f"history entry #{history_id} is no longer in the history")
            self._report(err)
            if raise_errors:
                raise err
            return None
        self._load_entry(entry)
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
        """Add a new notebook cell below with the equivalent cerkl_nb call.

        The page inserts the cell through JupyterLab's notebook model; in front ends
        where widgets cannot add cells, the code goes to the clipboard instead (the
        status line says which happened).

        Returns
        -------
        str | None
            The code, or ``None`` when the request in the builder is incomplete.
        """
        try:
            code = self.code_for_cell()
        except (CerklError, ValueError) as err:
            self._report(err)
            return None
        self.bridge.insert_cell(code, [*self._anchor_ids, self.model_id])
        self._set_status("info", "Asked the notebook to add a code cell below…")
        return code

    def clear_response(self) -> None:
        """Empty the response view ("Clear response") and forget the last response."""
        self.response_status.value = _NO_RESPONSE
        self.response_body.value = self.response_table.value = self.response_headers.value = ""
        self.last_response = None

    def close(self) -> None:
        """Stop listening to the history and close the widget tree."""
        if self._remove_history_listener is not None:
            self._remove_history_listener()
            self._remove_history_listener = None
        super().close()

    # -- sending -------------------------------------------------------------------------------
    def _require_client(self) -> Any:
        if self._client is None:
            raise CerklError("No client yet: click Get New Access Token in the credentials form.")
        if self._environment_notice:
            raise CerklError(self._environment_notice)
        return self._client

    def _send_spec(self, client: Any, spec: RequestSpec, *, raise_errors: bool) -> Any:
        self._sending = True
        self._update_buttons()
        self._set_status("busy", f"Sending {spec.method} {spec.path} …")
        try:
            resp = client.request(
                spec.method, spec.path, params=dict(spec.params) or None, json=spec.body
            )
        except Exception as err:
            self.last_error = err
            self.last_response = None
            if not isinstance(err, (CerklError, ValueError)):
                log.error("request failed unexpectedly", exc_info=True)
            self._show_error_response(spec, err)
            if raise_errors:
                raise
            return None
        finally:
            self._sending = False
            self._update_buttons()
        self.last_error = None
        self.last_response = resp
        self._show_response(spec, resp)
        return resp

    def _show_response(self, spec: RequestSpec, resp: Any) -> None:
        reason = _reason(resp.status)
        colour = "#1a7f37" if resp.status < 300 else "#9a6700"
        rid = f" · request id {esc(resp.request_id)}" if resp.request_id else ""
        self.response_status.value = (
            f"<div class='cerkl-response-status' role='status' aria-live='polite'>"
            f"<b style='color:{colour};font-size:1.15em'>{resp.status} {esc(reason)}</b>"
            f" · {resp.elapsed_s * 1000:.0f} ms · {human_size(resp.size)}"
            f" · {esc(spec.method)} {esc(spec.path)}{rid}</div>"
        )
        self.response_body.value = (
            json_html(resp.body) if resp.body is not None else "<p><i>(empty body)</i></p>"
        )
        self.response_table.value = table_html(resp.items or [])
        self.response_headers.value = headers_html(resp.headers)
        n = len(resp.items or [])
        extra = f" {n} item{'s' if n != 1 else ''} (see the Table tab)." if n else ""
        self._set_status("ok", f"{resp.status} {reason} from {spec.method} {spec.path}.{extra}")

    def _show_error_response(self, spec: RequestSpec, err: BaseException) -> None:
        text = describe_error(err)
        if isinstance(err, ApiError):
            rid = f" · request id {esc(err.request_id)}" if err.request_id else ""
            self.response_status.value = (
                f"<div class='cerkl-response-status' role='alert'>"
                f"<b style='color:#cf222e;font-size:1.15em'>"
                f"{err.status} {esc(_reason(err.status))}</b>"
                f" · {esc(spec.method)} {esc(spec.path)}{rid}</div>"
            )
            excerpt = err.body_excerpt or ""
            try:
                self.response_body.value = json_html(json.loads(excerpt)) if excerpt else ""
            except ValueError:
                self.response_body.value = f"<pre>{esc(excerpt)}</pre>"
        else:
            status = getattr(err, "status", None)
            head = f"{status} {_reason(status)}" if status else "No response"
            self.response_status.value = (
                f"<div class='cerkl-response-status' role='alert'>"
                f"<b style='color:#cf222e;font-size:1.15em'>{esc(head)}</b>"
                f" · {esc(spec.method)} {esc(spec.path)}</div>"
            )
            self.response_body.value = f"<pre style='white-space:pre-wrap'>{esc(text)}</pre>"
        self.response_table.value = table_html([])
        self.response_headers.value = headers_html(None)
        self.response_tabs.selected_index = 0  # the error is in the Body tab
        # The core's message usually names the request already ("GET https://… failed
        # with 404 …"): don't say it twice.
        if not text.startswith(f"{spec.method} "):
            text = f"{spec.method} {spec.path} failed: {text}"
        self._set_status("error", text)

    def _copy(self, make: Callable[[RequestSpec, str], str], what: str) -> str | None:
        try:
            spec = self.current_request()
            base = self._client.settings.base_url if self._client else DEFAULT_BASE_URL
            text = make(spec, base)
        except (CerklError, ValueError) as err:
            self._report(err)
            return None
        self.bridge.copy(text, what)
        self._set_status(
            "ok",
            f"Copied the {what} to the clipboard. It reads the token from $CERKL_ACCESS_TOKEN: "
            "set that variable first (the token itself is never put in a snippet).",
        )
        return text

    # -- builder -------------------------------------------------------------------------------
    def _install_catalog(self, catalog: Catalog) -> None:
        self._catalog = catalog
        n = len(catalog)
        source = (
            "the sandbox's API description"
            if catalog.source != "built-in"
            else ("the built-in list of Cerkl's documented endpoints")
        )
        self.catalog_note.value = (
            f"<div style='color:#57606a'>{n} endpoints from {esc(source)}, "
            "grouped by resource.</div>"
        )
        self._loading = True
        try:
            self.folder.options = catalog.resources()
        finally:
            self._loading = False
        ep = catalog.default()
        if ep is not None:
            self.select(ep.method, ep.path)

    def _show_in_pickers(self, ep: Endpoint | None) -> None:
        """Show ``ep`` in the Folder and Endpoint dropdowns (no endpoint for ``None``)."""
        self._loading = True
        try:
            if ep is not None:
                self.folder.value = ep.resource
                self._fill_endpoint_options(ep.resource)
                self.endpoint.value = ep.key
            else:
                self.endpoint.value = None
        finally:
            self._loading = False

    def _fill_endpoint_options(self, resource: str) -> None:
        eps = self.catalog.by_resource(resource)
        self.endpoint.options = [(e.label, e.key) for e in eps]

    def _endpoint_by_key(self, key: str | None) -> Endpoint | None:
        for e in self.catalog:
            if e.key == key:
                return e
        return None

    def _apply_endpoint(self, ep: Endpoint) -> None:
        self._endpoint = ep
        self._loading = True
        try:
            self.method.value = ep.method if ep.method in _METHODS else "GET"
            self.path.value = ep.path
            self.filters_json.value = ""
            self.page.value = 1
            self.page_size.value = 100
        finally:
            self._loading = False
        for row in list(self._filter_rows):
            self._remove_filter_row(row, rebuild=False)
        self._rebuild_path_params()
        self._rebuild_query_inputs()
        self._reset_body()
        self._show_sections()

    def _reset_body(self) -> None:
        ep = self._endpoint
        template = ep.body_template if ep is not None else None
        if template is None and self.method.value in ("POST", "PUT", "PATCH"):
            template = template_envelope()
        self.body.value = json.dumps(template, indent=2, ensure_ascii=False) if template else ""

    def _rebuild_path_params(self) -> None:
        names = re.findall(r"\{([^{}/]+)\}", self.path.value)
        old = {k: w.value for k, w in self._path_inputs.items()}
        self._path_inputs = {}
        for name in names:
            self._path_inputs[name] = labelled(
                widgets.Text,
                name,
                "300px",
                value=old.get(name, ""),
                placeholder="required",
                tooltip=f"Path parameter {{{name}}}",
            )
        self.path_params.children = list(self._path_inputs.values())

    def _rebuild_query_inputs(self) -> None:
        ep = self._endpoint
        extra = [p for p in (ep.query_params if ep else ()) if p.name not in _PAGING_NAMES]
        self._query_inputs = {
            p.name: labelled(
                widgets.Text,
                p.name,
                "560px",
                placeholder=p.description or ("required" if p.required else "optional"),
                tooltip=p.description or f"Query parameter {p.name}",
            )
            for p in extra
        }
        self.extra_query.children = list(self._query_inputs.values())

    def _show_sections(self) -> None:
        ep = self._endpoint
        method = self.method.value
        if ep is not None:
            names = {p.name for p in ep.query_params}
            show_query = bool(names) and method == "GET"
            show_paging = bool({"page", "page_size"} & names)
            show_filters = "filters_json" in names
        else:
            show_query = show_paging = show_filters = method == "GET"
        self.query_section.layout.display = None if show_query else "none"
        self.page.layout.display = None if show_paging else "none"
        self.page_size.layout.display = None if show_paging else "none"
        for w in (self.filters_box, self.add_filter_button, self.filters_json):
            w.layout.display = None if show_filters else "none"
        self.body_section.layout.display = None if method in ("POST", "PUT", "PATCH") else "none"

    def _add_filter_row(self) -> _FilterRow:
        fields = self._endpoint.fields if self._endpoint else ()
        row = _FilterRow(fields, self._rebuild_filters_json, self._remove_filter_row)
        self._filter_rows.append(row)
        self.filters_box.children = list(self._filter_rows)
        return row

    def _remove_filter_row(self, row: _FilterRow, rebuild: bool = True) -> None:
        if row in self._filter_rows:
            self._filter_rows.remove(row)
            row.close()
        self.filters_box.children = list(self._filter_rows)
        if rebuild:
            self._rebuild_filters_json()

    def _rebuild_filters_json(self) -> None:
        conditions: dict[str, dict[str, Any]] = {}
        for row in self._filter_rows:
            cond = row.condition()
            if cond is not None:
                name, op, value = cond
                conditions.setdefault(name, {})[op] = value
        try:
            self.filters_json.value = filters_json(conditions) if conditions else ""
        except (CerklError, ValueError) as err:
            self._report(err)

    def _load_entry(self, entry: Any) -> None:
        """Fill the builder from a history entry (without sending)."""
        self.select(entry.method, entry.path)
        params = dict(entry.params or {})
        if "page" in params:
            self.page.value = int(params["page"])
        if "page_size" in params:
            self.page_size.value = int(params["page_size"])
        if params.get("filters_json"):
            self.filters_json.value = str(params["filters_json"])
        for name, w in self._query_inputs.items():
            if name in params:
                w.value = str(params[name])
        if entry.request_body is not None:
            self.body.value = json.dumps(entry.request_body, indent=2, ensure_ascii=False)

    # -- history -------------------------------------------------------------------------------
    def _on_history_event(self, _entry: Any) -> None:
        # Called in the thread that made the request: relay to the main thread.
        self._relay.call(self._refresh_history)

    def _refresh_history(self) -> None:
        client = self._client
        if client is None:
            return
        entries = list(client.history.entries())[-50:][::-1]
        options = []
        for e in entries:
            status = e.status if e.status is not None else "error"
            retry = f" (attempt {e.attempt})" if getattr(e, "attempt", 1) > 1 else ""
            query = ""
            if e.params:
                query = "?" + "&".join(f"{k}={v}" for k, v in e.params.items())
                if len(query) > 40:
                    query = query[:39] + "…"
            ms = f"{e.elapsed_s * 1000:.0f} ms"
            label = f"#{e.id} {e.method} {e.path}{query} → {status} ({ms}){retry}"
            options.append((redact(label), e.id))
        self._loading = True
        try:
            self.history.options = options
            self.history.value = None
        finally:
            self._loading = False

    # -- event handlers ------------------------------------------------------------------------
    def _report(self, err: BaseException) -> None:
        self.last_error = err
        self._set_status("error", describe_error(err))

    @_reporting
    def _on_folder(self, change: dict[str, Any]) -> None:
        if self._loading or not change["new"]:
            return
        eps = self.catalog.by_resource(change["new"])
        if eps:
            self.select(eps[0].method, eps[0].path)  # fills the Endpoint list too
        else:
            self._fill_endpoint_options(change["new"])

    @_reporting
    def _on_endpoint(self, change: dict[str, Any]) -> None:
        if self._loading:
            return
        ep = self._endpoint_by_key(change["new"])
        if ep is not None:
            self._apply_endpoint(ep)

    @_reporting
    def _on_path(self, _change: dict[str, Any]) -> None:
        if self._loading:
            return
        self._match_path()
        self._rebuild_path_params()

    def _match_path(self) -> None:
        """Follow a typed path: select the catalogue endpoint it fits (or none).

        The text typed stays as it is (``/segment/7`` is not turned into
        ``/segment/{id}``); only the endpoint shown and the query parameters offered (and
        sent) change, so a single-item path no longer sends ``page``/``page_size``.
        """
        typed = self.path.value.strip()
        if not typed:
            return
        found = self.catalog.find(self.method.value, "/" + typed.lstrip("/"))
        if found is self._endpoint:
            return
        self._endpoint = found
        self._show_in_pickers(found)
        self._rebuild_query_inputs()
        self._show_sections()

    @_reporting
    def _on_method(self, _change: dict[str, Any]) -> None:
        if self._loading:
            return
        self._match_path()
        if self.method.value in ("POST", "PUT", "PATCH") and not self.body.value.strip():
            self._reset_body()
        self._show_sections()

    @_reporting
    def _on_history_select(self, change: dict[str, Any]) -> None:
        if self._loading or change["new"] is None or self._client is None:
            return
        entry = self._client.history.get(int(change["new"]))
        if entry is not None:
            self._load_entry(entry)
            self._set_status("info", f"Loaded #{entry.id} into the builder: Re-run or Send it.")

    def _rerun_selected(self) -> None:
        if self.history.value is None:
            self._set_status("warn", "Select a request in the history first.")
            return
        self.rerun(self.history.value)

    def _on_bridge_report(self, report: dict[str, Any]) -> None:
        kind = report.get("kind")
        if kind == "inserted":
            if report.get("ok"):
                self._set_status("ok", "Inserted a new code cell below with the cerkl_nb call.")
            elif report.get("how") == "clipboard":
                self._set_status(
                    "warn",
                    f"Could not add a cell here ({redact(report.get('error') or '')}); the code is "
                    "on your clipboard: paste it into a new cell.",
                )
            else:
                self._set_status("error", f"Could not insert a cell: {redact(report.get('error'))}")
        elif kind == "copied" and not report.get("ok"):
            self._set_status(
                "warn", f"The browser refused the clipboard: {redact(report.get('error') or '')}"
            )

    def __repr__(self) -> str:
        ep = self._endpoint
        return f"ApiExplorer(endpoint={ep.key if ep else None!r}, endpoints={len(self.catalog)})"


def _reason(status: int | None) -> str:
    if status is None:
        return ""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""
