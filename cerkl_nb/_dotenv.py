""".env files, the one home for them: where to look, whose to trust, reading and writing
(python-dotenv, so a saved file reads back identically) and what git thinks of a file.

:mod:`cerkl_nb.config` decides what the values mean. Secrets are wrapped in a
:class:`~cerkl_nb.redact.Secret` as they are read (verbose tracebacks print locals).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection, Mapping
from pathlib import Path

from .errors import ConfigurationError
from .redact import Secret

__all__ = ["find_dotenv", "read_dotenv", "write_dotenv", "is_git_ignored", "is_git_tracked"]


def find_dotenv(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest ``.env`` in ``start`` (default: the working directory) or above it, up to
    the git work tree's root or the home directory, whichever comes first (outside both:
    the working directory only). One in a shared folder above them may be anybody's."""
    here = Path(start or os.getcwd()).absolute()
    home = Path.home().absolute()
    chain = [here, *here.parents]
    stop = next((i for i, f in enumerate(chain) if f == home or (f / ".git").exists()), 0)
    for folder in chain[: stop + 1]:
        candidate = folder / ".env"
        if candidate.is_file():
            return candidate
    return None


def _unsafe_owner_or_mode(path: Path) -> str | None:
    """Why a .env must not be trusted (another owner, writable by others), or None."""
    import stat as st

    info = path.stat()
    getuid = getattr(os, "getuid", None)
    if getuid is not None and info.st_uid != getuid():
        return f"{path} belongs to another user (uid {info.st_uid})"
    if info.st_mode & (st.S_IWGRP | st.S_IWOTH):
        return f"{path} may be changed by other users (mode {st.S_IMODE(info.st_mode):o})"
    return None


def _is_utf8(path: Path) -> bool:
    # In its own frame, so the file's bytes are gone before any error is raised: a
    # UnicodeDecodeError carries the whole file (secret included) in .object.
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_dotenv(
    path: str | os.PathLike[str] | bool | None, secret_keys: Collection[str] = ()
) -> dict[str, str | Secret]:
    """The non-empty values of a ``.env`` file; those of ``secret_keys`` wrapped in a Secret.

    ``None`` or ``True`` searches (:func:`find_dotenv`), ``False`` reads nothing. A file that
    another user owns or may write is ignored with a warning; one that others may read is
    used with a warning; one that is not UTF-8 raises :class:`ConfigurationError` (without
    any of its content).
    """
    import stat as st

    if path is False:
        return {}
    found = find_dotenv() if path is None or path is True else Path(path)
    if found is None or not found.is_file():
        if path not in (None, True):
            raise ConfigurationError(f"dotenv_path {str(path)!r} does not exist")
        return {}
    unsafe = _unsafe_owner_or_mode(found)
    if unsafe:
        warnings.warn(f"Ignoring {found}: {unsafe}.", UserWarning, stacklevel=5)
        return {}
    if found.stat().st_mode & (st.S_IRGRP | st.S_IROTH):
        warnings.warn(
            f"{found} is readable by other users of this machine; protect your client secret "
            f"with: chmod 600 {found}",
            UserWarning,
            stacklevel=5,
        )
    if not _is_utf8(found):
        raise ConfigurationError(
            f"{found} is not UTF-8 text (saved as Latin-1 or UTF-16, for example by Windows "
            "Notepad?). Save it again with UTF-8 encoding."
        )
    # python-dotenv is imported here, not at module level, to keep `import cerkl_nb` fast.
    from dotenv import dotenv_values

    # interpolate=False: a secret such as "x${HOME}y" or "p$ss" is read exactly as written.
    return {
        k: (Secret(v) if k in secret_keys else v)
        for k, v in dotenv_values(found, interpolate=False, encoding="utf-8").items()
        if v
    }


def write_dotenv(
    target: Path, values: Mapping[str, str | Secret], *, drop: Collection[str] = ()
) -> Path:
    """Set ``values`` in the ``.env`` file ``target`` (mode 0600) and remove ``drop`` keys.

    python-dotenv's ``set_key``/``unset_key`` do the writing (each through a temporary file
    renamed into place), so the file is written by the parser that reads it; the result is
    read back and compared. A symbolic link is refused: writing through it would change
    another file. Warns when git tracks the file or does not ignore it.
    """
    from dotenv import dotenv_values, set_key, unset_key

    target = target.absolute()
    if target.is_symlink():
        raise ConfigurationError(
            f"Not writing {target}: it is a symbolic link, and writing through it would "
            "change another file. Replace the link with a regular file, or pass another path."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        os.chmod(target, 0o600)  # before the secret goes in; set_key keeps the mode
    existing_keys = set(dotenv_values(target, interpolate=False)) if target.exists() else set()
    for key in drop:
        if key in existing_keys and key not in values:
            unset_key(target, key)
    for key, value in values.items():
        # quote_mode="always": set_key single-quotes the value and escapes \\ and ' in it.
        set_key(target, key, _plain(value), quote_mode="always")
    os.chmod(target, 0o600)
    back = dotenv_values(target, interpolate=False)
    unreadable = [k for k, v in values.items() if back.get(k) != _plain(v)]  # names, no values
    if unreadable:
        raise ConfigurationError(
            f"{', '.join(unreadable)} did not read back from {target} exactly as written; "
            "edit the file by hand and check it with cerkl_nb.load_config()."
        )
    _warn_if_not_ignored(target)
    return target


def _plain(value: str | Secret) -> str:
    return value.get_secret_value() if isinstance(value, Secret) else value


def _warn_if_not_ignored(target: Path) -> None:
    if is_git_tracked(target):
        warnings.warn(
            f"{target} is tracked by git: your client secret will be in the next commit. "
            f"Run `git rm --cached {target.name}` and add '.env' to .gitignore.",
            UserWarning,
            stacklevel=3,
        )
    elif is_git_ignored(target) is False:
        warnings.warn(
            f"{target} is inside a git repository but is not git-ignored: add '.env' to "
            ".gitignore before you commit, or your client secret will be published.",
            UserWarning,
            stacklevel=3,
        )


def _git(path: Path, *args: str) -> int | None:
    """Exit status of ``git <args> <path>`` run in the file's folder; None without git."""
    import subprocess

    try:
        return subprocess.run(
            ["git", *args, "--", path.name],
            cwd=path.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        ).returncode
    except (OSError, subprocess.SubprocessError):
        return None


def is_git_ignored(path: str | os.PathLike[str]) -> bool | None:
    """Whether git ignores ``path`` (``git check-ignore``); None outside a work tree or
    without git."""
    status = _git(Path(path).absolute(), "check-ignore", "-q")
    return {0: True, 1: False}.get(status) if status is not None else None


def is_git_tracked(path: str | os.PathLike[str]) -> bool | None:
    """Ask git whether ``path`` is already committed or staged (``git ls-files``)."""
    target = Path(path).absolute()
    if _git(target, "rev-parse", "--is-inside-work-tree") != 0:
        return None
    return _git(target, "ls-files", "--error-unmatch") == 0
