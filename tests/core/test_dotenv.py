""".env files on a shared machine: where the search stops, whose files count, how they are
written, and what an error may show (also in verbose tracebacks, which print locals)."""

from __future__ import annotations

import os
import socket
import traceback
import warnings
from pathlib import Path

import pytest

import cerkl_nb
from cerkl_nb import ConfigurationError, Credentials, MissingCredentials, Settings
from cerkl_nb._dotenv import find_dotenv
from cerkl_nb.config import load_config, save_dotenv
from cerkl_nb.spec import PRODUCTION_BASE_URL

SECRET = "pässwörd-Secret-987"
PAIR = f"CERKL_CLIENT_ID=my-client\nCERKL_CLIENT_SECRET={SECRET}\n"


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("CERKL_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()


# -- where the search stops ---------------------------------------------------------------------


def test_search_stops_at_the_repository_root(clean_env, tmp_path, monkeypatch) -> None:
    write(tmp_path / "shared" / ".env", PAIR)  # above the repository
    repo = tmp_path / "shared" / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    monkeypatch.chdir(repo / "src")
    assert find_dotenv() is None
    assert load_config()[1] is None
    write(repo / ".env", PAIR)
    assert find_dotenv() == repo / ".env"


def test_search_stops_at_the_home_directory(clean_env, tmp_path, monkeypatch) -> None:
    write(tmp_path / ".env", PAIR)  # the folder above $HOME
    work = tmp_path / "home" / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert find_dotenv() is None
    write(tmp_path / "home" / ".env", PAIR)
    assert find_dotenv() == tmp_path / "home" / ".env"


def test_outside_home_and_repositories_only_the_working_directory_counts(
    clean_env, tmp_path, monkeypatch
) -> None:
    # The shared temporary folder: another user's .env one level up is not read.
    write(tmp_path / "tmp" / ".env", PAIR)
    (tmp_path / "tmp" / "mine").mkdir()
    monkeypatch.chdir(tmp_path / "tmp" / "mine")
    assert find_dotenv() is None
    monkeypatch.chdir(tmp_path / "tmp")
    assert find_dotenv() == tmp_path / "tmp" / ".env"


# -- whose file, which mode ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_dotenv_others_may_write_is_ignored_with_a_warning(tmp_path, mode) -> None:
    env_file = write(tmp_path / ".env", PAIR, mode)
    with pytest.warns(UserWarning, match="Ignoring .*may be changed by other users"):
        settings, creds = load_config(env={}, dotenv_path=env_file)
    assert creds is None and settings.base_url == PRODUCTION_BASE_URL


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs chown")
def test_a_dotenv_owned_by_another_user_is_ignored_with_a_warning(tmp_path) -> None:
    env_file = write(tmp_path / ".env", PAIR + "CERKL_TOKEN_URL=http://127.0.0.1:9/t\n")
    os.chown(env_file, 65534, -1)
    with pytest.warns(UserWarning, match="belongs to another user"):
        settings, creds = load_config(env={}, dotenv_path=env_file)
    assert creds is None and settings.token_url.startswith(PRODUCTION_BASE_URL)


def test_a_dotenv_others_may_read_is_used_with_a_warning(tmp_path) -> None:
    env_file = write(tmp_path / ".env", PAIR, 0o644)
    with pytest.warns(UserWarning, match="readable by other users.*chmod 600"):
        _, creds = load_config(env={}, dotenv_path=env_file)
    assert creds.client_id == "my-client"
    env_file.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_config(env={}, dotenv_path=env_file)


def test_urls_never_come_from_another_source_than_the_credentials(tmp_path) -> None:
    env_file = write(tmp_path / ".env", "CERKL_TOKEN_URL=http://127.0.0.1:9/steal\n")
    env = {"CERKL_CLIENT_ID": "env-id", "CERKL_CLIENT_SECRET": "env-secret-123"}
    with pytest.warns(UserWarning, match="Ignoring CERKL_TOKEN_URL"):
        settings, creds = load_config(env=env, dotenv_path=env_file)
    assert creds.client_id == "env-id"
    assert settings.token_url == PRODUCTION_BASE_URL + "/oauth/Token"
    # The other way round: credentials in .env, a URL only in the environment.
    write(env_file, PAIR)
    with pytest.warns(UserWarning, match="Ignoring CERKL_BASE_URL"):
        settings, _ = load_config(
            env={"CERKL_BASE_URL": "http://127.0.0.1:9/v3"}, dotenv_path=env_file
        )
    assert settings.base_url == PRODUCTION_BASE_URL
    # From the same source they are used.
    write(env_file, PAIR + "CERKL_BASE_URL=http://127.0.0.1:9/v3\n")
    assert load_config(env={}, dotenv_path=env_file)[0].base_url == "http://127.0.0.1:9/v3"


# -- writing ------------------------------------------------------------------------------------


def test_save_refuses_to_write_through_a_symlink(tmp_path) -> None:
    elsewhere = write(tmp_path / "elsewhere.txt", "KEEP=1\n", 0o644)
    (tmp_path / ".env").symlink_to(elsewhere)
    with pytest.raises(ConfigurationError, match="symbolic link"):
        save_dotenv(Credentials("my-client", SECRET), path=tmp_path / ".env")
    assert elsewhere.read_text() == "KEEP=1\n" and oct(elsewhere.stat().st_mode)[-3:] == "644"


def test_lines_the_parser_reads_as_our_keys_are_replaced_on_save(tmp_path) -> None:
    # export<TAB>KEY= and a quoted key are our keys to python-dotenv: after a save they must
    # not survive and win over what was saved.
    env_file = write(
        tmp_path / ".env",
        "export\tCERKL_CLIENT_ID=stale-id\n'CERKL_CLIENT_SECRET'=stale-secret\nOTHER=1\n",
    )
    save_dotenv(Credentials("new-id", SECRET), path=env_file)
    _, creds = load_config(env={}, dotenv_path=env_file)
    assert creds.client_id == "new-id" and creds.client_secret.get_secret_value() == SECRET
    assert "stale" not in env_file.read_text() and "OTHER=1" in env_file.read_text()


@pytest.mark.parametrize(
    "secret", ["x\\", "\\'", "a'b\"c", "back\\\\slash", "tab\\tnot-a-tab", "$HOME-€-£"]
)
def test_a_saved_secret_reads_back_identically(tmp_path, secret) -> None:
    written = save_dotenv(Credentials("my-client", secret), path=tmp_path / ".env")
    assert load_config(env={}, dotenv_path=written)[1].client_secret.get_secret_value() == secret


@pytest.mark.parametrize(
    "char", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x00", "\x7f", "\n", "\t"]
)
@pytest.mark.parametrize("field", ["id", "secret"])
def test_ids_and_secrets_reject_line_separators_and_control_characters(char, field) -> None:
    cid, secret = (
        ("my" + char + "client", SECRET) if field == "id" else ("my-client", "a" + char + SECRET)
    )
    with pytest.raises(ConfigurationError, match="control character or line break") as info:
        Credentials(cid, secret)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.args)


