"""Starting a Kafka client so that a failed start leaves nothing open (no "Unclosed
AIOKafkaProducer" at exit after the one-line error)."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar


class _Client(Protocol):
    async def start(self) -> Any: ...
    async def stop(self) -> Any: ...


C = TypeVar("C", bound=_Client)


async def started(client: C) -> C:
    """``await client.start()``; on failure, stop it before raising."""
    try:
        await client.start()
    except BaseException:
        await client.stop()
        raise
    return client
