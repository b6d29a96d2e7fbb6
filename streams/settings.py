"""Worker settings, read once from the environment and validated at start.

``KAFKA_BOOTSTRAP_SERVERS`` keeps its standard name; every other setting has the ``CSS_``
prefix (amendments, "Settings"). A bad value raises ``UsageError`` naming the variable and
what it accepts; the worker turns it into one line on stderr and exit code 2. Secrets
(the SASL password) are handled by ``streams.kafka_config`` and never echoed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from streams.errors import UsageError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Settings:
    bootstrap_servers: str = "127.0.0.1:9092"
    app_id: str = "csscore"
    input_topic: str = "telemetry"
    output_topic: str = "scores"
    dlq_topic: str = "telemetry.dlq"
    partitions: int = 4
    grace_seconds: int = 3600
    dedup_horizon_seconds: int = 86_400
    data_dir: Path = field(default_factory=lambda: Path("./csscore-data"))
    catalog_path: str | None = None
    live_emit_interval_seconds: float = 1.0
    idle_advance_seconds: float = 0.0
    metrics_addr: str = "127.0.0.1:9108"
    output_retention_days: int = 400
    store: str = "rocksdb"
    standby_replicas: int = 0
    broker_unreachable_seconds: float = 120.0
    web_enabled: bool = False
    web_bind: str = "127.0.0.1"
    web_port: int = 6066

    @property
    def grace_ms(self) -> int:
        return self.grace_seconds * 1000

    @property
    def dedup_horizon_ms(self) -> int:
        return self.dedup_horizon_seconds * 1000

    @property
    def control_topic(self) -> str:
        """Internal topic, co-partitioned with the input: re-keyed events and wake-ups."""
        return f"{self.app_id}-control"

    @property
    def events_topic(self) -> str:
        """Internal topic, co-partitioned with the input: validated events batched per org
        partition by the ingest stage (streams.runtime.ingest)."""
        return f"{self.app_id}-events"

    @property
    def ingest_group(self) -> str:
        """Consumer group of the ingest stage (the Faust agent's group is ``app_id``)."""
        return f"{self.app_id}-ingest"

    @property
    def metrics_host_port(self) -> tuple[str, int]:
        host, _, port = self.metrics_addr.rpartition(":")
        return host, int(port)


def _parse_int(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name}={text!r} is not an integer") from None
    if value < minimum:
        raise UsageError(f"{name}={value} must be >= {minimum}")
    return value


def _parse_float(name: str, text: str, minimum: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{name}={text!r} is not a number") from None
    if not value >= minimum or value != value or value == float("inf"):
        raise UsageError(f"{name}={text} must be a finite number >= {minimum}")
    return value


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise UsageError(f"{name}={text!r} must be true or false")


def _parse_addr(name: str, text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise UsageError(f"{name}={text!r} must be HOST:PORT (e.g. 127.0.0.1:9108)")
    _parse_int(name, port, 0)
    if int(port) > 65535:
        raise UsageError(f"{name}={text!r}: port must be <= 65535")
    return text


def _parse_topic(name: str, text: str) -> str:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    if not text or len(text) > 249 or not set(text) <= allowed:
        raise UsageError(f"{name}={text!r} is not a valid Kafka topic name")
    return text


def _parse_store(name: str, text: str) -> str:
    if text not in ("rocksdb", "memory"):
        raise UsageError(f"{name}={text!r} must be rocksdb or memory")
    return text


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate the settings; unset variables take the documented defaults."""
    env = os.environ if environ is None else environ
    defaults = Settings()

    def get(name: str, parse: Callable[[str, str], T], default: T) -> T:
        text = env.get(name)
        if text is None or text == "":
            return default
        return parse(name, text)

    bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS") or defaults.bootstrap_servers
    return Settings(
        bootstrap_servers=bootstrap,
        app_id=get("CSS_APP_ID", _parse_topic, defaults.app_id),
        input_topic=get("CSS_INPUT_TOPIC", _parse_topic, defaults.input_topic),
        output_topic=get("CSS_OUTPUT_TOPIC", _parse_topic, defaults.output_topic),
        dlq_topic=get("CSS_DLQ_TOPIC", _parse_topic, defaults.dlq_topic),
        partitions=get("CSS_PARTITIONS", lambda n, t: _parse_int(n, t, 1), defaults.partitions),
        grace_seconds=get(
            "CSS_GRACE_SECONDS", lambda n, t: _parse_int(n, t, 0), defaults.grace_seconds
        ),
        dedup_horizon_seconds=get(
            "CSS_DEDUP_HORIZON_SECONDS",
            lambda n, t: _parse_int(n, t, 0),
            defaults.dedup_horizon_seconds,
        ),
        data_dir=get("CSS_DATA_DIR", lambda n, t: Path(t), defaults.data_dir),
        catalog_path=env.get("CSS_CATALOG") or None,
        live_emit_interval_seconds=get(
            "CSS_LIVE_EMIT_INTERVAL_SECONDS",
            lambda n, t: _parse_float(n, t, 0.0),
            defaults.live_emit_interval_seconds,
        ),
        idle_advance_seconds=get(
            "CSS_IDLE_ADVANCE_SECONDS",
            lambda n, t: _parse_float(n, t, 0.0),
            defaults.idle_advance_seconds,
        ),
        metrics_addr=get("CSS_METRICS_ADDR", _parse_addr, defaults.metrics_addr),
        output_retention_days=get(
            "CSS_OUTPUT_RETENTION_DAYS",
            lambda n, t: _parse_int(n, t, 1),
            defaults.output_retention_days,
        ),
        store=get("CSS_STORE", _parse_store, defaults.store),
        standby_replicas=get(
            "CSS_STANDBY_REPLICAS", lambda n, t: _parse_int(n, t, 0), defaults.standby_replicas
        ),
        broker_unreachable_seconds=get(
            "CSS_BROKER_UNREACHABLE_SECONDS",
            lambda n, t: _parse_float(n, t, 1.0),
            defaults.broker_unreachable_seconds,
        ),
        web_enabled=get("CSS_WEB_ENABLED", _parse_bool, defaults.web_enabled),
        web_bind=env.get("CSS_WEB_BIND") or defaults.web_bind,
        web_port=get("CSS_WEB_PORT", lambda n, t: _parse_int(n, t, 0), defaults.web_port),
    )