# -- files that are not UTF-8 -------------------------------------------------------------------


def _linked(exc: BaseException) -> list[BaseException]:
    out, todo = [], [exc]
    while todo:
        e = todo.pop()
        if e is None or e in out:
            continue
        out.append(e)
        todo += [e.__context__, e.__cause__, *[a for a in e.args if isinstance(a, BaseException)]]
    return out


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "cp1252"])
def test_a_dotenv_that_is_not_utf8_says_so_and_shows_no_content(tmp_path, encoding) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(PAIR.encode(encoding))
    with pytest.raises(ConfigurationError, match="not UTF-8.*Save it again with UTF-8") as info:
        load_config(env={}, dotenv_path=env_file)
    for e in _linked(info.value):
        assert "sswörd" not in str(e) and "ssw" not in repr(e.args)
        assert not isinstance(e, UnicodeDecodeError)
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert SECRET not in _verbose(info.value)


# -- verbose tracebacks of every configuration error path ----------------------------------------


def _verbose(exc: BaseException) -> str:
    """What IPython's %xmode Verbose prints (each frame's locals), in two renderings."""
    tb = exc.__traceback__
    text = "".join(traceback.TracebackException(type(exc), exc, tb, capture_locals=True).format())
    try:
        from IPython.core.ultratb import VerboseTB
    except ImportError:  # pragma: no cover - IPython comes with the lab extra
        return text
    return text + VerboseTB().text(type(exc), exc, tb)


