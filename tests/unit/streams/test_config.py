"""Settings: declared once in streams/config.py, validated from the environment, and the
README table and ``worker --help`` produced from the declarations."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from streams.cli.main import build_parser
from streams.config import (
    MAX_REQUEST_BYTES,
    KafkaSecurity,
    Settings,
    bootstrap_from_env,
    settings_from_env,
    settings_rows,
    settings_table,
)
from streams.errors import UsageError
from streams.runtime.faust_app import faust_security

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_settings_table_is_the_generated_one() -> None:
    assert settings_table() in README.read_text(encoding="utf-8"), (
        "README settings table drifted: paste the output of `python -m streams.config`"
    )


def test_worker_help_lists_every_setting() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    worker_help = subparsers.choices["worker"].format_help()  # type: ignore[attr-defined]
    for variable, _shown, _meaning in settings_rows():
        assert variable in worker_help


def test_every_settings_field_is_declared_with_a_variable_and_a_meaning() -> None:
    for declared in dataclasses.fields(Settings):
        assert declared.metadata["variable"].startswith(("CSS_", "KAFKA_"))
        assert declared.metadata["meaning"]


def test_unset_variables_take_the_declared_defaults() -> None:
    assert settings_from_env({}) == Settings()
    assert settings_from_env({"CSS_GRACE_SECONDS": " "}) == Settings()


def test_each_variable_reaches_its_field() -> None:
    settings = settings_from_env(
        {"CSS_GRACE_SECONDS": "60", "CSS_STORE": "memory", "KAFKA_BOOTSTRAP_SERVERS": "h:1"}
    )
    assert (settings.grace_ms, settings.store, settings.bootstrap_servers) == (
        60_000,
        "memory",
        "h:1",
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CSS_GRACE_SECONDS", "soon"),
        ("CSS_GRACE_SECONDS", "-1"),
        ("CSS_PARTITIONS", "0"),
        ("CSS_LIVE_EMIT_INTERVAL_SECONDS", "nan"),
        ("CSS_METRICS_ADDR", "9108"),
        ("CSS_INPUT_TOPIC", "bad topic"),
        ("CSS_STORE", "redis"),
        ("KAFKA_BOOTSTRAP_SERVERS", "nohostport"),
        ("CSS_BROKER_UNREACHABLE_SECONDS", "inf"),
    ],
)
def test_a_bad_setting_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(UsageError, match=name):
        settings_from_env({name: value})



SECRET = "s3cr3t-Pa55"


def test_default_is_plaintext() -> None:
    security = KafkaSecurity.from_env({})
    assert security.aiokafka_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert security.producer_kwargs()["max_request_size"] == MAX_REQUEST_BYTES == 8 * 1024 * 1024
    assert faust_security(security) == {}


def test_sasl_settings_and_masked_repr() -> None:
    env = {
        "CSS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CSS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "CSS_KAFKA_SASL_USERNAME": "scorer",
        "CSS_KAFKA_SASL_PASSWORD": SECRET,
    }
    security = KafkaSecurity.from_env(env)
    kwargs = security.aiokafka_kwargs()
    assert kwargs == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "scorer",
        "sasl_plain_password": SECRET,
    }
    assert SECRET not in repr(security)
    assert SECRET not in str(security)
    credentials = faust_security(security)["broker_credentials"]
    assert type(credentials).__name__ == "SASLCredentials"


def test_password_file(tmp_path: Any) -> None:
    path = tmp_path / "pw"
    path.write_text(SECRET + "\n")
    env = {
        "CSS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CSS_KAFKA_SASL_USERNAME": "u",
        "CSS_KAFKA_SASL_PASSWORD_FILE": str(path),
    }
    assert KafkaSecurity.from_env(env).sasl_password == SECRET


def test_ssl_builds_a_context(tmp_path: Any) -> None:
    security = KafkaSecurity.from_env({"CSS_KAFKA_SECURITY_PROTOCOL": "SSL"})
    assert "ssl_context" in security.aiokafka_kwargs()
    assert type(faust_security(security)["broker_credentials"]).__name__ == "SSLCredentials"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"CSS_KAFKA_SECURITY_PROTOCOL": "TLS"}, "CSS_KAFKA_SECURITY_PROTOCOL"),
        (
            {"CSS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "CSS_KAFKA_SASL_MECHANISM": "GSSAPI"},
            "CSS_KAFKA_SASL_MECHANISM",
        ),
        (
            {"CSS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "CSS_KAFKA_SASL_PASSWORD": SECRET},
            "CSS_KAFKA_SASL_USERNAME",
        ),
        (
            {"CSS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "CSS_KAFKA_SASL_USERNAME": "u"},
            "CSS_KAFKA_SASL_PASSWORD",
        ),
        (
            {
                "CSS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "CSS_KAFKA_SASL_USERNAME": "u",
                "CSS_KAFKA_SASL_PASSWORD_FILE": "/nonexistent/pw",
            },
            "CSS_KAFKA_SASL_PASSWORD_FILE",
        ),
        ({"CSS_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "CSS_KAFKA_SSL_CAFILE"),
    ],
)
def test_bad_settings_raise_usage_error_without_secret(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        KafkaSecurity.from_env(env)
    assert fragment in str(caught.value)
    assert SECRET not in str(caught.value)


def test_bootstrap_from_env() -> None:
    assert bootstrap_from_env({}) == "127.0.0.1:9092"
    assert bootstrap_from_env({"KAFKA_BOOTSTRAP_SERVERS": "a:1,b:2"}) == "a:1,b:2"
    with pytest.raises(UsageError):
        bootstrap_from_env({"KAFKA_BOOTSTRAP_SERVERS": "nohostport"})


def test_every_bad_setting_is_reported_at_once() -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "kafka://broker:9092",
        "CSS_METRICS_ADDR": ":9108",
        "CSS_PARTITIONS": "zero",
        "CSS_ALERT_HYSTERESIS_POINTS": "-1",
    }
    with pytest.raises(UsageError) as raised:
        settings_from_env(env)
    message = str(raised.value)
    assert "\n" not in message
    assert "without a scheme (e.g. broker:9092)" in message
    assert "CSS_METRICS_ADDR=':9108' has no host: use 127.0.0.1:9108" in message
    assert "CSS_PARTITIONS='zero' is not an integer" in message
    assert "CSS_ALERT_HYSTERESIS_POINTS=-1 must be a finite number >= 0.0" in message
