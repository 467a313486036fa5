"""Credentials and settings: sources, precedence, validation, masking, saving."""

from __future__ import annotations

import os
import stat
import subprocess
import warnings

import pytest

from cerkl_nb import ConfigurationError, Credentials, MissingCredentials, Secret, Settings
from cerkl_nb._dotenv import is_git_ignored
from cerkl_nb.config import load_config, save_dotenv
from cerkl_nb.spec import PRODUCTION_BASE_URL

SECRET = "s3cr3t-value-XYZ"


def test_defaults_follow_cerkl_docs() -> None:
    s = Settings()
    assert s.base_url == PRODUCTION_BASE_URL == "https://api.cerkl.com/v3"
    assert s.token_url == "https://api.cerkl.com/v3/oauth/Token"
    assert s.is_production and not s.is_loopback
    assert (s.timeout_s, s.connect_timeout_s, s.leeway_s) == (30, 5, 300)
    assert s.basic_auth_encoding == "raw"
    # The leeway is capped at a tenth of the lifetime so 60 s sandbox tokens behave.
    assert s.leeway_for(43200) == 300
    assert s.leeway_for(60) == 6


def test_token_url_follows_base_url_and_trailing_slash_is_dropped() -> None:
    s = Settings(base_url="http://127.0.0.1:8765/v3/")
    assert s.base_url == "http://127.0.0.1:8765/v3"
    assert s.token_url == "http://127.0.0.1:8765/v3/oauth/Token"
    assert s.is_loopback
    moved = s.replace(base_url="http://localhost:9/v3")
    assert moved.token_url == "http://localhost:9/v3/oauth/Token"
    with pytest.warns(UserWarning, match="auth.example.com is neither api.cerkl.com"):
        custom = Settings(token_url="https://auth.example.com/oauth/Token")
        assert custom.replace(timeout_s=3).token_url == "https://auth.example.com/oauth/Token"


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="https"):
        Settings(base_url="http://api.cerkl.com/v3")
    with pytest.raises(ConfigurationError, match="https"):
        Settings(token_url="http://evil.example/oauth/Token")
    for ok in ("http://127.0.0.1:1/v3", "http://127.9.9.9:1/v3", "http://localhost:1/v3"):
        assert Settings(base_url=ok).is_loopback
    assert Settings(base_url="http://[::1]:1/v3").is_loopback
    with pytest.warns(UserWarning, match="unencrypted"), pytest.warns(UserWarning, match="neither"):
        Settings(base_url="http://test.internal/v3", allow_insecure=True)


@pytest.mark.parametrize(
    "url", ["http://api.cerkl.com.localhost/v3", "http://x.localhost:8765/v3", "http://10.0.0.1/v3"]
)
def test_only_literal_localhost_and_loopback_addresses_may_use_plain_http(url) -> None:
    with pytest.raises(ConfigurationError, match="plain http://"):
        Settings(base_url=url)


def test_a_token_host_that_is_neither_cerkl_nor_loopback_warns() -> None:
    with pytest.warns(UserWarning, match="evil.example is neither api.cerkl.com"):
        Settings(token_url="https://evil.example/oauth/Token")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Settings()
        Settings(base_url="http://127.0.0.1:1/v3")
        Settings(base_url="https://API.cerkl.com:443/v3")


@pytest.mark.parametrize(
    "url",
    [" https://api.cerkl.com/v3", "https://api.cerkl.com/v3\n", "api.cerkl.com/v3", "ftp://x/"],
)
def test_bad_urls_get_clear_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        Settings(base_url=url)


def test_unknown_setting_is_rejected_with_a_suggestion() -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'timeout_s'"):
        Settings().replace(timeot_s=3)
    with pytest.raises(ConfigurationError, match="basic_auth_encoding"):
        Settings(basic_auth_encoding="latin1")  # type: ignore[arg-type]


def test_credentials_mask_the_secret_everywhere() -> None:
    c = Credentials("my-client", SECRET)
    assert isinstance(c.client_secret, Secret)
    from IPython.core.formatters import DisplayFormatter

    shown = DisplayFormatter().format(c)[0].values()  # what a notebook displays
    for text in (repr(c), str(c), f"{c}", *shown):
        assert SECRET not in text
        assert "my-client" in text
    assert c.client_secret.get_secret_value() == SECRET
    assert SECRET not in repr(c.client_secret) and SECRET not in f"{c.client_secret:>40}"


