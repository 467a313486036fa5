"""The ``cerkl-nb`` command: one argument parser, one subparser per subcommand.

``sandbox`` serves the local Cerkl API v3 sandbox in the foreground, ``lab`` adds JupyterLab
on the tutorials (:mod:`.lab`; arguments it does not know go on to ``jupyter lab``),
``tutorials`` only copies them (:mod:`.tutorials`), and ``with-sandbox -- COMMAND`` starts a
user's sandbox for a hub's spawner (:mod:`.workshop`).
Each publishes the sandbox as ``CERKL_SANDBOX_URL`` and ``CERKL_SANDBOX_KEY``; ``sandbox``
takes its key from ``$CERKL_SANDBOX_KEY`` when set, never from the command line (which other
users of the machine can read in the process list).
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..spec import ENV_SANDBOX_KEY, ENV_SANDBOX_PARENT_PID, ENV_SANDBOX_URL
from .lab import DEFAULT_SANDBOX_PORT, LabOptions
from .tutorials import DEFAULT_FOLDER

__all__ = ["main", "build_parser", "parse_options"]

#: Set by JupyterHub's spawners in every single-user server (and so in its terminals).
HUB_USER_ENV = "JUPYTERHUB_USER"


def _port(text: str) -> int:
    """An argparse type: a TCP port (0 picks a free one), with a clear error otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 65535")
    return value


def _add_sandbox(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sandbox",
        help="run the local Cerkl API v3 sandbox (fake credentials, fake data)",
        description="Serve a local imitation of the Cerkl Broadcast API v3 until Ctrl-C; print "
        "its URLs, the sandbox-only demo credentials and a curl command to try.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_SANDBOX_PORT,
        help=f"TCP port (default {DEFAULT_SANDBOX_PORT}; 0 = any free)",
    )
    p.add_argument(
        "--token-lifetime",
        type=float,
        metavar="S",
        help="access-token lifetime in seconds (default 43200, Cerkl's 12 hours)",
    )
    p.add_argument("--subscribers", type=int, metavar="N", help="seeded subscribers (300)")
    p.add_argument("--seed", type=int, help="seed of the demo data (42)")
    p.add_argument("--quiet", action="store_true", help="do not print the access log")
    p.add_argument(
        "--ready-file",
        type=Path,
        metavar="PATH",
        help="once listening, write the URL, key and pid there as JSON (mode 0600, "
        "atomically); removed on exit",
    )
    p.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started this one ends (a launcher's child)",
    )
    p.add_argument(
        "--proxy-prefix",
        action="append",
        default=[],
        metavar="PATH",
        help="a path a reverse proxy on this host serves the sandbox under; links follow "
        "X-Forwarded-Prefix only when it is one of these ({port} is replaced by the port)",
    )
    p.set_defaults(func=_run_sandbox)


