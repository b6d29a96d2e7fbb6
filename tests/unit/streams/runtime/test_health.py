"""The worker's broker watchdog and preflight (streams.runtime.health), without a broker or sleeps.

The watchdog's probe, clock and exit are injected: the tests drive time by hand.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from streams.config import KafkaSecurity
from streams.runtime.health import (
    EXIT_BROKER_UNREACHABLE,
    BrokerUnreachable,
    UnreachableWatchdog,
    bootstrap_addresses,
    preflight,
    tcp_reachable,
)


class FakeWorld:
    """A broker that answers or not, a clock moved by hand, and a recorded exit."""

    def __init__(self) -> None:
        self.up = True
        self.now = 1000.0
        self.exits: list[int] = []

    async def probe(self) -> bool:
        return self.up

    def watchdog(self, limit: float) -> UnreachableWatchdog:
        return UnreachableWatchdog(
            "127.0.0.1:1",
            limit,
            probe=self.probe,
            clock=lambda: self.now,
            exit_process=self.exits.append,
        )


def test_short_outage_never_exits_and_is_forgotten_once_the_broker_answers() -> None:
    world = FakeWorld()
    watchdog = world.watchdog(120)

    async def run() -> None:
        world.up = False
        assert await watchdog.check() is False  # the outage is first seen here
        for _ in range(20):  # 119 s down in all
            world.now += 119 / 20
            assert await watchdog.check() is False
        world.up = True
        assert await watchdog.check() is True
        world.up = False
        await watchdog.check()
        world.now += 100  # a new outage starts from zero: 100 s < 120 s
        await watchdog.check()

    asyncio.run(run())
    assert world.exits == []


def test_exits_once_unreachable_for_the_limit(caplog: pytest.LogCaptureFixture) -> None:
    world = FakeWorld()
    watchdog = world.watchdog(30)

    async def run() -> None:
        world.up = False
        world.now += 50  # time since the last answer does not count: the outage starts
        await watchdog.check()  # at the first failed probe
        world.now += 29.9
        await watchdog.check()
        assert world.exits == []
        world.now += 0.1
        await watchdog.check()

    with caplog.at_level(logging.WARNING, logger="csscore.health"):
        asyncio.run(run())
    assert world.exits == [EXIT_BROKER_UNREACHABLE]
    fatal = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(fatal) == 1 and "unreachable for 30 s" in fatal[0].getMessage()


def test_probe_interval_is_a_fraction_of_the_limit() -> None:
    assert UnreachableWatchdog("h:1", 120).interval_seconds == 5.0
    assert UnreachableWatchdog("h:1", 4).interval_seconds == 1.0
    assert UnreachableWatchdog("h:1", 1).interval_seconds == 0.5


def test_bootstrap_addresses() -> None:
    assert bootstrap_addresses("a:1, b:2,[::1]:3") == [("a", 1), ("b", 2), ("::1", 3)]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tcp_probe_and_preflight_against_a_closed_port() -> None:
    port = _closed_port()
    assert asyncio.run(tcp_reachable([("127.0.0.1", port)], timeout=2)) is False
    with pytest.raises(BrokerUnreachable) as caught:
        asyncio.run(preflight(f"127.0.0.1:{port}", KafkaSecurity(), timeout=5))
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_tcp_probe_sees_a_listening_socket() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert asyncio.run(tcp_reachable([("127.0.0.1", port)], timeout=2)) is True
