"""CredentialsForm: client ID, client secret, environment, "Get New Access Token", ``.env``.

The secret never stays in a synced trait: the Password field syncs once (on blur or
Enter), the form keeps the value in a private :class:`~cerkl_nb.redact.Secret` and sets
the field back to ``""``, so saved widget state holds an empty password. The field does not
echo the value to other pages showing it. Secrets loaded from ``.env`` or taken from a
client never touch a widget.

Real credentials never go to the sandbox: switching to it drops credentials that were not
its own (the empty form then uses its demo client), and leaving it drops the demo client.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ipywidgets as widgets
import traitlets

from .._dotenv import find_dotenv
from ..config import Credentials, Settings, load_config, save_dotenv
from ..errors import ConfigurationError, InvalidCredentials, MissingCredentials
from ..redact import Secret, register_secret
from ..spec import PRODUCTION_BASE_URL, PRODUCTION_HOST
from ..token import Token
from ._bridge import FrontEndBridge, StatusLine
from ._common import (
    button,
    clock_text,
    describe_error,
    is_binder,
    labelled,
    on_click,
    set_busy,
)

#: Environment choices: (label, value).
ENVIRONMENTS: list[tuple[str, str]] = [
    ("Sandbox (local, fake data)", "sandbox"),
    (f"Cerkl production ({PRODUCTION_HOST})", "production"),
    ("Custom URL", "custom"),
]

_SECRET_EMPTY = "Paste the client secret (hidden once read)"
_SECRET_HELD = "•••••••• secret held in memory (type to replace)"
_SECRET_REFUSED = "•••••••• held, but refused last time (type to replace)"

#: The core's hint for refused credentials names the environment variables; for
#: credentials typed into the form, point at what was typed instead.
_ENV_HINT = (
    "Check CERKL_CLIENT_ID and CERKL_CLIENT_SECRET, or generate new credentials in "
    "Cerkl Broadcast: Settings → Integrations & Plugins → Cerkl API v3."
)
_FORM_HINT = (
    "Check the client ID and secret you typed (Settings → Integrations & Plugins → "
    "Cerkl API v3 → Generate New OAuth Credentials)."
)

_PRODUCTION_BANNER = (
    '<div role="note" class="cerkl-banner cerkl-banner-production">'
    f"PRODUCTION: requests go to {PRODUCTION_HOST} and read or change your organisation's real "
    "data (subscribers, segments, blasts). Check every write before you send it.</div>"
)
_BINDER_BANNER = (
    '<div role="note" class="cerkl-banner cerkl-banner-binder">'
    "<b>You are on Binder:</b> a public, shared, short-lived machine. Never paste real Cerkl "
    "credentials here; use the sandbox (its demo client is filled in for you).</div>"
)


class SecretField(widgets.Password):
    """A Password field whose value is never echoed to other front ends.

    ipywidgets (8.1+) sends each value a page sets back to every other page showing the
    widget (``echo_update``), a collaborator's included; not this one.
    """

    value = traitlets.Unicode(help="String value").tag(sync=True, echo_update=False)


class CredentialsForm(widgets.VBox):
    """A form that turns a client ID and secret into a token.

    Parameters
    ----------
    client
        An existing :class:`~cerkl_nb.client.CerklClient` (for example from
        :func:`cerkl_nb.connect`). Its client ID and environment pre-fill the form; its
        secret is kept privately and never shown.
    sandbox_url
        The sandbox's API base URL, when known (``Sandbox.url``). Otherwise it is taken
        from a loopback ``client``, or the sandbox is started on demand.
    with_panel
        True when a :class:`TokenPanel` is shown with the form (the dashboard); status
        texts then point at it.
    """

    #: Clicks of "Get New Access Token" this soon after the previous request finished are
    #: the second half of a double click, queued while the first ran: ignored.
    double_click_s: float = 0.5

    def __init__(
        self,
        client: Any = None,
        *,
        sandbox_url: str | None = None,
        with_panel: bool = False,
        **kwargs: Any,
    ) -> None:
        self._with_panel = with_panel
        self._client: Any = None
        self._secret: Secret | None = None
        # Where the held secret came from: "form" (typed / set_secret), "env", "client".
        self._secret_source = "client"
        self._shown_token: Token | None = None
        self._token_status_shown = False
        self._sandbox_url = sandbox_url
        # Client IDs that exist only in the sandbox (its demo client): never sent elsewhere,
        # and the only ones kept when switching to it.
        self._sandbox_ids: set[str] = set()
        self._sandbox_credentials: Credentials | None = None
        self._busy = False
        self._last_done = -1e9
        self._token_callbacks = widgets.CallbackDispatcher()
        self._client_callbacks = widgets.CallbackDispatcher()
        self._environment_callbacks = widgets.CallbackDispatcher()

        self.environment = labelled(
            widgets.Dropdown,
            "Environment",
            "420px",
            "Where requests go: the local sandbox, Cerkl production, or a URL of yours",
            options=ENVIRONMENTS,
            value="sandbox",
        )
        self.base_url = labelled(
            widgets.Text,
            "Base URL",
            "420px",
            "The API base URL (editable for a custom environment)",
            placeholder="https://api.example.com/v3",
        )
        self.client_id = labelled(
            widgets.Text,
            "Client ID",
            "420px",
            "The OAuth 2.0 client ID",
            placeholder="Client ID from Settings → Integrations & Plugins → Cerkl API v3",
        )
        self.client_secret = labelled(
            SecretField,
            "Client secret",
            "420px",
            "The OAuth 2.0 client secret; it is read once and then cleared from this field",
            placeholder=_SECRET_EMPTY,
            continuous_update=False,  # sync once (on blur/Enter), then it is cleared at once
        )
        self.get_token_button = button(
            "Get New Access Token",
            "Request a token with the client-credentials grant",
            primary=True,
        )
        self.load_button = button(
            "Load from .env",
            "Read CERKL_CLIENT_ID, CERKL_CLIENT_SECRET and CERKL_BASE_URL from .env",
        )
        self.save_button = button(
            "Save to .env",
            "Write the credentials to .env (mode 0600); make sure .env is git-ignored",
        )
        self.status = StatusLine()
        # Loads the widgets' stylesheet and keeps busy buttons focusable (no messages).
        self.bridge = FrontEndBridge()
        self.production_banner = widgets.HTML(
            _PRODUCTION_BANNER, layout=widgets.Layout(display="none")
        )
        self.binder_banner = widgets.HTML(
            _BINDER_BANNER, layout=widgets.Layout(display=None if is_binder() else "none")
        )
        self.client_secret.observe(self._on_secret_typed, names="value")
        self.environment.observe(self._on_environment, names="value")
        self.base_url.observe(self._on_base_url, names="value")
        on_click(self.get_token_button, self._get_token_once, self._report)
        on_click(self.load_button, self.load_env, self._report)
        on_click(self.save_button, self.save_env, self._report)
        buttons = widgets.HBox([self.get_token_button, self.load_button, self.save_button])
        banners = [self.binder_banner, self.production_banner]
        fields = [self.environment, self.base_url, self.client_id, self.client_secret]
        super().__init__([*banners, *fields, buttons, self.status, self.bridge], **kwargs)
        self.add_class("cerkl-widget")
        self.add_class("cerkl-credentials-form")
        if client is not None:
            self.set_client(client)
        else:
            self._on_environment({"new": self.environment.value})
            self._say("info", "Enter a client ID and secret, or load them from .env.")

    # -- public API ------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The :class:`~cerkl_nb.client.CerklClient` built from the form (``None`` before)."""
        return self._client

    @property
    def has_secret(self) -> bool:
        """True when a client secret is held (privately, never in a trait)."""
        return bool(self._secret)

    @property
    def busy(self) -> bool:
        """True while a token request started by this form is in flight."""
        return self._busy

    @property
    def status_text(self) -> str:
        """The status line as plain (redacted) text."""
        return self.status.text

    @property
    def status_kind(self) -> str:
        """``"info"``, ``"ok"``, ``"warn"``, ``"error"`` or ``"busy"``."""
        return self.status.kind

    def set_client(self, client: Any) -> None:
        """Adopt an existing client: pre-fill ID and environment, hold its secret privately."""
        self._client = client
        settings = client.settings
        creds = client.token_manager.credentials
        if settings.is_loopback:
            self._sandbox_ids.add(creds.client_id)
            self._sandbox_credentials = creds
            self._sandbox_url = self._sandbox_url or settings.base_url
        self._fill(creds, settings.base_url, "client")
        where = "the local sandbox (demo client)" if settings.is_loopback else settings.base_url
        tok = self._shown_token = client.token_manager.token
        if tok is not None and str(client.token_manager.state) != "expired":
            panel = " (see the token panel)" if self._with_panel else ""
            text = f"Connected to {where}: an access token is held{panel}. "
            self._say("ok", text + "Click Get New Access Token for a new one.", about_token=True)
        else:
            text = f"Ready: credentials for {where} are loaded. Click Get New Access Token."
            self._say("info", text, about_token=True)

    def set_secret(self, secret: str | Secret) -> None:
        """Hold ``secret`` privately (what typing into the Password field does)."""
        self._secret = secret if isinstance(secret, Secret) else Secret(secret)
        register_secret(self._secret)  # a secret entering the process through the form
        self._secret_source = "form"
        self.client_secret.placeholder = _SECRET_HELD if self._secret else _SECRET_EMPTY

    def credentials(self) -> Credentials:
        """The credentials the form would use now (MissingCredentials when incomplete)."""
        cid = self.client_id.value
        if not cid and not self._secret and self.environment.value == "sandbox":
            creds = self._sandbox_credentials or Credentials.for_sandbox(self._sandbox())
            self._sandbox_ids.add(creds.client_id)
            return creds
        if not self._secret:
            raise MissingCredentials(
                "No client secret given: paste it into the Client secret field, or click "
                "Load from .env."
            )
        return Credentials(cid, self._secret)

    def settings(self) -> Settings:
        """The settings for the chosen environment (timeouts etc. kept from the client)."""
        env = self.environment.value
        if env == "sandbox":
            url = self._sandbox_url or self._sandbox().url
        elif env == "production":
            url = PRODUCTION_BASE_URL
        else:
            url = self.base_url.value.strip()
            if not url:
                raise ConfigurationError("Enter the custom base URL, such as https://host/v3.")
        if self._client is not None:
            return self._client.settings.replace(base_url=url)
        return Settings(base_url=url)

    def submit(self, *, raise_errors: bool = False) -> Token | None:
        """Get a new access token with the form's credentials ("Get New Access Token").

        When the credentials or the environment changed, the token is requested with a new
        client, adopted (:meth:`on_client`) only when that succeeds: on failure the old
        client, its token and its history stay in use. Returns the token (:meth:`on_token`
        callbacks are told), or ``None`` when the request failed (shown in the status line;
        re-raised with ``raise_errors``) or one was in flight.
        """
        if self._busy:
            self._say("busy", "A token request is already in flight; wait for it.")
            return None
        self._set_busy(True)
        new_client = None
        try:
            new_client = self._new_client_if_changed()
            client = new_client or self._client
            self._say("busy", f"Requesting a token from {client.settings.token_url} …")
            token = client.token_manager.fetch()
        except Exception as err:
            if new_client is not None:  # a failed fetch with a new client changes nothing
                new_client.close()
            self._show_error(err, "Could not get a token")
            if raise_errors:
                raise
            return None
        finally:
            self._set_busy(False)
            self._last_done = time.monotonic()
        if new_client is not None:
            self._client = new_client
            self._secret = new_client.token_manager.credentials.client_secret
            self._client_callbacks(new_client)
        if self._secret:
            self.client_secret.placeholder = _SECRET_HELD
        self._show_token_status(token)
        self._token_callbacks(self._client)
        return token

    def show_token(self) -> None:
        """Show the client's current token in the status line, if it shows a token now.

        The dashboard calls it after a refresh elsewhere (token panel, auto-refresh), so the
        "valid until" text is never stale; an error or a note the user reads stays.
        """
        token = self._client.token_manager.token if self._client is not None else None
        if token is not None and token is not self._shown_token and self._token_status_shown:
            self._show_token_status(token, renewed=self._shown_token is not None)

    def load_env(self, path: str | Path | None = None) -> Credentials | None:
        """Load credentials (and the base URL) from a ``.env`` file ("Load from .env").

        ``path`` defaults to the nearest ``.env`` from the working directory up; when no
        file holds credentials, the environment variables are tried. Returns what was
        loaded (the secret stays hidden), or ``None`` on failure (see the status line).
        """
        try:
            found = Path(path) if path is not None else find_dotenv()
            if found is not None and not found.is_file():
                raise ConfigurationError(f"{path} does not exist.")
            settings, creds = _read_env_file(found)
            source = str(found.resolve()) if found is not None else ""
            if creds is None:
                settings, creds = load_config(dotenv_path=False)
                source = "the environment variables"
            if creds is None:
                where = found or "no .env file was found from this folder up"
                raise MissingCredentials(
                    f"No CERKL_CLIENT_ID / CERKL_CLIENT_SECRET found ({where}). Copy "
                    ".env.example to .env and fill it in, or type them here."
                )
        except Exception as err:
            self._show_error(err, "Could not load credentials")
            return None
        # A .env that names the sandbox's URL pairs these credentials with the sandbox:
        # switching to it keeps them.
        if self._is_sandbox_url(settings.base_url):
            self._sandbox_ids.add(creds.client_id)
        self._fill(creds, settings.base_url, "env")
        self.client_secret.value = ""
        self._say(
            "ok",
            f"Loaded the client ID and secret (hidden) from {source}. Click Get New Access Token.",
        )
        return creds

    def save_env(self, path: str | Path = ".env") -> Path | None:
        """Save the credentials to ``path`` with mode 0600 ("Save to .env").

        Returns the file written, or ``None`` on failure. The status line warns when the
        file is not git-ignored, or a local (sandbox) URL was left out of it.
        """
        try:
            creds, settings = self.credentials(), self.settings()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                written = save_dotenv(creds, settings, path)
        except Exception as err:
            self._show_error(err, "Could not save .env")
            return None
        # The notes say themselves what to do (add .env to .gitignore ...).
        notes = " ".join(str(w.message) for w in caught if issubclass(w.category, UserWarning))
        if notes:
            self._say("warn", f"Saved to {written} (mode 0600), but: {notes}")
        else:
            self._say("ok", f"Saved to {written} (mode 0600, readable by you only).")
        return written

    def on_token(self, callback: Callable[[Any], None], remove: bool = False) -> None:
        """Call ``callback(client)`` after each new token obtained with the form."""
        self._token_callbacks.register_callback(callback, remove=remove)

    def on_client(self, callback: Callable[[Any], None], remove: bool = False) -> None:
        """Call ``callback(client)`` when the form adopts a new client (see :meth:`submit`)."""
        self._client_callbacks.register_callback(callback, remove=remove)

    def on_environment(self, callback: Callable[[Any], None], remove: bool = False) -> None:
        """Call ``callback(form)`` when the environment or base URL in the form changes."""
        self._environment_callbacks.register_callback(callback, remove=remove)

    def target(self) -> tuple[str, str | None]:
        """``(label, base URL or None)`` of the environment selected in the form now.

        Never starts the sandbox; the URL is ``None`` when it is not known yet.
        """
        env = self.environment.value
        if env == "sandbox":
            return "Sandbox", self._sandbox_url.rstrip("/") if self._sandbox_url else None
        if env == "production":
            return "Cerkl production", PRODUCTION_BASE_URL
        url = self.base_url.value.strip().rstrip("/")
        return f"custom URL {url or '(empty)'}", url or None

    def environment_changed(self) -> bool:
        """True when the form's environment differs from that of :attr:`client`."""
        if self._client is None:
            return False
        return self.target()[1] != self._client.settings.base_url.rstrip("/")

    # -- internals ---------------------------------------------------------------------------
    def _say(self, kind: str, text: str, *, about_token: bool = False) -> None:
        self.status.show(kind, text)
        self._token_status_shown = about_token

    def _sandbox(self) -> Any:
        """The sandbox this form targets: the known one, else attach-or-start (ensure)."""
        from ..sandbox import attach, ensure

        if self._sandbox_url:
            return attach(self._sandbox_url)
        sb = ensure()
        self._sandbox_url = sb.url
        return sb

    def _new_client_if_changed(self) -> Any:
        """A client for the form's credentials and environment, unless the current one is."""
        from ..client import CerklClient

        creds, settings = self.credentials(), self.settings()
        now = self._client
        same = now is not None and now.token_manager.credentials == creds
        if same and now.settings.base_url == settings.base_url:
            return None
        return CerklClient(credentials=creds, settings=settings)

    def _fill(self, creds: Credentials, base_url: str, source: str) -> None:
        """Show ``creds`` for ``base_url``; hold the secret privately."""
        # ID first, then environment, then secret: the environment observer drops a
        # sandbox-only ID (and its secret) when the environment leaves the sandbox.
        self.client_id.value = creds.client_id
        if base_url.rstrip("/") == PRODUCTION_BASE_URL:
            self.environment.value = "production"
        elif self._is_sandbox_url(base_url):
            self.environment.value = "sandbox"
        else:
            self.environment.value = "custom"
            self.base_url.value = base_url
        self._on_environment({"new": self.environment.value})
        self._secret = creds.client_secret
        self._secret_source = source
        self.client_secret.placeholder = _SECRET_HELD

    def _is_sandbox_url(self, base_url: str) -> bool:
        known = self._sandbox_url
        return bool(known) and base_url.rstrip("/") == known.rstrip("/")  # type: ignore[union-attr]

    def _show_token_status(self, token: Token, *, renewed: bool = False) -> None:
        self._shown_token = token
        hours = token.lifetime_s / 3600
        life = f"{hours:g} h" if hours >= 1 else f"{token.lifetime_s:g} s"
        what = "The access token was renewed" if renewed else "Got a new access token"
        refresh = " A refresh token came with it." if token.has_refresh_token else ""
        panel = " The token panel shows its countdown." if self._with_panel else ""
        until = clock_text(token.expires_at)
        text = f"{what} ({token.token_type}, valid {life}, until {until}).{refresh}{panel}"
        self._say("ok", text, about_token=True)

    def _on_secret_typed(self, change: dict[str, Any]) -> None:
        if not change["new"]:
            return
        self.set_secret(change["new"])
        # Cleared at once: the value must not linger in a synced trait (saved widget state).
        self.client_secret.value = ""
        self._say("info", "Client secret received and hidden. Click Get New Access Token.")

    def _on_environment(self, change: dict[str, Any]) -> None:
        env = change["new"]
        self.base_url.disabled = env != "custom"
        if env == "sandbox":
            self.base_url.value = self._sandbox_url or "(the local sandbox; started on demand)"
        elif env == "production":
            self.base_url.value = PRODUCTION_BASE_URL
        elif self.base_url.value.startswith("("):
            self.base_url.value = ""
        cid = self.client_id.value
        if env != "sandbox" and cid in self._sandbox_ids:
            # The demo client exists only in the sandbox: don't send it elsewhere.
            self._drop_credentials(
                "The sandbox's demo client only works with the sandbox: enter the client ID "
                "and secret of your own Cerkl API v3 credentials, or load them from .env."
            )
        elif env == "sandbox" and (cid or self._secret) and cid not in self._sandbox_ids:
            # Whatever answers at the sandbox's URL must never receive real credentials.
            self._drop_credentials(
                "Switched to the sandbox: your own client ID and secret were cleared from "
                "the form, so they are never sent to the sandbox. It uses its demo client: "
                "click Get New Access Token."
            )
        elif self.status_kind == "error":
            # An error about the previous environment would be stale now.
            self._say("info", f"Environment: {self.target()[0]}. Click Get New Access Token.")
        self._on_base_url({})

    def _drop_credentials(self, why: str) -> None:
        self.client_id.value = ""
        self._secret = None
        self.client_secret.placeholder = _SECRET_EMPTY
        self._say("info", why)

    def _on_base_url(self, _change: Any) -> None:
        url = self.base_url.value.strip()
        host = (urlsplit(url).hostname or "").lower() if "://" in url else ""
        production = self.environment.value == "production" or host == PRODUCTION_HOST
        self.production_banner.layout.display = None if production else "none"
        self._environment_callbacks(self)

    def _set_busy(self, busy: bool) -> None:
        # Busy, not disabled: the button that was pressed keeps the keyboard focus.
        self._busy = busy
        for control in (self.get_token_button, self.load_button, self.save_button):
            set_busy(control, busy)

    def _show_error(self, err: BaseException, what: str) -> None:
        text = describe_error(err)
        if self._secret_source == "form":
            text = text.replace(_ENV_HINT, _FORM_HINT)
        if isinstance(err, InvalidCredentials) and self._secret:
            self.client_secret.placeholder = _SECRET_REFUSED
        # The time makes a repeated failure visibly a new one.
        self._say("error", f"{what} ({clock_text(time.time())}): {text}")

    def _report(self, err: BaseException) -> None:
        self._show_error(err, "Error")

    def _get_token_once(self) -> None:
        if self._busy or time.monotonic() - self._last_done < self.double_click_s:
            return  # a second click queued behind the first: one request is enough
        self.submit()

    def __repr__(self) -> str:
        held = "held" if self._secret else "missing"
        return (
            f"CredentialsForm(environment={self.environment.value!r}, "
            f"client_id={self.client_id.value!r}, client_secret={held})"
        )


def _read_env_file(found: Path | None) -> tuple[Settings | None, Credentials | None]:
    """The settings and credentials of a ``.env`` alone (no credentials: ``None``)."""
    if found is None:
        return None, None
    try:
        return load_config(dotenv_path=found, env={})
    except MissingCredentials:  # half a pair: try the environment instead
        return None, None
