"""Pure helpers of the bench: CPU time from ``/proc``, the broker's pid, percentiles,
topic classes and the two-worker ceiling. No Kafka client here."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

# Topic classes of one scorer app, for records and bytes per event.
TOPIC_CLASSES = ("output", "changelog", "internal", "dlq")


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence (``fraction`` in [0, 1])."""
    if not ordered:
        raise ValueError("percentile of no values")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def parse_stat_cpu_seconds(stat: str, ticks_per_second: int) -> float:
    """utime + stime of a ``/proc/<pid>/stat`` line, in seconds. The command name (field
    2) is in parentheses and may hold spaces or ")": fields are counted after the last
    ")"; utime and stime are fields 14 and 15 of the line (12 and 13 after the ")")."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks_per_second


def process_cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds (all threads, user + system) of a live process, or ``None``."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return parse_stat_cpu_seconds(stat, os.sysconf("SC_CLK_TCK"))


def parse_machine_busy_ticks(proc_stat: str) -> int:
    """Busy clock ticks of all CPUs from ``/proc/stat``'s first line: user + nice + system
    + irq + softirq + steal (everything but idle and iowait; guest time is already in
    user)."""
    fields = proc_stat.splitlines()[0].split()
    if fields[0] != "cpu":
        raise ValueError("not /proc/stat")
    ticks = [int(value) for value in fields[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return user + nice + system + irq + softirq + steal


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes of the machine have used since boot (Linux)."""
    try:
        stat = Path("/proc/stat").read_text()
    except OSError:
        return None
    return parse_machine_busy_ticks(stat) / os.sysconf("SC_CLK_TCK")


def listening_inodes(proc_net_tcp: str, port: int) -> set[int]:
    """Socket inodes of ``/proc/net/tcp`` or ``tcp6`` text listening on ``port``."""
    inodes: set[int] = set()
    for line in proc_net_tcp.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, state, inode = fields[1], fields[3], fields[9]
        if state != "0A":  # TCP_LISTEN
            continue
        if int(local.rsplit(":", 1)[1], 16) == port:
            inodes.add(int(inode))
    return inodes


def pid_listening_on(port: int, proc: Path = Path("/proc")) -> int | None:
    """The pid of the process with a socket listening on ``port`` (Linux; processes
    whose descriptors this user may read), else ``None``."""
    inodes: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            inodes |= listening_inodes((proc / "net" / name).read_text(), port)
        except OSError:
            continue
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return int(entry.name)
        except OSError:
            continue
    return None


def bootstrap_port(bootstrap: str) -> int | None:
    """The port of the first ``host:port`` of a bootstrap list."""
    first = bootstrap.split(",")[0].strip()
    try:
        return int(first.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


def classify_topic(topic: str, app_id: str, output: str, dlq: str) -> str | None:
    """The class of a topic the scorer app ``app_id`` writes, or ``None`` (not its own):
    its output and dead-letter topics, the changelogs of its tables, and its other topics
    (internal events and control topics, Faust's internal topics)."""
    if topic == output:
        return "output"
    if topic == dlq:
        return "dlq"
    if not topic.startswith(app_id):
        return None
    if "changelog" in topic:
        return "changelog"
    return "internal"


def per_event(value: float | None, events: int, scale: float = 1.0) -> float | None:
    if value is None or events <= 0:
        return None
    return value * scale / events


def speedup_ceiling(
    cores: int, worker_cpu_s: float, broker_cpu_s: float, wall_s: float, workers: int = 2
) -> float | None:
    """How much faster ``workers`` workers can be than one on ``cores`` cores, when the
    one-worker run kept ``worker_cpu_s / wall_s`` cores busy in the worker and
    ``broker_cpu_s / wall_s`` in the broker (which shares the cores, and whose work grows
    with the events): min(workers, cores / (worker share + broker share))."""
    if wall_s <= 0:
        return None
    share = (worker_cpu_s + broker_cpu_s) / wall_s
    if share <= 0:
        return None
    return min(float(workers), cores / share)


def sum_known(values: Iterable[float | None]) -> float | None:
    """The sum, or ``None`` when any value is unknown."""
    total = 0.0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def delta(end: float | None, start: float | None) -> float | None:
    return None if end is None or start is None else end - start


def offsets_delta(end: Mapping[str, int], start: Mapping[str, int]) -> dict[str, int]:
    """Per key: end - start (a key missing at the start counts from 0)."""
    return {key: value - start.get(key, 0) for key, value in end.items()}