@pytest.mark.parametrize("bad", [" " + SECRET, SECRET + "\n", SECRET + " ", "ab\tcd-efgh"])
def test_stray_whitespace_is_rejected_without_echoing_the_secret(bad: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Credentials("id", bad)
    assert bad.strip() not in str(info.value)
    assert "whitespace" in str(info.value) or "control" in str(info.value)


def test_inner_spaces_and_symbols_are_allowed() -> None:
    # Secrets may contain + / = : % space £ €.
    c = Credentials("id", "a+b/c=d:e%f g£h€")
    assert not c.secret_is_unreserved


def test_missing_values_raise_missing_credentials() -> None:
    with pytest.raises(MissingCredentials, match="client secret"):
        Credentials("id", "")
    with pytest.raises(MissingCredentials, match="client ID"):
        Credentials("", "x" * 10)
    with pytest.raises(MissingCredentials, match="no client secret"):
        load_config(env={"CERKL_CLIENT_ID": "abc"}, dotenv_path=False)
    with pytest.raises(MissingCredentials, match="no client ID"):
        load_config(env={"CERKL_CLIENT_SECRET": "only-a-secret-1"}, dotenv_path=False)
    with pytest.raises(MissingCredentials):
        Credentials.from_env(env={}, dotenv_path=False)


def test_nothing_configured_gives_none() -> None:
    settings, creds = load_config(env={}, dotenv_path=False)
    assert creds is None and settings.base_url == PRODUCTION_BASE_URL


def test_precedence_arguments_then_environment_then_dotenv(tmp_path, monkeypatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "CERKL_CLIENT_ID=from-file\nCERKL_CLIENT_SECRET=file-secret-1\n"
        "CERKL_BASE_URL=http://127.0.0.1:1111/v3\n"
    )
    (tmp_path / ".git").mkdir()  # the top of a repository: the search may go up to here
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)  # found by walking up from the working directory
    s, c = load_config(env={})
    assert (c.client_id, s.base_url) == ("from-file", "http://127.0.0.1:1111/v3")
    assert c.client_secret.get_secret_value() == "file-secret-1"
    # Credentials from the environment: the .env file's URL is not used with them.
    with pytest.warns(UserWarning, match="Ignoring CERKL_BASE_URL: the credentials come from"):
        s, c = load_config(
            env={"CERKL_CLIENT_ID": "from-env", "CERKL_CLIENT_SECRET": "env-secret-1"}
        )
    assert c.client_id == "from-env" and s.base_url == PRODUCTION_BASE_URL
    s, c = load_config(
        "from-arg",
        "arg-secret-1",
        base_url="http://127.0.0.1:2222/v3",
        env={"CERKL_CLIENT_ID": "from-env", "CERKL_TOKEN_URL": "http://127.0.0.1:3/t"},
    )
    assert c.client_id == "from-arg" and c.client_secret.get_secret_value() == "arg-secret-1"
    # An explicit base URL moves the token URL with it.
    assert s.token_url == "http://127.0.0.1:2222/v3/oauth/Token"
    s, _ = load_config(env={"CERKL_TOKEN_URL": "http://127.0.0.1:3/t"}, dotenv_path=False)
    assert s.token_url == "http://127.0.0.1:3/t"
    assert Settings.from_env(env={}, dotenv_path=env_file).base_url.endswith(":1111/v3")


def test_save_dotenv_writes_0600_and_round_trips_odd_secrets(tmp_path) -> None:
    secret = "a+b/c=d:e%f g£h€'\"\\x"
    creds = Credentials("cid", secret)
    path = tmp_path / ".env"
    path.write_text("# keep me\nOTHER=1\nCERKL_CLIENT_ID=old\n")
    with pytest.warns(UserWarning, match="neither api.cerkl.com nor this machine"):
        settings = Settings(base_url="https://cerkl.example/v3")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not in a git repo: no warning
        written = save_dotenv(creds, settings, path)
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o600
    text = written.read_text()
    assert "OTHER=1" in text and "# keep me" in text and "CERKL_CLIENT_ID=old" not in text
    with pytest.warns(UserWarning, match="neither"):
        s, c = load_config(env={}, dotenv_path=written)
    assert c.client_secret.get_secret_value() == secret
    assert s.base_url == "https://cerkl.example/v3"


def _git_init(folder) -> None:
    subprocess.run(["git", "init", "-q", str(folder)], check=True, timeout=30)


