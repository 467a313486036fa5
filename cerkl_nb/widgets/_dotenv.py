"""The credentials form's ``.env`` buttons: "Load from .env" and "Save to .env".

:class:`DotenvActions` is a mixin of :class:`~cerkl_nb.widgets.CredentialsForm`; the
reading, writing and their safety rules are the core's (:mod:`cerkl_nb.config`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .._dotenv import find_dotenv
from ..config import Credentials, Settings, save_dotenv
from ..errors import ConfigurationError, MissingCredentials

__all__ = ["DotenvActions", "SECRET_HELD"]

#: The secret field's placeholder while a secret is held (the field itself stays empty).
SECRET_HELD = "•••••••• secret held in memory (type to replace)"


class DotenvActions:
    """Mixin: :meth:`load_env` and :meth:`save_env` for the credentials form.

    The host provides ``client_id``, ``client_secret``, ``_secret``, ``_secret_source``,
    ``_sandbox_ids``, ``credentials()``, ``settings()``, ``_is_sandbox_url()``,
    ``_show_environment_for()``, ``_show_error()`` and ``_set_status()``.
    """

    client_id: Any
    client_secret: Any
    _secret: Any
    _secret_source: str
    _sandbox_ids: set[str]

    def load_env(self, path: str | Path | None = None) -> Credentials | None:
        """Load credentials (and the base URL) from a ``.env`` file ("Load from .env").

        Parameters
        ----------
        path
            The file; by default the nearest ``.env`` from the working directory up. When
            no file holds credentials, the process environment is tried.

        Returns
        -------
        Credentials | None
            What was loaded (the secret stays masked), or ``None`` on failure (see status).
        """
        try:
            found = Path(path) if path is not None else find_dotenv()
            source = ""
            creds: Credentials | None = None
            settings: Settings | None = None
            if found is not None and Path(found).is_file():
                try:
                    creds = Credentials.from_env(env={}, dotenv_path=found)
                    settings = Settings.from_env(env={}, dotenv_path=found)
                    source = str(Path(found).resolve())
                except MissingCredentials:
                    creds = None
            elif path is not None:
                raise ConfigurationError(f"{path} does not exist.")
            if creds is None:
                try:
                    creds = Credentials.from_env(dotenv_path=False)
                    settings = Settings.from_env(dotenv_path=False)
                    source = "the environment variables"
                except MissingCredentials:
                    where = f"{found}" if found else "no .env file was found from this folder up"
                    raise MissingCredentials(
                        f"No CERKL_CLIENT_ID / CERKL_CLIENT_SECRET found ({where}). Copy "
                        ".env.example to .env and fill it in, or type them here."
                    ) from None
        except Exception as err:
            self._show_error(err, "Could not load credentials")
            return None
        # ID, environment, then secret (see set_client). A .env that names the sandbox's
        # URL pairs these credentials with the sandbox: switching to it keeps them.
        if settings is not None and self._is_sandbox_url(settings.base_url):
            self._sandbox_ids.add(creds.client_id)
        self.client_id.value = creds.client_id
        if settings is not None:
            self._show_environment_for(settings.base_url)
        self._secret = creds.client_secret
        self._secret_source = "env"
        self.client_secret.value = ""
        self.client_secret.placeholder = SECRET_HELD
        self._set_status(
            "ok",
            f"Loaded the client ID and secret (hidden) from {source}. Click Get New Access Token.",
        )
        return creds

    def save_env(self, path: str | Path = ".env") -> Path | None:
        """Save the credentials to ``path`` with mode 0600 ("Save to .env").

        Warns in the status line when the file is not git-ignored, and when a local
        (sandbox) URL was left out of it (see :func:`cerkl_nb.config.save_dotenv`).

        Returns
        -------
        pathlib.Path | None
            The file written, or ``None`` on failure.
        """
        try:
            creds = self.credentials()
            settings = self.settings()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                written = save_dotenv(creds, settings, path)
        except Exception as err:
            self._show_error(err, "Could not save .env")
            return None
        notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        if notes:
            # The notes say what to do themselves (add .env to .gitignore; why a local
            # sandbox URL was left out), so they are shown as they are.
            self._set_status("warn", f"Saved to {written} (mode 0600), but: " + " ".join(notes))
        else:
            self._set_status("ok", f"Saved to {written} (mode 0600, readable by you only).")
        return written
