"""The explorer's request builder: folder → endpoint → method, path, parameters, body.

:class:`RequestBuilder` is a part the :class:`~cerkl_nb.widgets.ApiExplorer` holds. It owns
its controls, keeps them consistent with the endpoint catalogue (a typed path selects the
endpoint it fits; a chosen endpoint fills the path, parameters and body) and turns them
into a :class:`~cerkl_nb.postman.catalog.RequestSpec`. It tells its holder about errors
(``on_error``) and about another endpoint being chosen (``on_switch``).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as widgets

from ..errors import CerklError
from ..paging import filters_json
from ..postman.catalog import Catalog, RequestSpec, fill_path, template_envelope
from ..spec import FILTER_OPERATORS, Endpoint
from ._common import button, esc, labelled, shielded

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_BODY_METHODS = ("POST", "PUT", "PATCH")
_PAGING_NAMES = ("page", "page_size", "filters_json")


def _parse_scalar(raw: str) -> Any:
    return json.loads(raw) if re.fullmatch(r"-?\d+(\.\d+)?|true|false|null", raw) else raw


def _loads(text: str, what: str) -> Any:
    """``text`` parsed as JSON, or a ValueError that says where ``what`` is wrong."""
    try:
        return json.loads(text)
    except ValueError as err:
        at = f"line {err.lineno}, column {err.colno}"
        raise ValueError(f"{what} is not valid JSON: {err.msg} ({at})") from None


class FilterRow(widgets.HBox):
    """One ``field operator value`` condition of the filters_json builder."""

    def __init__(self, fields: tuple[str, ...], on_change: Callable[[], None]) -> None:
        def small(kind: Any, label: str, width: str, label_width: str, **kwargs: Any) -> Any:
            layout = widgets.Layout(width=width, max_width="100%")
            style = {"description_width": label_width}
            return kind(description=label, layout=layout, style=style, **kwargs)

        self.field = small(
            widgets.Combobox,
            "Field",
            "230px",
            "40px",
            options=list(fields),
            placeholder="field",
            tooltip="A property of the resource, such as date_modified_utc",
            ensure_option=False,
        )
        ops = list(FILTER_OPERATORS)
        self.op = small(widgets.Dropdown, "Operator", "150px", "60px", options=ops, value="eq")
        self.value = small(
            widgets.Text,
            "Value",
            "260px",
            "40px",
            placeholder="value (for in: a, b, c)",
            tooltip="Numbers and true/false are sent as JSON; dates as YYYY-MM-DD HH:MM:SS",
        )
        self.remove = button("Remove", "Remove this condition")
        for w in (self.field, self.op, self.value):
            w.observe(lambda _change: on_change(), names="value")
        row = [self.field, self.op, self.value, self.remove]
        super().__init__(row, layout=widgets.Layout(flex_flow="row wrap"))

    def condition(self) -> tuple[str, str, Any] | None:
        """``(field, operator, value)``, or ``None`` while the field is empty."""
        name, raw = self.field.value.strip(), self.value.value.strip()
        if not name:
            return None
        if self.op.value == "in":
            return name, "in", [_parse_scalar(v.strip()) for v in raw.split(",") if v.strip()]
        return name, self.op.value, _parse_scalar(raw)


class RequestBuilder(widgets.VBox):
    """The builder's controls and logic (see the module docstring).

    Parameters
    ----------
    on_error
        Called with an error a control's handler ran into (the holder shows it).
    on_switch
        Called when another endpoint (or none) is chosen.
    """

    def __init__(
        self, *, on_error: Callable[[BaseException], None], on_switch: Callable[[], None]
    ) -> None:
        self._on_error = on_error
        self._on_switch = on_switch
        #: The endpoint catalogue offered (see :meth:`set_catalog`).
        self.catalog = Catalog(())
        self._loading = False  # True while the builder itself sets its controls
        #: The catalogue endpoint the builder shows (``None`` for a path it does not know).
        self.chosen: Endpoint | None = None
        self.path_inputs: dict[str, widgets.Text] = {}
        self.query_inputs: dict[str, widgets.Text] = {}
        self.filter_rows: list[FilterRow] = []
        self.catalog_note = widgets.HTML()
        self.folder = labelled(widgets.Dropdown, "Folder", "300px", "Endpoints grouped by resource")
        self.endpoint = labelled(widgets.Dropdown, "Endpoint", "560px", "The request to build")
        self.method = labelled(
            widgets.Dropdown, "Method", "220px", "The HTTP method", options=METHODS, value="GET"
        )
        self.path = labelled(
            widgets.Text, "Path", "560px", "Relative to the base URL; {name} marks a path parameter"
        )
        self.path_params = widgets.VBox()
        self.page = labelled(
            widgets.BoundedIntText, "page", "220px", "Page number (from 1)", min=1, max=10**6
        )
        self.page_size = labelled(
            widgets.BoundedIntText,
            "page_size",
            "220px",
            "Items per page (default 100)",
            value=100,
            min=1,
            max=10**5,
        )
        self.extra_query = widgets.VBox()
        self.filters_box = widgets.VBox()
        self.add_filter_button = button(
            "Add filter condition", "Add a field/operator/value condition to filters_json"
        )
        self.filters_json = labelled(
            widgets.Text,
            "filters_json",
            "560px",
            "Sent as the filters_json query parameter; built from the conditions or typed",
            placeholder='{"date_modified_utc": {"gt": "2020-07-16 00:00:00"}}',
        )
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
            "The request body, in Cerkl's template envelope",
            height="170px",
        )
        for mono in (self.filters_json, self.body):
            mono.add_class("cerkl-mono")
        self.reset_body_button = button("Reset body", "Put the resource's template envelope back")
        self.body_section = widgets.VBox([self.body, self.reset_body_button])
        for control, handler in (
            (self.folder, self._on_folder),
            (self.endpoint, self._on_endpoint),
            (self.path, self._on_path),
            (self.method, self._on_method),
        ):
            control.observe(shielded(handler, on_error), names="value")
        self.add_filter_button.on_click(shielded(lambda _b: self.add_filter(), on_error))
        self.reset_body_button.on_click(shielded(lambda _b: self.reset_body(), on_error))
        pickers = widgets.HBox([self.folder, self.endpoint])
        request_line = widgets.HBox([self.method, self.path])
        sections = [self.path_params, self.query_section, self.body_section]
        super().__init__([self.catalog_note, pickers, request_line, *sections])

    def set_catalog(self, catalog: Catalog) -> None:
        """Offer ``catalog``'s endpoints, and select its default one (``GET /subscriber``)."""
        self.catalog = catalog
        source = "the sandbox's operations"
        if catalog.source == "built-in":
            source = "the built-in list of Cerkl's documented endpoints"
        self.catalog_note.value = (
            f"<div class='cerkl-note'>{len(catalog)} endpoints from {esc(source)}, "
            "grouped by resource.</div>"
        )
        with self._quietly():
            self.folder.options = catalog.resources()
        ep = catalog.default()
        if ep is not None:
            self.select(ep.method, ep.path)

    def select(self, method: str, path: str) -> Endpoint | None:
        """Load an endpoint into the builder (see :meth:`ApiExplorer.select`)."""
        method, path = method.upper(), "/" + path.strip().lstrip("/")
        ep = self.catalog.find(method, path)
        with self._quietly():
            self.method.value = method if method in METHODS else "GET"
            self.path.value = ep.path if ep else path
        self._choose(ep, reset=ep is not None)
        if ep is not None and path != ep.path:  # a concrete path fills the path parameters
            pattern = re.sub(r"\\\{([^{}/]+)\\\}", r"(?P<\1>[^/]+)", re.escape(ep.path))
            m = re.fullmatch(pattern, path)
            for name, value in (m.groupdict() if m else {}).items():
                self.path_inputs[name].value = value
        return ep

    def current_request(self) -> RequestSpec:
        """The request the builder describes now (see :meth:`ApiExplorer.current_request`)."""
        template = self.path.value.strip()
        if not template:
            raise ValueError("the path is empty: choose an endpoint or type a path")
        values = {name: w.value for name, w in self.path_inputs.items()}
        path = fill_path("/" + template.lstrip("/"), values)
        params: dict[str, Any] = {}
        if self.query_section.layout.display != "none":
            names = {p.name for p in self.chosen.query_params} if self.chosen else set()
            guessing = self.chosen is None and self.method.value == "GET"
            for name, control in (("page", self.page), ("page_size", self.page_size)):
                if name in names or guessing:
                    params[name] = int(control.value)
            params.update({n: w.value.strip() for n, w in self.query_inputs.items() if w.value})
            text = self.filters_json.value.strip()
            if text:
                parsed = _loads(text, "filters_json")
                if not isinstance(parsed, dict):
                    raise ValueError('filters_json must be a JSON object: {"field": {"op": value}}')
                params["filters_json"] = json.dumps(
                    parsed, separators=(",", ":"), ensure_ascii=False
                )
        body = None
        if self.method.value in _BODY_METHODS and self.body.value.strip():
            body = _loads(self.body.value, "the body")
        return RequestSpec(self.method.value, path, params, body)

    def load_entry(self, entry: Any) -> None:
        """Fill the builder from a :class:`~cerkl_nb.postman.history.HistoryEntry`."""
        self.select(entry.method, entry.path)
        params = dict(entry.params or {})
        for name, control in (("page", self.page), ("page_size", self.page_size)):
            if name in params:
                control.value = int(params[name])
        self.filters_json.value = str(params.get("filters_json") or self.filters_json.value)
        for name, w in self.query_inputs.items():
            w.value = str(params.get(name, w.value))
        if entry.request_body is not None:
            self.body.value = json.dumps(entry.request_body, indent=2, ensure_ascii=False)

    def add_filter(self) -> FilterRow:
        """Add a filters_json condition row ("Add filter condition")."""
        row = FilterRow(
            self.chosen.filter_fields if self.chosen else (), self._rebuild_filters_json
        )
        row.remove.on_click(shielded(lambda _b: self.remove_filter(row), self._on_error))
        self.filter_rows.append(row)
        self.filters_box.children = list(self.filter_rows)
        return row

    def remove_filter(self, row: FilterRow) -> None:
        """Remove a condition row ("Remove") and rebuild filters_json without it."""
        self._drop_rows([row])
        self._rebuild_filters_json()

    def reset_body(self) -> None:
        """Put the endpoint's example body (the template envelope) back ("Reset body")."""
        template = self.chosen.example_body if self.chosen is not None else None
        if template is None and self.method.value in _BODY_METHODS:
            template = template_envelope()
        self.body.value = json.dumps(template, indent=2, ensure_ascii=False) if template else ""

    # -- keeping the controls consistent ---------------------------------------------------
    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        """A block in which the builder's own changes to its controls trigger no handler."""
        was, self._loading = self._loading, True
        try:
            yield
        finally:
            self._loading = was

    def _choose(self, ep: Endpoint | None, *, reset: bool) -> None:
        """Show ``ep`` (or none) as the endpoint; ``reset`` puts its defaults back."""
        self.chosen = ep
        with self._quietly():
            if ep is not None:
                self.folder.value = ep.resource
                siblings = self.catalog.by_resource(ep.resource)
                self.endpoint.options = [(e.label, e.key) for e in siblings]
            self.endpoint.value = ep.key if ep else None
            if reset:
                self.filters_json.value = ""
                self.page.value, self.page_size.value = 1, 100
        if reset:
            self._drop_rows(self.filter_rows)
            self.reset_body()
        self._rebuild_path_params()
        self.query_inputs = {
            p.name: labelled(
                widgets.Text,
                p.name,
                "560px",
                p.description or f"Query parameter {p.name}",
                placeholder=p.description or ("required" if p.required else "optional"),
            )
            for p in (ep.query_params if ep else ())
            if p.name not in _PAGING_NAMES
        }
        self.extra_query.children = list(self.query_inputs.values())
        self._show_sections()
        self._on_switch()

    def _drop_rows(self, rows: list[FilterRow]) -> None:
        for row in [r for r in rows if r in self.filter_rows]:
            self.filter_rows.remove(row)
            row.close()
        self.filters_box.children = list(self.filter_rows)

    def _rebuild_path_params(self) -> None:
        names = re.findall(r"\{([^{}/]+)\}", self.path.value)
        if names == list(self.path_inputs):
            return
        old = {k: w.value for k, w in self.path_inputs.items()}
        self.path_inputs = {
            name: labelled(
                widgets.Text,
                name,
                "300px",
                f"Path parameter {{{name}}}",
                value=old.get(name, ""),
                placeholder="required",
            )
            for name in names
        }
        self.path_params.children = list(self.path_inputs.values())

    def _show_sections(self) -> None:
        ep, method = self.chosen, self.method.value
        names = {p.name for p in ep.query_params} if ep else set()
        query = bool(names) and method == "GET" if ep else method == "GET"
        paging = bool({"page", "page_size"} & names) if ep else method == "GET"
        filters = "filters_json" in names if ep else method == "GET"
        for control, show in (
            (self.query_section, query),
            (self.page, paging),
            (self.page_size, paging),
            (self.filters_box, filters),
            (self.add_filter_button, filters),
            (self.filters_json, filters),
            (self.body_section, method in _BODY_METHODS),
        ):
            control.layout.display = None if show else "none"

    def _rebuild_filters_json(self) -> None:
        conditions: dict[str, dict[str, Any]] = {}
        for cond in filter(None, (row.condition() for row in self.filter_rows)):
            conditions.setdefault(cond[0], {})[cond[1]] = cond[2]
        try:
            self.filters_json.value = filters_json(conditions) if conditions else ""
        except (CerklError, ValueError) as err:
            self._on_error(err)

    def _match_path(self) -> None:
        """Follow a typed path: select the catalogue endpoint it fits (or none).

        The text typed stays as it is (``/segment/7`` is not turned into
        ``/segment/{id}``); only the endpoint shown and the query parameters offered (and
        sent) change, so a single-item path no longer sends ``page``/``page_size``.
        """
        typed = self.path.value.strip()
        found = self.catalog.find(self.method.value, "/" + typed.lstrip("/")) if typed else None
        if typed and found is not self.chosen:
            self._choose(found, reset=False)

    def _on_folder(self, change: dict[str, Any]) -> None:
        eps = self.catalog.by_resource(change["new"]) if change["new"] else []
        if not self._loading and eps:
            self.select(eps[0].method, eps[0].path)

    def _on_endpoint(self, change: dict[str, Any]) -> None:
        ep = next((e for e in self.catalog if e.key == change["new"]), None)
        if not self._loading and ep is not None:
            self.select(ep.method, ep.path)

    def _on_path(self, _change: dict[str, Any]) -> None:
        if not self._loading:
            self._match_path()
            self._rebuild_path_params()

    def _on_method(self, _change: dict[str, Any]) -> None:
        if self._loading:
            return
        self._match_path()
        if self.method.value in _BODY_METHODS and not self.body.value.strip():
            self.reset_body()
        self._show_sections()
