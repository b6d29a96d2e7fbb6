"""Kafka connection settings from the environment: bootstrap servers and security.

Read once at start (no ``os.getenv`` at import time). Bad values raise ``UsageError``
with one clear line that never contains the secret; ``repr`` masks the password, so a
settings object can be logged. Secrets come only from the environment or a file, never
from the command line (they would show in ``ps``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.errors import UsageError

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
# Matches the broker's message.max.bytes (amendments): the scorer's own limit is 1 MiB, but
# changelog and DLQ records need room.
MAX_REQUEST_SIZE = 8 * 1024 * 1024

PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN")


def bootstrap_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``KAFKA_BOOTSTRAP_SERVERS`` (default 127.0.0.1:9092)."""
    env = os.environ if environ is None else environ
    value = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip() or DEFAULT_BOOTSTRAP
    for server in value.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise UsageError(
                f"KAFKA_BOOTSTRAP_SERVERS must be host:port[,host:port...], got {value!r}"
            )
    return value


@dataclass(frozen=True)
class KafkaSecurity:
    """How clients authenticate to the broker (``CSS_KAFKA_*`` variables)."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None

    def __repr__(self) -> str:
        password = None if self.sasl_password is None else "***"
        return (
            f"KafkaSecurity(protocol={self.protocol!r}, sasl_mechanism={self.sasl_mechanism!r}, "
            f"sasl_username={self.sasl_username!r}, sasl_password={password!r}, "
            f"ssl_cafile={self.ssl_cafile!r})"
        )

    __str__ = __repr__

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def uses_ssl(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KafkaSecurity:
        """Validated settings; ``UsageError`` names the variable, never a secret's value."""
        env = os.environ if environ is None else environ
        protocol = env.get("CSS_KAFKA_SECURITY_PROTOCOL", "").strip().upper() or "PLAINTEXT"
        if protocol not in PROTOCOLS:
            raise UsageError(
                f"CSS_KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}, "
                f"got {protocol[:40]!r}"
            )
        cafile = env.get("CSS_KAFKA_SSL_CAFILE", "").strip() or None
        if cafile is not None and not Path(cafile).is_file():
            raise UsageError(f"CSS_KAFKA_SSL_CAFILE: no such file: {cafile}")
        if not protocol.startswith("SASL_"):
            return cls(protocol=protocol, ssl_cafile=cafile)

        mechanism = env.get("CSS_KAFKA_SASL_MECHANISM", "").strip().upper() or "SCRAM-SHA-256"
        if mechanism not in MECHANISMS:
            raise UsageError(
                f"CSS_KAFKA_SASL_MECHANISM must be one of {', '.join(MECHANISMS)}, "
                f"got {mechanism[:40]!r}"
            )
        username = env.get("CSS_KAFKA_SASL_USERNAME", "")
        if not username:
            raise UsageError(f"CSS_KAFKA_SASL_USERNAME is required with {protocol}")
        password = _password_from_env(env)
        if password is None:
            raise UsageError(
                "CSS_KAFKA_SASL_PASSWORD or CSS_KAFKA_SASL_PASSWORD_FILE is required "
                f"with {protocol}"
            )
        return cls(protocol, mechanism, username, password, cafile)

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        if self.uses_ssl:
            from aiokafka.helpers import create_ssl_context

            kwargs["ssl_context"] = create_ssl_context(cafile=self.ssl_cafile)
        return kwargs

    def producer_kwargs(self) -> dict[str, Any]:
        """``aiokafka_kwargs`` plus the producer's request size limit (8 MiB)."""
        return {**self.aiokafka_kwargs(), "max_request_size": MAX_REQUEST_SIZE}

    def faust_kwargs(self) -> dict[str, Any]:
        """Settings for ``faust.App``: ``broker_credentials`` when security is on."""
        import faust

        if self.uses_sasl:
            ssl_context = None
            if self.uses_ssl:
                from aiokafka.helpers import create_ssl_context

                ssl_context = create_ssl_context(cafile=self.ssl_cafile)
            credentials: Any = faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password,
                mechanism=self.sasl_mechanism,
                ssl_context=ssl_context,
            )
            return {"broker_credentials": credentials}
        if self.uses_ssl:
            from aiokafka.helpers import create_ssl_context

            # faust.SSLCredentials(cafile=...) passes purpose=None to the ssl module,
            # which rejects it: hand it a ready context instead.
            context = create_ssl_context(cafile=self.ssl_cafile)
            return {"broker_credentials": faust.SSLCredentials(context)}
        return {}


def _password_from_env(env: Mapping[str, str]) -> str | None:
    password = env.get("CSS_KAFKA_SASL_PASSWORD")
    if password:
        return password
    path = env.get("CSS_KAFKA_SASL_PASSWORD_FILE", "").strip()
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"CSS_KAFKA_SASL_PASSWORD_FILE: cannot read {path}: {exc.strerror}"
        ) from None
    # A trailing newline from `echo secret > file` is not part of the password.
    secret = text.rstrip("\r\n")
    if not secret:
        raise UsageError(f"CSS_KAFKA_SASL_PASSWORD_FILE: {path} is empty")
    return secret
