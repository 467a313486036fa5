"""The ``cerkl-nb`` command.

Subcommands:

* ``cerkl-nb sandbox``: run the local Cerkl API v3 sandbox in the foreground.
* ``cerkl-nb lab``: the sandbox plus JupyterLab on the tutorials (see :mod:`cerkl_nb.lab`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

from .lab import DEFAULT_SANDBOX_PORT

__all__ = ["main", "build_parser"]


def _add_sandbox(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sandbox",
        help="run the local Cerkl API v3 sandbox (fake credentials, fake data)",
        description=(
            "Serve a local imitation of the Cerkl Broadcast API v3 until Ctrl-C. It prints "
            "the base URL, the token URL, the sandbox-only demo credentials and a curl "
            "command to try."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_SANDBOX_PORT,
        help=f"TCP port (default {DEFAULT_SANDBOX_PORT}; 0 = any free)",
    )
    p.add_argument(
        "--token-lifetime",
        type=float,
        default=None,
        metavar="S",
        help="access-token lifetime in seconds (default 43200, Cerkl's 12 hours)",
    )
    p.add_argument(
        "--subscribers", type=int, default=None, metavar="N", help="seeded subscribers (300)"
    )
    p.add_argument("--seed", type=int, default=None, help="seed of the demo data (42)")
    p.add_argument(
        "--quiet", action="store_true", help="do not print the access log (one line a request)"
    )
    p.set_defaults(func=_run_sandbox)


def _run_sandbox(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    from .sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxConfig
    from .sandbox.app import App
    from .sandbox.server import SandboxServer

    overrides = {}
    if args.token_lifetime is not None:
        overrides["token_lifetime_s"] = args.token_lifetime
    if args.subscribers is not None:
        overrides["subscribers"] = args.subscribers
    if args.seed is not None:
        overrides["seed"] = args.seed
    try:
        config = SandboxConfig(**overrides)
        server = SandboxServer(App(config), args.host, args.port)
    except (ValueError, OSError) as e:
        print(f"cerkl-nb sandbox: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        lg = logging.getLogger("cerkl_nb.sandbox")
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
        lg.propagate = False
    base = server.root_url + "/v3"
    ready_ms = 1000 * (time.perf_counter() - t0)
    print(
        f"""cerkl-nb sandbox: a local imitation of the Cerkl Broadcast API v3
  API base      {base}
  Token URL     {base}/oauth/Token
  OpenAPI       {base}/openapi.json
  Client ID     {DEMO_CLIENT_ID}
  Client secret {DEMO_CLIENT_SECRET}
  (fake, sandbox-only demo credentials: they work nowhere else)

Try Cerkl's documented command:
  curl -v {base}/oauth/Token -H "Accept: application/json" -H "Accept-Language: en_US" \\
    -u "{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}" -d "grant_type=client_credentials"

Use it from Python:  export CERKL_SANDBOX_URL={server.root_url}
Ready in {ready_ms:.0f} ms. Press Ctrl-C to stop.""",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\ncerkl-nb sandbox: stopped", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="cerkl-nb", description="Learn and use the Cerkl Broadcast API v3 from JupyterLab."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_sandbox(sub)
    # `lab` is parsed by cerkl_nb.lab itself (unknown arguments go on to jupyter lab), so
    # main() hands it over before argparse sees it; this entry only lists it in --help.
    sub.add_parser(
        "lab",
        help="start the sandbox and JupyterLab on the tutorial notebooks",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cerkl-nb`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["lab"]:
        from .lab import run_lab

        return int(run_lab(argv[1:]) or 0)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
