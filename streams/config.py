"""Every worker setting, declared once: its variable, type, default and meaning.

A setting is one field of :class:`Settings` declared with :func:`setting`; validation
(:func:`settings_from_env`), the ``csscore worker --help`` text (:func:`settings_help`) and
the README's settings table (:func:`settings_table`, checked by a unit test) are all
produced from those declarations, so they cannot drift apart.

``KAFKA_BOOTSTRAP_SERVERS`` keeps its standard name; every other setting has the ``CSS_``
prefix. Values are read once, at start (nothing is read at import time). A bad value
raises ``UsageError`` naming the variable and what it accepts, never a secret's value; the
command turns it into one line on stderr and exit code 2. Secrets come only from the
environment or a file, never from the command line (they would show in ``ps``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from scoring.alerts import AlertRules
from streams.errors import UsageError

# The largest request a client sends and the broker's message.max.bytes: the scorer's own
# record limit is 1 MiB, but changelog values and dead-letter records need room.
MAX_REQUEST_BYTES = 8 * 1024 * 1024
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"

StoreKind = Literal["rocksdb", "memory"]
Parser = Callable[[str, str], Any]


# --- parsers: (variable name, text) -> value, or UsageError -----------------------------------


def parse_bootstrap(name: str, text: str) -> str:
    value = text.strip()
    if "://" in value:
        raise UsageError(
            f"{name}={value!r}: give host:port[,host:port...] without a scheme"
            f" (e.g. {value.split('://', 1)[1].split(',')[0] or '127.0.0.1:9092'})"
        )
    for server in value.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise UsageError(f"{name} must be host:port[,host:port...], got {value!r}")
    return value


def _int_at_least(minimum: int) -> Parser:
    def parse(name: str, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise UsageError(f"{name}={text!r} is not an integer") from None
        if value < minimum:
            raise UsageError(f"{name}={value} must be >= {minimum}")
        return value

    return parse


def _float_at_least(minimum: float) -> Parser:
    def parse(name: str, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"{name}={text!r} is not a number") from None
        if not math.isfinite(value) or value < minimum:
            raise UsageError(f"{name}={text} must be a finite number >= {minimum}")
        return value

    return parse


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise UsageError(f"{name}={text!r} must be true or false")


def _parse_addr(name: str, text: str) -> str:
    host, sep, port = text.rpartition(":")
    if sep and not host:
        raise UsageError(
            f"{name}={text!r} has no host: use 127.0.0.1:{port} (this machine only) or"
            f" 0.0.0.0:{port} (every interface)"
        )
    if not sep or not host:
        raise UsageError(f"{name}={text!r} must be HOST:PORT (e.g. 127.0.0.1:9108)")
    _int_at_least(0)(name, port)
    if int(port) > 65535:
        raise UsageError(f"{name}={text!r}: port must be <= 65535")
    return text


_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def _parse_topic(name: str, text: str) -> str:
    if not text or len(text) > 249 or not set(text) <= _TOPIC_CHARS:
        raise UsageError(f"{name}={text!r} is not a valid Kafka topic name")
    return text


def _parse_store(name: str, text: str) -> StoreKind:
    if text not in ("rocksdb", "memory"):
        raise UsageError(f"{name}={text!r} must be rocksdb or memory")
    return cast(StoreKind, text)


def _parse_text(name: str, text: str) -> str:
    return text


def _parse_path(name: str, text: str) -> Path:
    return Path(text)


def setting(variable: str, default: Any, parse: Parser, meaning: str, shown: str = "") -> Any:
    """Declare one setting: a dataclass field whose metadata says how to read it.

    ``shown`` is the default as the documentation prints it (the value's text otherwise).
    """
    metadata = {"variable": variable, "parse": parse, "meaning": meaning, "shown": shown}
    if isinstance(default, Path):
        return field(default_factory=lambda: Path(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True, slots=True)
class Settings:
    """The worker's validated settings (``settings_from_env``)."""

    bootstrap_servers: str = setting(
        "KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP, parse_bootstrap, "brokers, host:port,..."
    )
    app_id: str = setting(
        "CSS_APP_ID",
        "csscore",
        _parse_topic,
        "Faust consumer group, table prefix and internal topic prefix; the ingest group is"
        " `{id}-ingest`",
    )
    input_topic: str = setting("CSS_INPUT_TOPIC", "telemetry", _parse_topic, "telemetry topic")
    output_topic: str = setting("CSS_OUTPUT_TOPIC", "scores", _parse_topic, "score records")
    dlq_topic: str = setting(
        "CSS_DLQ_TOPIC", "telemetry.dlq", _parse_topic, "rejected input, with reason headers"
    )
    alerts_topic: str = setting(
        "CSS_ALERTS_TOPIC", "scores.alerts", _parse_topic, "band-change alerts (`css.alert/v1`)"
    )
    alert_hold_seconds: int = setting(
        "CSS_ALERT_HOLD_SECONDS",
        86_400,
        _int_at_least(0),
        "org event time a live score stays below last month's band before an `at_risk` alert",
    )
    alert_hysteresis_points: float = setting(
        "CSS_ALERT_HYSTERESIS_POINTS",
        3.0,
        _float_at_least(0.0),
        "points above the band's lower bound a live score needs for a `recovered` alert",
        shown="3",
    )
    partitions: int = setting(
        "CSS_PARTITIONS",
        4,
        _int_at_least(1),
        "partitions when the worker creates the input topic (an existing topic's count wins)",
    )
    replication_factor: int | None = setting(
        "CSS_REPLICATION_FACTOR",
        None,
        _int_at_least(1),
        "replicas of every topic the project creates (existing topics keep theirs; a lower"
        " one is logged as a WARNING)",
        shown="3, or the broker count when fewer",
    )
    min_insync_replicas: int | None = setting(
        "CSS_MIN_INSYNC_REPLICAS",
        None,
        _int_at_least(1),
        "`min.insync.replicas` of those topics: acknowledged writes survive that many"
        " broker losses minus one",
        shown="replication factor - 1, at least 1",
    )
    grace_seconds: int = setting(
        "CSS_GRACE_SECONDS",
        3600,
        _int_at_least(0),
        "month M closes once a partition's watermark passes the start of M+1 plus this",
    )
    dedup_horizon_seconds: int = setting(
        "CSS_DEDUP_HORIZON_SECONDS",
        86_400,
        _int_at_least(0),
        "duplicate memory per org, in event time",
    )
    data_dir: Path = setting(
        "CSS_DATA_DIR",
        Path("./csscore-data"),
        _parse_path,
        "local state (RocksDB), one directory per app id",
        shown="./csscore-data",
    )
    catalog_path: str | None = setting(
        "CSS_CATALOG",
        None,
        _parse_text,
        "path of a catalog JSON file (`schemas/catalog.schema.json`)",
        shown="built-in",
    )
    live_emit_interval_seconds: float = setting(
        "CSS_LIVE_EMIT_INTERVAL_SECONDS",
        1.0,
        _float_at_least(0.0),
        "at most one live record per org per interval (0 = after every batch)",
        shown="1",
    )
    commit_interval_seconds: float = setting(
        "CSS_COMMIT_INTERVAL_SECONDS",
        2.8,
        _float_at_least(0.05),
        "how often changed org values are flushed to the changelogs and input offsets"
        " committed (shorter: less re-read after a crash; longer: fewer state writes)",
        shown="2.8",
    )
    idle_advance_seconds: float = setting(
        "CSS_IDLE_ADVANCE_SECONDS",
        0.0,
        _float_at_least(0.0),
        "a caught-up partition quiet this long gets its watermark advanced to the wall clock"
        " (0 = off)",
        shown="0",
    )
    metrics_addr: str = setting(
        "CSS_METRICS_ADDR",
        "127.0.0.1:9108",
        _parse_addr,
        "Prometheus endpoint (`/metrics`); port 0 picks a free port and logs it",
    )
    ui_addr: str = setting(
        "CSS_UI_ADDR",
        "127.0.0.1:8080",
        _parse_addr,
        "`csscore serve`: address of the score pages and JSON API (port 0 picks a free port)",
    )
    output_retention_days: int = setting(
        "CSS_OUTPUT_RETENTION_DAYS",
        400,
        _int_at_least(1),
        "retention of the output topic when the worker creates it (not compacted)",
    )
    store: StoreKind = setting(
        "CSS_STORE", "rocksdb", _parse_store, "table store: `rocksdb` or `memory`"
    )
    standby_replicas: int = setting(
        "CSS_STANDBY_REPLICAS", 0, _int_at_least(0), "Faust standby replicas of the tables"
    )
    broker_unreachable_seconds: float = setting(
        "CSS_BROKER_UNREACHABLE_SECONDS",
        120.0,
        _float_at_least(1.0),
        "exit non-zero (69) once the brokers have been unreachable this long",
        shown="120",
    )
    web_enabled: bool = setting(
        "CSS_WEB_ENABLED", False, _parse_bool, "Faust's own web server", shown="false"
    )
    web_bind: str = setting(
        "CSS_WEB_BIND", "127.0.0.1", _parse_text, "address of Faust's web server, if enabled"
    )
    web_port: int = setting(
        "CSS_WEB_PORT", 6066, _int_at_least(0), "port of Faust's web server, if enabled"
    )

    @property
    def grace_ms(self) -> int:
        return self.grace_seconds * 1000

    @property
    def alert_rules(self) -> AlertRules:
        return AlertRules(self.alert_hold_seconds * 1000, self.alert_hysteresis_points)

    @property
    def dedup_horizon_ms(self) -> int:
        return self.dedup_horizon_seconds * 1000

    @property
    def control_topic(self) -> str:
        """Internal topic, co-partitioned with the input: watermark advances and wake-ups."""
        return f"{self.app_id}-control"

    @property
    def events_topic(self) -> str:
        """Internal topic, co-partitioned with the input: validated events batched per org
        partition by the ingest stage."""
        return f"{self.app_id}-events"

    @property
    def ingest_group(self) -> str:
        """Consumer group of the ingest stage (the Faust agent's group is ``app_id``)."""
        return f"{self.app_id}-ingest"

    @property
    def metrics_host_port(self) -> tuple[str, int]:
        host, _, port = self.metrics_addr.rpartition(":")
        return host, int(port)

    @property
    def ui_host_port(self) -> tuple[str, int]:
        host, _, port = self.ui_addr.rpartition(":")
        return host, int(port)


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate the settings; unset or empty variables take their defaults.
    Every bad value is reported, in one ``UsageError`` (one line, ``; ``-separated)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    for declared in dataclasses.fields(Settings):
        text = env.get(declared.metadata["variable"], "")
        if text.strip():
            try:
                values[declared.name] = declared.metadata["parse"](
                    declared.metadata["variable"], text
                )
            except UsageError as exc:
                problems.append(str(exc))
    if problems:
        raise UsageError("; ".join(problems))
    return Settings(**values)


def replication_from_env(
    environ: Mapping[str, str] | None = None,
) -> tuple[int | None, int | None]:
    """``CSS_REPLICATION_FACTOR`` and ``CSS_MIN_INSYNC_REPLICAS`` alone (None: automatic),
    for the tools that create topics without the worker's other settings."""
    env = os.environ if environ is None else environ
    wanted: list[int | None] = []
    for name in ("replication_factor", "min_insync_replicas"):
        declared = next(f for f in dataclasses.fields(Settings) if f.name == name)
        variable = declared.metadata["variable"]
        text = env.get(variable, "")
        wanted.append(declared.metadata["parse"](variable, text) if text.strip() else None)
    return wanted[0], wanted[1]


def bootstrap_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``KAFKA_BOOTSTRAP_SERVERS`` alone (for commands that need no other setting)."""
    env = os.environ if environ is None else environ
    text = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    return parse_bootstrap("KAFKA_BOOTSTRAP_SERVERS", text) if text else DEFAULT_BOOTSTRAP


# --- Kafka security ------------------------------------------------------------------------------

PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN")

# (variable, default as shown, meaning): validated together by KafkaSecurity.from_env,
# because one depends on another (SASL needs a user and a password).
SECURITY_SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("CSS_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", ", ".join(PROTOCOLS)),
    ("CSS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256", ", ".join(MECHANISMS) + " (SASL only)"),
    ("CSS_KAFKA_SASL_USERNAME", "", "SASL user (required with SASL)"),
    ("CSS_KAFKA_SASL_PASSWORD", "", "SASL password; never logged"),
    ("CSS_KAFKA_SASL_PASSWORD_FILE", "", "file holding the SASL password instead"),
    ("CSS_KAFKA_SSL_CAFILE", "", "CA bundle for SSL / SASL_SSL"),
)


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
            kwargs["ssl_context"] = self.ssl_context()
        return kwargs

    def producer_kwargs(self) -> dict[str, Any]:
        """``aiokafka_kwargs`` plus the producer's request size limit."""
        return {**self.aiokafka_kwargs(), "max_request_size": MAX_REQUEST_BYTES}

    def ssl_context(self) -> Any:
        """An SSL context trusting ``CSS_KAFKA_SSL_CAFILE`` (the system CAs without it)."""
        from aiokafka.helpers import create_ssl_context  # the clients' own helper

        return create_ssl_context(cafile=self.ssl_cafile)


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


# --- documentation, produced from the declarations ----------------------------------------------


def _shown(declared: dataclasses.Field[Any]) -> str:
    shown: str = declared.metadata["shown"]
    if shown:
        return shown
    return "" if declared.default is dataclasses.MISSING else str(declared.default)


def settings_rows() -> list[tuple[str, str, str]]:
    """(variable, default as shown, meaning) of every setting, in declaration order."""
    rows = [
        (d.metadata["variable"], _shown(d), d.metadata["meaning"])
        for d in dataclasses.fields(Settings)
    ]
    return rows + list(SECURITY_SETTINGS)


def settings_table() -> str:
    """The README's settings table (Markdown)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for variable, shown, meaning in settings_rows():
        default = f"`{shown}`" if shown else ""
        lines.append(f"| `{variable}` | {default} | {meaning} |")
    return "\n".join(lines) + "\n"


def settings_help() -> str:
    """The settings part of ``csscore worker --help``."""
    lines = ["settings (environment; a bad value is one line on stderr, exit 2):"]
    for variable, shown, meaning in settings_rows():
        default = f" (default {shown})" if shown else ""
        lines.append(f"  {variable}{default}: {meaning.replace('`', '')}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_table(), end="")
