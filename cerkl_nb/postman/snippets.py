"""Turn one API request into code: a curl command, plain ``requests``, or a cerkl_nb call.

The history's entries and the explorer's :class:`~cerkl_nb.postman.catalog.RequestSpec`
both delegate here, so the same call copied from either reads alike. ``path`` is relative
to the API base, written out when a ``base_url`` is given (it is not a secret) and else
``$CERKL_BASE_URL``. The token is always a placeholder (``$CERKL_ACCESS_TOKEN``), and the
parameters and body go through :func:`~cerkl_nb.redact.redact_json` first.

Examples
--------
>>> print(Snippets("GET", "/subscriber", {"page": 1}).curl())
curl --globoff -G "$CERKL_BASE_URL"/subscriber \\
  -H "Authorization: Bearer $CERKL_ACCESS_TOKEN" \\
  -H 'Accept: application/json' \\
  -H 'Accept-Language: en_US' \\
  --data-urlencode page=1
>>> Snippets("GET", "/segment/12").cerkl_nb_call()
"client.get('segment', 12)"
>>> print(Snippets("GET", "/subscriber", {"page": 1}).cerkl_nb_call(cell=True))
page = client.list('subscriber', page=1)
page.items
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from ..redact import MASK, redact_json
from ..spec import ENV_BASE_URL, ENVELOPE_VERSION, default_headers

__all__ = ["Snippets", "TOKEN_VAR", "BASE_URL_VAR", "MASKED_NOTE", "query_pairs"]

#: Environment variable the snippets read the access token from.
TOKEN_VAR = "CERKL_ACCESS_TOKEN"
#: Environment variable the snippets read the API base URL from (when no URL is given).
BASE_URL_VAR = ENV_BASE_URL
#: The note a snippet carries when redaction replaced one of its values.
MASKED_NOTE = "values that looked like secrets are shown as *** here: put them back first"

_LIST_PARAMS = frozenset({"page", "page_size", "filters_json"})
_REQUESTS_VERBS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_INT = re.compile(r"0|-?[1-9]\d*")
# Every printable ASCII character but the space: what may stand in a URL unencoded.
_URL_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
# Characters that would put a line break (or worse) inside a quoted shell word.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


@dataclass
class Snippets:
    """Code for one request: :meth:`curl`, :meth:`python_requests`, :meth:`cerkl_nb_call`.

    Parameters
    ----------
    method
        HTTP method.
    path
        Relative to the API base (``/segment/12``), or an absolute URL.
    params
        Query parameters as sent.
    body
        The JSON body, or ``None``. It and the parameters are redacted on creation.
    """

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    body: Any = None

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.params = redact_json(self.params) or {}
        self.body = redact_json(self.body)
        # Redaction may have replaced a value the user meant (an external_id that happens
        # to look like a 40-hex token, a word that equals a registered secret). A snippet
        # must never carry the secret, but it must not silently send "***" either: say so.
        self.masked = MASK in json.dumps([self.params, self.body], default=str)

    def _warning(self) -> list[str]:
        return [f"# {MASKED_NOTE}"] if self.masked else []

    def curl(self, base_url: str | None = None) -> str:
        """A curl command that is safe to paste into any POSIX shell, interactive bash too.

        Every value is single-quoted (:func:`shlex.quote`): inside single quotes the
        shell expands nothing, not ``$()``, backticks or, in an interactive bash, ``!``
        history references, which double quotes do not stop. ``--globoff`` keeps curl
        from reading ``[]{}`` in the URL as ranges. The URL is percent-encoded and a
        parameter value with a control character is sent pre-encoded (``--data``), so no
        quoted value spans two lines. Only the two placeholders, ``$CERKL_BASE_URL`` and
        ``$CERKL_ACCESS_TOKEN``, are left for the shell to expand, in double quotes that
        hold nothing else.

        A GET's query parameters are passed with ``-G --data-urlencode`` so that values
        such as ``filters_json`` stay readable; other methods carry them in the URL.
        """
        method, pairs = self.method, query_pairs(self.params)
        path = self.path.partition("#")[0]  # a fragment is never sent
        if method != "GET" and pairs:
            path += ("&" if "?" in path else "?") + urlencode(pairs)
        if base_url is None and not _is_absolute(path):
            url = f'"${BASE_URL_VAR}"' + shlex.quote(_url_text(_join("", path)))
        else:
            url = shlex.quote(_url_text(_url(path, base_url)))
        if method == "GET":
            lines = [f"curl --globoff -G {url}" if pairs else f"curl --globoff {url}"]
        else:
            lines = [f"curl --globoff -X {shlex.quote(method)} {url}"]
        lines.append(f'-H "Authorization: Bearer ${TOKEN_VAR}"')
        lines += ["-H " + shlex.quote(f"{k}: {v}") for k, v in default_headers().items()]
        if method == "GET":
            for k, v in pairs:
                if _CONTROL.search(k + v):
                    # Same bytes on the wire, without a raw newline inside the quotes.
                    lines.append("--data " + shlex.quote(urlencode([(k, v)])))
                else:
                    lines.append("--data-urlencode " + shlex.quote(f"{k}={v}"))
        if self.body is not None:
            lines.append("-H " + shlex.quote("Content-Type: application/json"))
            # json.dumps writes control characters as escapes: the body stays on one line.
            lines.append("--data-raw " + shlex.quote(json.dumps(self.body, ensure_ascii=False)))
        return "\n".join([*self._warning(), " \\\n  ".join(lines)])

    def python_requests(self, base_url: str | None = None) -> str:
        """Plain ``requests`` code, runnable as a script."""
        method, path = self.method, self.path
        if base_url is None and not _is_absolute(path):
            url = f'os.environ["{BASE_URL_VAR}"] + {_join("", path)!r}'
        else:
            url = repr(_url(path, base_url))
        if method in _REQUESTS_VERBS:
            head = [f"resp = requests.{method.lower()}("]
        else:
            head = ["resp = requests.request(", f"    {method!r},"]
        args = [f"    {url},"]
        if self.params:
            args.append(f"    params={_py(self.params)},")
        if self.body is not None:
            args.append(f"    json={_py(self.body)},")
        args += [
            "    headers={",
            f'        "Authorization": "Bearer " + os.environ["{TOKEN_VAR}"],',
            *(f'        "{name}": "{value}",' for name, value in default_headers().items()),
            "    },",
            "    timeout=30,",
        ]
        # A DELETE answers 204 No Content: there is no JSON to print.
        show = "print(resp.status_code)" if method == "DELETE" else "print(resp.json())"
        tail = [")", "resp.raise_for_status()", show]
        return "\n".join(
            [*self._warning(), "import os", "", "import requests", "", *head, *args, *tail]
        )

    def cerkl_nb_call(self, client_name: str = "client", *, cell: bool = False) -> str:
        """The equivalent :class:`~cerkl_nb.client.CerklClient` call, idiomatic where one fits.

        ``list`` / ``get`` / ``create`` / ``create_many`` / ``update`` / ``delete`` when
        the request has their exact shape (a body in Cerkl's template envelope becomes
        the records), else ``request(...)`` with ``items=`` or ``json=``.

        Parameters
        ----------
        client_name
            The variable holding the client.
        cell
            ``False``: one expression (``eval`` it). ``True``: a notebook cell that
            assigns the result and shows it (``page = client.list(...)``, ``page.items``).
        """
        call, name, show = _call(self.method, self.path, dict(self.params or {}), self.body)
        call = f"{client_name}.{call}"
        if not cell:
            # One expression (it may be eval'ed): the note becomes a trailing comment.
            return f"{call}  # {MASKED_NOTE}" if self.masked else call
        return "\n".join([*self._warning(), f"{name} = {call}\n{show}" if name else call])


def _url_text(url: str) -> str:
    """The URL with spaces, control and non-ASCII characters percent-encoded (as sent)."""
    return quote(url, safe=_URL_SAFE)


def _call(method: str, path: str, params: dict[str, Any], body: Any) -> tuple[str, str, str]:
    """``(call without the client, result variable, what to show)`` for one request."""
    parts = [p for p in path.strip("/").split("/") if p]
    items = _template_items(body)
    plain = not _is_absolute(path) and "?" not in path
    if plain and method == "GET" and len(parts) == 1 and params and set(params) <= _LIST_PARAMS:
        args = [repr(parts[0])]
        args += [f"{k}={_py(_int(params[k]))}" for k in ("page", "page_size") if k in params]
        if params.get("filters_json"):
            args.append(f"filters={_py(_filters(params['filters_json']))}")
        return f"list({', '.join(args)})", "page", "page.items"
    if plain and len(parts) == 2 and not params:
        res, ident = repr(parts[0]), _py(_int(unquote(parts[1])))
        if method == "GET" and body is None:
            return f"get({res}, {ident})", "item", "item"
        if method == "DELETE" and body is None:
            return f"delete({res}, {ident})", "", ""
        if method == "PUT" and items is not None and len(items) == 1:
            return f"update({res}, {ident}, {_py(items[0])})", "item", "item"
    if plain and method == "POST" and len(parts) == 1 and not params and items:
        if len(items) == 1:
            return f"create({parts[0]!r}, {_py(items[0])})", "item", "item"
        return f"create_many({parts[0]!r}, {_py(items)})", "items", "items"
    args = [repr(method), repr(path)]
    if params:
        args.append(f"params={_py(params)}")
    if items is not None:
        args.append(f"items={_py(items)}")
    elif body is not None:
        args.append(f"json={_py(body)}")
    return f"request({', '.join(args)})", "response", "response.status, response.body"


def _template_items(body: Any) -> list[Any] | None:
    """The records of a body that is exactly what ``items=`` would send, else ``None``."""
    if not isinstance(body, Mapping) or set(body) != {"template"}:
        return None
    tmpl = body["template"]
    if not isinstance(tmpl, Mapping) or set(tmpl) != {"version", "data"}:
        return None
    data = tmpl["data"]
    if tmpl["version"] != ENVELOPE_VERSION or not isinstance(data, list):
        return None
    return data if all(isinstance(i, Mapping) for i in data) else None


def _filters(text: Any) -> Any:
    """A ``filters_json`` value as the ``filters=`` argument: a dict when it parses as one."""
    try:
        parsed = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text
    return parsed if isinstance(parsed, dict) else text


# -- shared ------------------------------------------------------------------------------------


def _is_absolute(path: str) -> bool:
    return bool(urlsplit(path).scheme)


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


def _url(path: str, base_url: str | None) -> str:
    return path if _is_absolute(path) or base_url is None else _join(base_url, path)


def query_pairs(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Query pairs as ``requests`` sends them: lists repeat the key, ``None`` is left out."""
    pairs: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is not None:
                pairs.append((str(key), _param_text(v)))
    return pairs


def _param_text(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _int(value: Any) -> Any:
    """``"12"`` → ``12`` (only canonical integers: ``"012"`` stays a string)."""
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value)
    return value


def _py(value: Any) -> str:
    """A Python literal for JSON-like data (``true`` → ``True``), wrapped when long."""
    import pprint

    return pprint.pformat(value, indent=1, width=88, sort_dicts=False)
