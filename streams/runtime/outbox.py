"""Hands a pass's records to the Faust producer, in order, and watches their delivery.

A failed send stops the worker (``on_failure``): the record is re-read after a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from streams.pipeline.pass_result import Outgoing


class Outbox:
    def __init__(
        self,
        producer: Callable[[], Any],
        on_failure: Callable[[BaseException, str], None],
        observe_latency: Callable[[float], None],
        wall_clock: Callable[[], float],
    ) -> None:
        self.producer = producer  # the app's producer exists only once the app runs
        self.on_failure = on_failure
        self.observe_latency = observe_latency
        self.wall_clock = wall_clock

    async def send(
        self, sends: list[Outgoing], *, wait: bool, input_timestamp_s: float | None
    ) -> None:
        """Send every record; await the acks only when ``wait``."""
        producer = self.producer()
        futures: list[asyncio.Future[Any]] = []
        for out in sends:
            fut = asyncio.ensure_future(
                await producer.send(out.topic, out.key, out.value, out.partition, None, out.headers)
            )
            fut.add_done_callback(self._on_delivered(out, input_timestamp_s))
            futures.append(fut)
        if wait and futures:
            await asyncio.gather(*futures)

    async def send_and_wait(self, topic: str, value: bytes, partition: int) -> None:
        fut = await self.producer().send(topic, None, value, partition, None, None)
        await fut

    def _on_delivered(self, out: Outgoing, stamp: float | None) -> Callable[[Any], None]:
        def done(fut: Any) -> None:
            if fut.cancelled():
                return
            exc = fut.exception()
            if exc is not None:
                self.on_failure(exc, f"producing to {out.topic}")
            elif out.is_live and stamp is not None:
                self.observe_latency(max(0.0, self.wall_clock() - stamp))

        return done
