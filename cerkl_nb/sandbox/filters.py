"""Values a client sends: dates (Cerkl's format or ISO 8601) and ``filters_json``.

Both raise a 400 :class:`~cerkl_nb.sandbox.messages.Problem` that says what to send instead.
"""

from __future__ import annotations

import json
import operator
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ..spec import FILTER_OPERATOR_ALIASES, FILTER_OPERATORS, MAX_FILTER_VALUES, Field, Resource
from .messages import Problem

__all__ = ["OPERATORS", "format_date", "is_int", "parse_date", "parse_filters"]

# --------------------------------------------------------------------------- dates

_DATE_RX = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


def format_date(ts: float) -> str:
    """Format Unix seconds the way the sandbox emits every date: ``YYYY-MM-DD HH:MM:SS`` UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def parse_date(value: Any, what: str) -> str:
    """Accept ``YYYY-MM-DD HH:MM:SS`` or ISO 8601 and return the canonical UTC form (a 400
    :class:`Problem` for anything else)."""
    if not isinstance(value, str):
        raise Problem(400, f"{what} must be a date string like '2020-07-16 00:00:00'")
    m = _DATE_RX.match(value.strip())
    if not m:
        raise Problem(
            400, f"{what} must look like 'YYYY-MM-DD HH:MM:SS' (UTC) or ISO 8601, got {value!r}"
        )
    y, mo, d, h, mi, s, tz = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError:
        raise Problem(400, f"{what} is not a real date: {value!r}") from None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        try:
            dt = datetime.fromtimestamp(
                dt.replace(tzinfo=timezone.utc).timestamp() - offset, tz=timezone.utc
            ).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            raise Problem(400, f"{what} is out of range: {value!r}") from None
    return dt.strftime("%Y-%m-%d %H:%M:%S")


# --------------------------------------------------------------------------- filters

OPERATORS = FILTER_OPERATORS
_OP_ALIASES = FILTER_OPERATOR_ALIASES


def is_int(v: Any) -> bool:
    """True for an ``int`` that is not a ``bool``."""
    return isinstance(v, int) and not isinstance(v, bool)


def _coerce_filter_value(f: Field, op: str, value: Any) -> Any:
    what = f"filters_json: {f.name}.{op}"
    if op == "in":
        if not isinstance(value, list) or len(value) > MAX_FILTER_VALUES:
            raise Problem(400, f"{what} needs a list of values (at most {MAX_FILTER_VALUES})")
        return [_coerce_filter_value(f, "eq", v) for v in value]
    if value is None:
        if op in ("eq", "ne"):
            return None
        raise Problem(400, f"{what}: null only works with eq and ne")
    if op == "contains":
        if f.kind not in ("str", "email") or not isinstance(value, str):
            raise Problem(400, f"{what}: contains works on text fields with a text value")
        return value.lower()
    if f.kind in ("str", "email"):
        if not isinstance(value, str):
            raise Problem(400, f"{what} needs a string value")
        return value
    if f.kind == "date":
        return parse_date(value, what)
    if f.kind in ("int", "ref"):
        if not is_int(value):
            raise Problem(400, f"{what} needs an integer value")
        return value
    if f.kind == "bool":
        if not isinstance(value, bool) or op not in ("eq", "ne"):
            raise Problem(400, f"{what}: boolean fields support eq/ne/in with true or false")
        return value
    raise Problem(400, f"{what}: field cannot be filtered")  # pragma: no cover


_ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def _make_pred(name: str, op: str, want: Any) -> Callable[[dict], bool]:
    if op == "eq":
        return lambda r: r.get(name) == want
    if op == "ne":
        return lambda r: r.get(name) != want
    if op == "in":
        return lambda r: r.get(name) in want
    if op == "contains":
        return lambda r: isinstance(r.get(name), str) and want in r[name].lower()
    cmp = _ORDER[op]
    # Only values of the same type compare (a date string with a date, an int with an int).
    return lambda r: type(v := r.get(name)) is type(want) and cmp(v, want)


def parse_filters(raw: str | None, resource: Resource) -> list[Callable[[dict], bool]]:
    """Turn a ``filters_json`` string into predicates over stored records (AND-ed); a 400
    :class:`Problem` for malformed JSON, unknown fields or operators, wrong value types."""
    if raw is None or raw == "":
        return []
    try:
        spec = json.loads(raw)
    except (ValueError, RecursionError):
        raise Problem(
            400,
            'filters_json is not valid JSON; expected {"<field>": {"<operator>": <value>}}',
        ) from None
    if not isinstance(spec, dict):
        raise Problem(400, 'filters_json must be a JSON object: {"<field>": {"<op>": <value>}}')
    preds = []
    for name, conds in spec.items():
        f = resource.field(name)
        if f is None or not f.filterable:
            allowed = ", ".join(x.name for x in resource.fields if x.filterable)
            raise Problem(
                400, f"filters_json: unknown or unsearchable field {name!r}; try one of: {allowed}"
            )
        if not isinstance(conds, dict) or not conds:
            raise Problem(400, f'filters_json: {name} needs an object like {{"eq": <value>}}')
        for op, value in conds.items():
            op = _OP_ALIASES.get(op, op)
            if op not in OPERATORS:
                raise Problem(
                    400,
                    f"filters_json: unknown operator {op!r} on {name}; "
                    f"use one of: {', '.join(OPERATORS)}",
                )
            preds.append(_make_pred(name, op, _coerce_filter_value(f, op, value)))
    return preds
