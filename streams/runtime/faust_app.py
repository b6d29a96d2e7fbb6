"""The Faust application of one worker: its settings, tables and source topic.

Built by ``build_faust_app``; nothing is created at import time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust

from streams.config import MAX_REQUEST_BYTES, KafkaSecurity, Settings
from streams.runtime.rewind import rewinding_consumer

# Faust's table names; their changelog topics are ``{app_id}-{name}-changelog``.
# (Workers before format 2 of the org value also had a ``roster`` table: no longer read.)
TABLES = ("orgs", "clocks")

# RocksDB sizes of each partition's database (2 tables x partitions databases per worker).
# Faust's defaults are 64 MiB x 3 write buffers and a 2 GiB block cache per database; these
# bound a worker's store to about 64 MiB per database (the org values it reads often are
# decoded in memory anyway: ``OrgStore``).
ROCKSDB_OPTIONS = {
    "write_buffer_size": 16 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 32 * 1024 * 1024,
    "max_open_files": 256,
}


@dataclass(frozen=True, slots=True)
class FaustParts:
    app: faust.App
    orgs: Any  # faust Table[bytes, bytes]: org id -> OrgSlot, and the orgs' dedup chunks
    clocks: Any  # partition -> PartitionClock
    source: faust.TopicT  # the internal events and control topics


def faust_security(security: KafkaSecurity) -> dict[str, Any]:
    """Settings for ``faust.App``: ``broker_credentials`` when security is on."""
    if security.uses_sasl:
        credentials: Any = faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password,
            mechanism=security.sasl_mechanism,
            ssl_context=security.ssl_context() if security.uses_ssl else None,
        )
        return {"broker_credentials": credentials}
    if security.uses_ssl:
        # faust.SSLCredentials(cafile=...) passes purpose=None to the ssl module, which
        # rejects it: hand it a ready context instead.
        return {"broker_credentials": faust.SSLCredentials(security.ssl_context())}
    return {}


def build_faust_app(
    settings: Settings,
    security: KafkaSecurity,
    partitions: int,
    before_commit: Callable[[], Awaitable[None]],
    replication_factor: int = 1,
) -> FaustParts:
    """The app; ``before_commit`` runs before every offset commit (the state flush).
    ``replication_factor``: of the topics Faust creates itself (its leader topic; the
    changelogs exist before it starts, ``streams.runtime.topics``)."""
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        store="rocksdb://" if settings.store == "rocksdb" else "memory://",
        datadir=str(settings.data_dir / settings.app_id),  # one store per app id
        topic_partitions=partitions,
        topic_replication_factor=replication_factor,
        table_standby_replicas=settings.standby_replicas,
        producer_max_request_size=MAX_REQUEST_BYTES,
        # Changelog values and score records are small and many: a short linger fills
        # batches, so the broker gets a few large requests instead of one per handful of
        # records (building and sending requests was the largest CPU cost of small passes,
        # and capped a live stream at a few hundred events/s).
        producer_max_batch_size=1024 * 1024,
        producer_linger=0.005,
        producer_acks=-1,
        # Live records are ~4 KB of repetitive JSON and changelog values alike: lz4
        # costs the worker little CPU and the broker and network about a quarter of the
        # bytes (brokers keep the producer's compression by default).
        producer_compression_type="lz4",
        consumer_auto_offset_reset="earliest",
        # Every commit first flushes the changed org values (streams.runtime.state_flush).
        broker_commit_interval=settings.commit_interval_seconds,
        # A rebalance or shutdown waits for the record in progress: a pass must never
        # write the tables of a partition that has been revoked from under it.
        stream_wait_empty=True,
        stream_buffer_maxsize=8192,
        broker_max_poll_records=2000,
        # Internal records carry up to 5,000 events (512 KiB): fetch many at once.
        consumer_max_fetch_size=16 * 1024 * 1024,
        web_enabled=settings.web_enabled,
        web_bind=settings.web_bind,
        web_port=settings.web_port,
        **faust_security(security),
    )
    # Before the consumer exists (Faust creates it when the app starts).
    app.transport.Consumer = rewinding_consumer(  # type: ignore[misc]
        (settings.events_topic, settings.control_topic), before_commit
    )
    raw_schema: faust.Schema[bytes, bytes] = faust.Schema(
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    options = ROCKSDB_OPTIONS if settings.store == "rocksdb" else None
    orgs = app.Table(
        "orgs", key_type=bytes, value_type=bytes, partitions=partitions, options=options
    )
    clocks = app.Table(
        "clocks", key_type=bytes, value_type=bytes, partitions=partitions, options=options
    )
    source = app.topic(
        settings.events_topic, settings.control_topic, schema=raw_schema, partitions=partitions
    )
    return FaustParts(app, orgs, clocks, source)