def _raised(call) -> BaseException:
    # The test's frames (this helper, and the lambda that names SECRET: the user's own cell
    # in a notebook) are left out; what remains is the library's frames and their locals.
    try:
        call()
    except Exception as exc:  # noqa: BLE001
        exc.__traceback__ = exc.__traceback__.tb_next.tb_next
        return exc
    raise AssertionError("expected an exception")


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _paths(tmp_path: Path) -> dict[str, object]:
    dotenv = write(
        tmp_path / ".env", "CERKL_CLIENT_ID='bad id '\n" + f"CERKL_CLIENT_SECRET={SECRET}\n"
    )
    dead = f"http://127.0.0.1:{_dead_port()}/v3"
    return {
        "argument, bad base URL": lambda: load_config("id", SECRET, "ftp://x", dotenv_path=False),
        "argument, no ID": lambda: load_config(None, SECRET, env={}, dotenv_path=False),
        "argument, bad ID": lambda: load_config("a\nb", SECRET, env={}, dotenv_path=False),
        "argument, bad secret": lambda: load_config("id", SECRET + " ", env={}, dotenv_path=False),
        "environment, no ID": lambda: load_config(
            env={"CERKL_CLIENT_SECRET": SECRET}, dotenv_path=False
        ),
        "environment, bad URL": lambda: load_config(
            env={"CERKL_CLIENT_ID": "id", "CERKL_CLIENT_SECRET": SECRET, "CERKL_BASE_URL": "x"},
            dotenv_path=False,
        ),
        ".env, bad ID": lambda: load_config(env={}, dotenv_path=dotenv),
        "Credentials.from_env": lambda: Credentials.from_env(
            env={"CERKL_CLIENT_ID": "", "CERKL_CLIENT_SECRET": SECRET}, dotenv_path=False
        ),
        "Credentials, bad secret": lambda: Credentials("id", SECRET + "\u2028"),
        "connect, local API down": lambda: cerkl_nb.connect(
            client_id="id", client_secret=SECRET, base_url=dead, dotenv_path=False
        ),
        "connect, unknown setting": lambda: cerkl_nb.connect(
            client_id="id", client_secret=SECRET, dotenv_path=False, timeout=3
        ),
    }


def test_no_configuration_error_path_shows_the_secret_in_a_verbose_traceback(
    tmp_path, monkeypatch
) -> None:
    for key in list(os.environ):
        if key.startswith("CERKL_"):
            monkeypatch.delenv(key)
    for name, call in _paths(tmp_path).items():
        exc = _raised(call)
        assert isinstance(exc, (ConfigurationError, MissingCredentials, cerkl_nb.CerklError)), name
        text = _verbose(exc)
        assert "Secret('***')" in text or "client_secret" not in text, name
        assert SECRET not in text, name
        assert SECRET not in str(exc) and SECRET not in repr(exc.args), name


def test_connect_applies_settings_from_the_sandbox_handle(sandbox) -> None:
    settings = Settings.for_sandbox(sandbox)
    assert (settings.base_url, settings.token_url) == (sandbox.url, sandbox.token_url)
    creds = Credentials.for_sandbox(sandbox)
    assert creds.client_id == sandbox.client_id
    assert creds.client_secret.get_secret_value() == sandbox.client_secret
    client = cerkl_nb.connect(sandbox=sandbox, timeout_s=7)
    assert client.settings.base_url == sandbox.url and client.settings.timeout_s == 7
    assert client.list("segment", page_size=1).items
