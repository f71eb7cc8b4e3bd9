"""Settings: embedded defaults, .env under the environment, and errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings


def test_defaults_are_sqlite_in_the_data_folder():
    s = load_settings({}, env_file=None)
    assert s.database_url == "sqlite:///data/actionbot.db"
    assert (s.plans_dir, s.people_file) == (Path("data/plans"), Path("data/people.yaml"))
    assert s.log_level == "INFO"


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path):
    env = tmp_path / ".env"
    env.write_text("ACTIONBOT_DATA_DIR=elsewhere\nLOG_LEVEL=debug\n")
    s = load_settings({"LOG_LEVEL": "WARNING"}, env_file=env)
    assert s.data_dir == Path("elsewhere")
    assert s.database_url == "sqlite:///elsewhere/actionbot.db"
    assert s.log_level == "WARNING"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL: not a database URL"),
        (
            {"DATABASE_URL": "mysql://u@h/db"},
            "DATABASE_URL: expected a sqlite:/// or "
            "postgresql+psycopg:// URL, got the 'mysql' backend",
        ),
        (
            {"DATABASE_URL": "postgresql+psycopg2://u@h/db"},
            "DATABASE_URL: PostgreSQL URLs must name the psycopg driver",
        ),
        (
            {"LOG_LEVEL": "loud"},
            "LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR, got 'LOUD'",
        ),
    ],
)
def test_bad_values_are_named(environ: dict[str, str], expected: str):
    with pytest.raises(SettingsError) as caught:
        load_settings(environ, env_file=None)
    assert expected in str(caught.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as caught:
        load_settings({"DATABASE_URL": "nope", "LOG_LEVEL": "x"}, env_file=None)
    assert "DATABASE_URL" in str(caught.value) and "LOG_LEVEL" in str(caught.value)


def test_mail_defaults_to_the_outbox_folder_with_a_demo_key():
    mail = load_settings({}, env_file=None).mail
    assert mail is not None
    assert (mail.smtp_host, mail.outbox_dir, mail.sender, mail.reply_address) == (
        None,
        Path("data/outbox"),
        "actionbot@example.org",
        "updates@example.org",
    )
    assert "actionbot-demo" not in repr(mail)  # secrets stay out of logs and tracebacks


def test_real_mail_needs_a_real_reply_secret():
    with pytest.raises(SettingsError) as caught:
        load_settings({"SMTP_HOST": "smtp.example.org"}, env_file=None)
    assert "REPLY_SECRET: required" in str(caught.value)
    s = load_settings(
        {
            "SMTP_HOST": "smtp.example.org",
            "REPLY_SECRET": "x" * 32,
            "SMTP_SECURITY": "ssl",
            "SMTP_PASSWORD": "hunter2",
        },
        env_file=None,
    )
    assert s.mail is not None and s.mail.smtp_port == 465
    assert "hunter2" not in repr(s) and "x" * 32 not in repr(s)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"SMTP_SECURITY": "tls"}, "SMTP_SECURITY: expected starttls, ssl or none, got 'tls'"),
        ({"SMTP_PORT": "smtp"}, "SMTP_PORT: expected a port number, got 'smtp'"),
        ({"MAIL_FROM": "actionbot"}, "MAIL_FROM: expected an e-mail address"),
        ({"REPLY_ADDRESS": "updates+x@example.org"}, "REPLY_ADDRESS: expected an address"),
        ({"SLACK_BOT_TOKEN": "xoxp-user"}, "SLACK_BOT_TOKEN: expected a bot token"),
    ],
)
def test_bad_mail_and_slack_settings_are_named(environ: dict[str, str], expected: str):
    with pytest.raises(SettingsError) as caught:
        load_settings(environ, env_file=None)
    assert expected in str(caught.value)


def test_imap_is_off_until_a_host_is_set():
    assert load_settings({}, env_file=None).imap is None


def test_imap_settings_become_a_config_with_the_password_kept_out_of_reprs():
    s = load_settings(
        {
            "IMAP_HOST": "imap.example.org",
            "IMAP_USERNAME": "updates@example.org",
            "IMAP_PASSWORD": "hunter2",
        },
        env_file=None,
    )
    assert s.imap is not None
    assert (s.imap.host, s.imap.port, s.imap.security, s.imap.folder) == (
        "imap.example.org",
        993,
        "ssl",
        "INBOX",
    )
    assert (s.imap.username, s.imap.password) == ("updates@example.org", "hunter2")
    assert "hunter2" not in repr(s) and "hunter2" not in repr(s.imap)


@pytest.mark.parametrize(("security", "port"), [("starttls", 143), ("none", 143), ("SSL", 993)])
def test_the_imap_port_follows_the_security(security: str, port: int):
    s = load_settings(
        {
            "IMAP_HOST": "localhost",
            "IMAP_SECURITY": security,
            "IMAP_USERNAME": "bot",
            "IMAP_PASSWORD": "x",
            "IMAP_PORT": "",
            "IMAP_FOLDER": "Replies",
        },
        env_file=None,
    )
    assert s.imap is not None and s.imap.port == port and s.imap.folder == "Replies"


IMAP = {"IMAP_HOST": "imap.example.org", "IMAP_USERNAME": "bot", "IMAP_PASSWORD": "x"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {**IMAP, "IMAP_SECURITY": "tls"},
            "IMAP_SECURITY: expected ssl, starttls or none, got 'tls'",
        ),
        ({"IMAP_SECURITY": "tls"}, "IMAP_SECURITY: expected ssl, starttls or none"),
        ({**IMAP, "IMAP_PORT": "imaps"}, "IMAP_PORT: expected a port number, got 'imaps'"),
        ({**IMAP, "IMAP_PORT": "70000"}, "IMAP_PORT: expected a port number, got '70000'"),
        (
            {**IMAP, "IMAP_SECURITY": "none"},
            "IMAP_SECURITY: none would send the password to imap.example.org unencrypted",
        ),
        ({**IMAP, "IMAP_USERNAME": ""}, "IMAP_USERNAME: required when IMAP_HOST is set"),
        ({**IMAP, "IMAP_PASSWORD": ""}, "IMAP_PASSWORD: required when IMAP_HOST is set"),
        ({**IMAP, "IMAP_FOLDER": "Processed"}, "IMAP_FOLDER: Processed is where handled"),
    ],
)
def test_bad_imap_settings_are_named(environ: dict[str, str], expected: str):
    with pytest.raises(SettingsError) as caught:
        load_settings(environ, env_file=None)
    assert str(caught.value).startswith(expected)  # one problem, named first


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1"])
def test_plain_imap_is_allowed_to_this_machine(host: str):
    s = load_settings({**IMAP, "IMAP_HOST": host, "IMAP_SECURITY": "none"}, env_file=None)
    assert s.imap is not None and s.imap.security == "none" and s.imap.port == 143


def test_the_web_app_has_no_address_until_one_is_set_and_a_key_of_its_own():
    s = load_settings({}, env_file=None)
    assert (s.web.base_url, s.web.host, s.web.port, s.web.admins) == (None, "127.0.0.1", 8080, ())
    assert len(s.web.secret) == 32 and s.web.secret != s.mail.reply_secret  # type: ignore[union-attr]
    assert not s.web.secure
    web = load_settings(
        {
            "WEB_BASE_URL": "https://actionbot.example.org/",
            "WEB_PORT": "9000",
            "WEB_SECRET": "a-web-secret-of-16+",
            "WEB_ADMINS": "Business.Manager@example.org, deputy@example.org",
        },
        env_file=None,
    ).web
    assert (web.base_url, web.port, web.secret) == (
        "https://actionbot.example.org",
        9000,
        b"a-web-secret-of-16+",
    )
    assert web.admins == ("business.manager@example.org", "deputy@example.org")
    assert web.secure and "a-web-secret" not in repr(web)


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({"WEB_BASE_URL": "actionbot.example.org"}, "WEB_BASE_URL: expected an address like"),
        ({"WEB_PORT": "web"}, "WEB_PORT: expected a port number, got 'web'"),
        ({"WEB_SECRET": "short"}, "WEB_SECRET: too short"),
        ({"WEB_ADMINS": "manager"}, "WEB_ADMINS: expected e-mail addresses, got 'manager'"),
    ],
)
def test_bad_web_settings_are_named(environ: dict[str, str], expected: str):
    with pytest.raises(SettingsError) as caught:
        load_settings(environ, env_file=None)
    assert str(caught.value).startswith(expected)
