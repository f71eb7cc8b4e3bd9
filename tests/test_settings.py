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
