"""The explorer's request builder: folder → endpoint → method, path, parameters, body.

:class:`RequestBuilder` is a mixin of :class:`~cerkl_nb.widgets.ApiExplorer`: it makes
the builder's controls, keeps them consistent with the endpoint catalogue (a typed path
selects the endpoint it fits; a chosen endpoint fills the path, parameters and body) and
turns them into a :class:`~cerkl_nb.postman.catalog.RequestSpec`. Sending, the response view and
the history live in :mod:`cerkl_nb.widgets.explorer`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..errors import CerklError
from ..paging import filters_json
from ..postman.catalog import Catalog, RequestSpec, fill_path, template_envelope
from ..spec import FILTER_OPERATORS, Endpoint
from ._common import button, esc, guarded, labelled

__all__ = ["RequestBuilder", "METHODS"]

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_PAGING_NAMES = ("page", "page_size", "filters_json")
_BODY_METHODS = ("POST", "PUT", "PATCH")

# Observers show their errors in the status line (see guarded).
_reporting = guarded(lambda self, err: self._report(err))


class _FilterRow(widgets.HBox):
    """One ``field operator value`` condition of the filters_json builder."""

    def __init__(self, fields: tuple[str, ...], on_change: Callable[[], None], on_remove: Any):
        self.field = widgets.Combobox(
            options=list(fields),
            placeholder="field",
            description="Field",
            tooltip="A property of the resource, such as date_modified_utc",
            ensure_option=False,
            layout=widgets.Layout(width="230px", max_width="100%"),
            style={"description_width": "40px"},
        )
        self.op = widgets.Dropdown(
            options=list(FILTER_OPERATORS),
            value="eq",
            description="Operator",
            layout=widgets.Layout(width="150px", max_width="100%"),
            style={"description_width": "60px"},
        )
        self.value = widgets.Text(
            placeholder="value (for in: a, b, c)",
            description="Value",
            tooltip="Numbers and true/false are sent as JSON; dates as YYYY-MM-DD HH:MM:SS",
            layout=widgets.Layout(width="260px", max_width="100%"),
            style={"description_width": "40px"},
        )
        self.remove = button("Remove", "Remove this condition")
        for w in (self.field, self.op, self.value):
            w.observe(lambda _c: on_change(), names="value")
        self.remove.on_click(lambda _b: on_remove(self))
        super().__init__(
            [self.field, self.op, self.value, self.remove],
            layout=widgets.Layout(flex_flow="row wrap"),
        )

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


class RequestBuilder:
    """Mixin: the request builder's controls and logic (see the module docstring).

    The host class provides ``_report(err)`` (show an error) and may override
    :meth:`_endpoint_switched` (called when another endpoint is chosen).
    """

    _catalog: Catalog | None
    _fixed_catalog: bool

    def _init_builder(self, catalog: Catalog | None) -> None:
        """Create the builder's state and controls (call before ``super().__init__``)."""
        self._catalog = catalog
        self._fixed_catalog = catalog is not None
        self._loading = False
        self._endpoint: Endpoint | None = None
        self._path_inputs: dict[str, widgets.Text] = {}
        self._query_inputs: dict[str, widgets.Text] = {}
        self._filter_rows: list[_FilterRow] = []
        self.catalog_note = widgets.HTML()
        self.folder = labelled(
            widgets.Dropdown, "Folder", "300px", tooltip="Endpoints grouped by resource"
        )
        self.endpoint = labelled(
            widgets.Dropdown, "Endpoint", "560px", tooltip="The request to build"
        )
        self.method = labelled(widgets.Dropdown, "Method", "220px", options=METHODS, value="GET")
        self.path = labelled(
            widgets.Text,
            "Path",
            "560px",
            tooltip="Relative to the base URL; {name} marks a path parameter",
        )
        self.path_params = widgets.VBox()
        self._init_query_controls()
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
        self.folder.observe(self._on_folder, names="value")
        self.endpoint.observe(self._on_endpoint, names="value")
        self.path.observe(self._on_path, names="value")
        self.method.observe(self._on_method, names="value")

    def _init_query_controls(self) -> None:
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

    def _builder_rows(self) -> list[widgets.Widget]:
        """The builder's part of the explorer, top to bottom."""
        return [
            self.catalog_note,
            widgets.HBox([self.folder, self.endpoint]),
            widgets.HBox([self.method, self.path]),
            self.path_params,
            self.query_section,
            self.body_section,
        ]

    def _report(self, err: BaseException) -> None:  # pragma: no cover - the host's
        raise NotImplementedError

    def _endpoint_switched(self) -> None:
        """Hook: another endpoint was chosen (the host clears what belonged to the old one)."""

    @property
    def catalog(self) -> Catalog:
        """The endpoint catalogue in use."""
        return self._catalog or Catalog.builtin()

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
                self.method.value = method if method in METHODS else "GET"
                self.path.value = path
            finally:
                self._loading = False
            self._rebuild_path_params()
            self._show_sections()
            self._endpoint_switched()
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
        if self.method.value in _BODY_METHODS and self.body.value.strip():
            try:
                body = json.loads(self.body.value)
            except ValueError as err:
                raise ValueError(
                    f"the body is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})"
                ) from None
        return RequestSpec(self.method.value, path, params, body)

    def _install_catalog(self, catalog: Catalog) -> None:
        self._catalog = catalog
        n = len(catalog)
        source = (
            "the sandbox's API description"
            if catalog.source != "built-in"
            else ("the built-in list of Cerkl's documented endpoints")
        )
        self.catalog_note.value = (
            f"<div class='cerkl-note'>{n} endpoints from {esc(source)}, grouped by resource.</div>"
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
            self.method.value = ep.method if ep.method in METHODS else "GET"
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
        self._endpoint_switched()

    def _reset_body(self) -> None:
        ep = self._endpoint
        template = ep.example_body if ep is not None else None
        if template is None and self.method.value in _BODY_METHODS:
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
        self.body_section.layout.display = None if method in _BODY_METHODS else "none"

    def _add_filter_row(self) -> _FilterRow:
        fields = self._endpoint.filter_fields if self._endpoint else ()
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
        self._endpoint_switched()

    @_reporting
    def _on_method(self, _change: dict[str, Any]) -> None:
        if self._loading:
            return
        self._match_path()
        if self.method.value in _BODY_METHODS and not self.body.value.strip():
            self._reset_body()
        self._show_sections()