def _run_sandbox(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    from ..sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxConfig
    from ..sandbox.app import App
    from ..sandbox.server import SandboxServer

    given = {"token_lifetime_s": args.token_lifetime, "subscribers": args.subscribers}
    given["seed"] = args.seed
    try:
        config = SandboxConfig(**{k: v for k, v in given.items() if v is not None})
        app = App(config, key=os.environ.get(ENV_SANDBOX_KEY) or None)
        server = SandboxServer(app, args.host, args.port)
        app.set_proxy_prefixes([p.replace("{port}", str(server.port)) for p in args.proxy_prefix])
    except (OSError, ValueError) as e:
        print(f"cerkl-nb sandbox: {e}{_busy_port_hint(e, args.port)}", file=sys.stderr)
        return 2
    if not args.quiet:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log = logging.getLogger("cerkl_nb.sandbox")
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    base = server.root_url + "/v3"
    publish = f"Use it from Python:  export {ENV_SANDBOX_URL}={server.root_url}"
    if os.environ.get(ENV_SANDBOX_KEY):
        publish += f"  ({ENV_SANDBOX_KEY} as already set)"
    else:
        publish += (
            f" {ENV_SANDBOX_KEY}={server.key}\n  (the key steers this sandbox: keep it private)"
        )
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

{publish}{_hub_sandbox_note()}
Ready in {1000 * (time.perf_counter() - t0):.0f} ms. Press Ctrl-C to stop.""",
        flush=True,
    )
    return _serve(server, args)


def _serve(server: Any, args: argparse.Namespace) -> int:
    """Serve until Ctrl-C, SIGTERM or (with ``--exit-with-parent``) the parent's end."""
    import signal

    from ..sandbox.ready import exit_with_parent, remove_ready_file, write_ready_file

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # one way out for Ctrl-C and SIGTERM: serve_forever stops

    signal.signal(signal.SIGTERM, terminate)
    if args.exit_with_parent:
        parent = os.environ.get(ENV_SANDBOX_PARENT_PID, "")
        exit_with_parent(parent=int(parent) if parent.isdigit() else None)
    try:
        if args.ready_file is not None:
            # Written last, once the port listens: whoever waits for it can connect at once.
            write_ready_file(args.ready_file, url=server.root_url, key=server.key)
        server.serve_forever()
    except KeyboardInterrupt:
        print("\ncerkl-nb sandbox: stopped", flush=True)
    finally:
        server.stop()
        if args.ready_file is not None:
            remove_ready_file(args.ready_file)
    return 0


def _busy_port_hint(err: Exception, port: int) -> str:
    """What to do instead, when ``err`` says the port is taken (inside a hub, too)."""
    if getattr(err, "errno", None) not in (errno.EADDRINUSE, errno.EACCES) or port == 0:
        return ""
    hint = f"\n  Port {port} is taken. Run `cerkl-nb sandbox --port 0` to use any free port."
    if os.environ.get(HUB_USER_ENV):
        hint += "\n  On this JupyterHub other learners share the machine's ports."
    return hint + _hub_sandbox_note()


def _hub_sandbox_note() -> str:
    """Inside a hub, where the learner's own sandbox already runs (their server started it)."""
    url = os.environ.get(ENV_SANDBOX_URL)
    if not (url and os.environ.get(HUB_USER_ENV)):
        return ""
    return (
        f"\n  Your server already runs your own sandbox at {url} ({ENV_SANDBOX_URL}); "
        "notebooks use it through cerkl_nb.connect()."
    )


def _add_lab(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lab",
        help="start the sandbox and JupyterLab on the tutorial notebooks",
        description="Start the local Cerkl sandbox and JupyterLab on the tutorial notebooks. "
        "Arguments not listed here (and all after --) are passed on to jupyter lab.",
    )
    p.add_argument("--port", type=_port, help="JupyterLab's port")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    p.add_argument(
        "--sandbox-port",
        type=_port,
        default=DEFAULT_SANDBOX_PORT,
        help=f"the sandbox's port (default {DEFAULT_SANDBOX_PORT}; 0 picks a free one)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--notebooks",
        type=Path,
        metavar="DIR",
        help="the tutorials folder (default: ./notebooks, or the source checkout's)",
    )
    where.add_argument(
        "--into",
        type=Path,
        metavar="DIR",
        help=f"copy the tutorials into DIR, or reuse the copy there (outside a clone the "
        f"default is ./{DEFAULT_FOLDER}); a notebook you edited is never overwritten",
    )
    p.set_defaults(func=_run_lab)


def _run_lab(args: argparse.Namespace) -> int:
    from .lab import run_lab

    user = os.environ.get(HUB_USER_ENV)
    if user:
        # A JupyterLab started from a hub's terminal listens on a port of the hub's host
        # that the learner's browser cannot reach: send them to the one they are in.
        where = os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or f"/user/{user}/"
        print(
            f"cerkl-nb lab: you are on a JupyterHub (as {user}): your JupyterLab is already "
            f"running at {where.rstrip('/')}/lab; open the tutorials there (File > Open)."
            f"{_hub_sandbox_note()}\n"
            "  A second JupyterLab started here could not be reached from your browser.",
            file=sys.stderr,
        )
        return 2
    return run_lab(_lab_options(args))


def _lab_options(args: argparse.Namespace) -> LabOptions:
    return LabOptions(
        port=args.port,
        no_browser=args.no_browser,
        sandbox_port=args.sandbox_port,
        notebooks=args.notebooks,
        extra=args.extra,
        into=args.into,
    )


def _add_tutorials(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tutorials",
        help="copy the tutorial notebooks into a folder (JupyterHub images, courses)",
        description="Copy the tutorials (notebooks, the docs they link to, .env.example) into "
        "DIR without starting anything. A file already there is never overwritten: --update "
        "replaces only files you did not edit and writes the new version of an edited one "
        "beside it.",
    )
    p.add_argument(
        "folder",
        nargs="?",
        type=Path,
        metavar="DIR",
        help=f"where (default: this folder when it is a copy, else ./{DEFAULT_FOLDER})",
    )
    p.add_argument(
        "--update", action="store_true", help="bring this version's files, keeping your edits"
    )
    p.set_defaults(func=_run_tutorials)


def _run_tutorials(args: argparse.Namespace) -> int:
    from .tutorials import copy_tutorials, default_folder

    try:
        report = copy_tutorials(args.folder or default_folder(), update=args.update)
    except OSError as err:
        print(f"cerkl-nb tutorials: {err}", file=sys.stderr)
        return 2
    print("cerkl-nb tutorials: " + report.summary().replace("\n", "\n  "))
    return 0


def _add_with_sandbox(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "with-sandbox",
        usage="cerkl-nb with-sandbox [--port P] -- COMMAND [ARGS ...]",
        help="start this user's sandbox, then run COMMAND with it published (a hub's spawner)",
        description="Start a sandbox on a free loopback port that ends with COMMAND, publish "
        f"it as {ENV_SANDBOX_URL} and {ENV_SANDBOX_KEY} (and in ~/.cerkl-nb/sandbox.json), "
        "then run COMMAND in this process. For JupyterHub: "
        'c.Spawner.cmd = ["cerkl-nb", "with-sandbox", "--", "jupyterhub-singleuser"].',
    )
    p.add_argument("--port", type=_port, default=0, help="the sandbox's port (default: any)")
    p.set_defaults(func=_run_with_sandbox)


def _run_with_sandbox(args: argparse.Namespace) -> int:
    from .workshop import exec_with_sandbox

    return exec_with_sandbox(args.extra, port=args.port)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="cerkl-nb", description="Learn and use the Cerkl Broadcast API v3 from JupyterLab."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_sandbox(sub)
    _add_lab(sub)
    _add_tutorials(sub)
    _add_with_sandbox(sub)
    return parser


def _parse(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """Parse ``argv``; for ``lab`` and ``with-sandbox``, unknown arguments and all after
    ``--`` become ``extra`` (jupyter lab's arguments; the command to run)."""
    args, passthrough = list(argv), []
    if "--" in args:
        cut = args.index("--")
        args, passthrough = args[:cut], args[cut + 1 :]
    parser = build_parser()
    ns, unknown = parser.parse_known_args(args)
    ns.extra = [*unknown, *passthrough]
    if ns.command not in ("lab", "with-sandbox") and ns.extra:
        parser.error(f"unrecognized arguments: {' '.join(ns.extra)}")
    return parser, ns


def parse_options(argv: Sequence[str] | None = None) -> LabOptions:
    """Parse ``cerkl-nb lab`` arguments (without the word ``lab``) into :class:`LabOptions`."""
    return _lab_options(_parse(["lab", *(sys.argv[1:] if argv is None else argv)])[1])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cerkl-nb`` console script."""
    parser, args = _parse(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
