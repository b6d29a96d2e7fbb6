"""Broker health for ``csscore worker``: an authenticated preflight and a reachability watchdog.

Faust (through aiokafka) retries a lost broker forever, which is what a short outage needs
(the worker resumes by itself), but a broker that stays away, or credentials the broker
rejects, must end the process with one clear line and a non-zero exit so a supervisor
notices:

* :func:`preflight` connects once with the worker's own security settings before Faust
  starts; a rejected SASL login raises :class:`BrokerAuthFailed` (exit 1), never the secret.
* :class:`UnreachableWatchdog` runs inside the Faust worker's event loop (an ``app.timer``)
  and probes the bootstrap servers with a plain TCP connect every few seconds; only after
  ``CSS_BROKER_UNREACHABLE_SECONDS`` without a single answer does it exit the process
  (code :data:`EXIT_BROKER_UNREACHABLE`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from streams.config import KafkaSecurity
from streams.errors import BrokerAuthFailed, BrokerUnreachable

log = logging.getLogger("csscore.health")

# EX_UNAVAILABLE from sysexits.h: a service the program needs is not there.
EXIT_BROKER_UNREACHABLE = 69
PROBE_TIMEOUT_SECONDS = 3.0


def bootstrap_addresses(bootstrap_servers: str) -> list[tuple[str, int]]:
    """``host:port[,host:port...]`` as (host, port) pairs (IPv6 hosts keep their colons)."""
    addresses: list[tuple[str, int]] = []
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        if host and port.isdigit():
            addresses.append((host.strip("[]"), int(port)))
    return addresses


async def tcp_reachable(
    addresses: list[tuple[str, int]], timeout: float = PROBE_TIMEOUT_SECONDS
) -> bool:
    """True when at least one address accepts a TCP connection within ``timeout``."""
    for host, port in addresses:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except (TimeoutError, OSError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


AUTH_ERRORS = (
    SaslAuthenticationFailed,
    AuthenticationFailedError,
    UnsupportedSaslMechanismError,
    IllegalSaslStateError,
)


async def preflight(bootstrap_servers: str, security: KafkaSecurity, timeout: float = 20.0) -> None:
    """Open one connection (with the SASL handshake) and fetch metadata; raise on failure.

    aiokafka's clients only log a rejected login and report "unable to bootstrap", so the
    connection is opened directly: its handshake raises the broker's authentication error.
    The messages name the servers and the user, never the password.
    """
    kwargs = security.aiokafka_kwargs()
    who = f" as user {security.sasl_username!r}" if security.uses_sasl else ""
    reasons: list[str] = []
    for host, port in bootstrap_addresses(bootstrap_servers):
        try:
            connection = await asyncio.wait_for(
                create_conn(host, port, request_timeout_ms=int(timeout * 1000), **kwargs),
                timeout,
            )
        except AUTH_ERRORS:
            raise BrokerAuthFailed(
                f"Kafka at {host}:{port} rejected the credentials{who} "
                f"({security.sasl_mechanism}); check the CSS_KAFKA_SASL_* settings"
            ) from None
        except (OSError, KafkaError, TimeoutError) as exc:
            reasons.append(f"{host}:{port}: {type(exc).__name__}")
            continue
        try:
            await asyncio.wait_for(connection.send(MetadataRequest([])), timeout)
        except (KafkaError, TimeoutError) as exc:
            reasons.append(f"{host}:{port}: metadata {type(exc).__name__}")
            continue
        finally:
            connection.close()
        return
    raise BrokerUnreachable(
        f"cannot reach Kafka at {bootstrap_servers}{who} ({'; '.join(reasons) or 'no address'}); "
        "check KAFKA_BOOTSTRAP_SERVERS and the security settings"
    )


class UnreachableWatchdog:
    """Exit the process once the broker has been unreachable for ``limit_seconds``.

    ``check`` is called periodically from the worker's loop; the probe and the clock are
    injectable so the decision logic is tested without a broker or sleeps.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        limit_seconds: float,
        *,
        probe: Callable[[], Awaitable[bool]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        exit_process: Callable[[int], None] = os._exit,
    ) -> None:
        addresses = bootstrap_addresses(bootstrap_servers)
        self.bootstrap_servers = bootstrap_servers
        self.limit_seconds = limit_seconds
        self._probe = probe or (lambda: tcp_reachable(addresses))
        self._clock = clock
        self._exit = exit_process
        # When the current outage was first seen (None: the last probe was answered).
        # Counting from the first failed probe, not the last answered one, never overstates
        # an outage: the worker exits at least ``limit_seconds`` after the broker went away.
        self.down_since: float | None = None

    @property
    def interval_seconds(self) -> float:
        """How often to probe: a few times per limit, at most every 5 s."""
        return max(0.5, min(5.0, self.limit_seconds / 4))

    def unreachable_for(self) -> float:
        return 0.0 if self.down_since is None else self._clock() - self.down_since

    async def check(self) -> bool:
        """Probe once; returns whether the broker answered. Exits past the limit."""
        reachable = await self._probe()
        if reachable:
            if self.down_since is not None:
                log.warning("Kafka at %s answers again", self.bootstrap_servers)
            self.down_since = None
            return True
        first_failure = self.down_since is None
        if first_failure:
            self.down_since = self._clock()
        down = self.unreachable_for()
        if down >= self.limit_seconds:
            log.critical(
                "Kafka at %s unreachable for %.0f s (CSS_BROKER_UNREACHABLE_SECONDS=%g); "
                "exiting (code %d)",
                self.bootstrap_servers,
                down,
                self.limit_seconds,
                EXIT_BROKER_UNREACHABLE,
            )
            logging.shutdown()
            self._exit(EXIT_BROKER_UNREACHABLE)
        elif first_failure:
            log.warning(
                "Kafka at %s does not answer; retrying (exit after %g s)",
                self.bootstrap_servers,
                self.limit_seconds,
            )
        return False
