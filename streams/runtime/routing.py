"""Which partition an org lives in: Kafka's default partitioner (murmur2 of the key bytes),
as producers keyed by org id use it, so the worker, the ingest stage and ``score-of``
agree with the input topic."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for_key(key: str, partitions: int) -> int:
    hashed: int = murmur2(key.encode())
    return (hashed & 0x7FFFFFFF) % partitions