def test_save_dotenv_warns_unless_git_ignores_the_file(tmp_path) -> None:
    _git_init(tmp_path)
    creds = Credentials("cid", SECRET)
    with pytest.warns(UserWarning, match="not git-ignored"):
        save_dotenv(creds, path=tmp_path / ".env")
    (tmp_path / ".gitignore").write_text("# secrets\n.env\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_dotenv(creds, path=tmp_path / ".env")
    assert is_git_ignored(tmp_path / ".env") is True
    (tmp_path / ".gitignore").write_text(".env*\n!.env\n")
    assert is_git_ignored(tmp_path / ".env") is False


def test_git_decides_what_is_ignored_so_a_star_does_not_cross_folders(tmp_path) -> None:
    # A hand-written matcher let "*" match "/": "/sub*env" ignored sub/.env.
    _git_init(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / ".gitignore").write_text("/sub*env\n/top/.env\n")
    assert is_git_ignored(tmp_path / "sub" / ".env") is False
    (tmp_path / "top").mkdir()
    assert is_git_ignored(tmp_path / "top" / ".env") is True
    assert is_git_ignored(tmp_path / ".env") is False


def test_save_dotenv_warns_when_git_already_tracks_the_file(tmp_path) -> None:
    _git_init(tmp_path)
    env_file = tmp_path / ".env"
    env_file.write_text("OTHER=1\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", ".env"], check=True, timeout=30)
    (tmp_path / ".gitignore").write_text(".env\n")  # ignoring does not untrack
    with pytest.warns(UserWarning, match="tracked by git"):
        save_dotenv(Credentials("cid", SECRET), path=env_file)


def test_outside_a_repository_git_has_no_opinion(tmp_path) -> None:
    assert is_git_ignored(tmp_path / ".env") is None


def test_repository_dotenv_is_git_ignored() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    assert is_git_ignored(root / ".env") is True


def test_one_of_id_and_secret_says_which_is_missing_and_how_to_get_the_sandbox(tmp_path) -> None:
    # .env.example used to say "leave CERKL_CLIENT_ID empty to use the sandbox"; with the
    # secret still filled in that is an error. The error must say what to do.
    env_file = tmp_path / ".env"
    env_file.write_text("CERKL_CLIENT_ID=\nCERKL_CLIENT_SECRET=still-here-123\n")
    with pytest.raises(MissingCredentials) as info:
        load_config(env={}, dotenv_path=env_file)
    msg = str(info.value)
    assert "CERKL_CLIENT_ID is missing" in msg and "leave BOTH" in msg and "sandbox" in msg
    with pytest.raises(MissingCredentials, match="CERKL_CLIENT_SECRET is missing.*leave BOTH"):
        load_config(env={"CERKL_CLIENT_ID": "abc"}, dotenv_path=False)
    env_file.write_text("CERKL_CLIENT_ID=\nCERKL_CLIENT_SECRET=\n")
    assert load_config(env={}, dotenv_path=env_file)[1] is None  # both empty: sandbox


def test_env_example_says_leave_both_empty_and_works_as_written(tmp_path) -> None:
    from pathlib import Path

    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    assert "leave BOTH CERKL_CLIENT_ID and CERKL_CLIENT_SECRET" in " ".join(example.split())
    (tmp_path / ".env").write_text(example)
    settings, creds = load_config(env={}, dotenv_path=tmp_path / ".env")
    assert creds is None and settings.base_url == PRODUCTION_BASE_URL


@pytest.mark.parametrize("secret", ["x${HOME}y", "p$ss", "a${CERKL_CLIENT_ID}b", "$$"])
def test_dotenv_values_are_not_interpolated(tmp_path, secret) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"CERKL_CLIENT_ID=cid\nCERKL_CLIENT_SECRET={secret}\n")
    _, creds = load_config(env={}, dotenv_path=env_file)
    assert creds.client_secret.get_secret_value() == secret
    # ... and what save_dotenv writes reads back the same.
    written = save_dotenv(Credentials("cid", secret), path=tmp_path / "saved.env")
    _, creds = load_config(env={}, dotenv_path=written)
    assert creds.client_secret.get_secret_value() == secret


def test_save_dotenv_refuses_the_sandbox_demo_pair(sandbox, tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="the sandbox needs no .env"):
        save_dotenv(
            Credentials.for_sandbox(sandbox), Settings.for_sandbox(sandbox), tmp_path / ".env"
        )
    assert not (tmp_path / ".env").exists()


def test_save_dotenv_leaves_out_loopback_urls_unless_asked(tmp_path) -> None:
    creds = Credentials("my-client", "my-secret-123")
    local = Settings(base_url="http://127.0.0.1:5/v3")
    with pytest.warns(UserWarning, match="Not saving CERKL_BASE_URL.*local address"):
        written = save_dotenv(creds, local, tmp_path / ".env")
    assert "CERKL_BASE_URL" not in written.read_text()
    assert load_config(env={}, dotenv_path=written)[1].client_id == "my-client"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_dotenv(creds, local, tmp_path / ".env", loopback_urls=True)
    assert load_config(env={}, dotenv_path=written)[0].base_url == "http://127.0.0.1:5/v3"
