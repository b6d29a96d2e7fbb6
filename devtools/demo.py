"""``make run``: a local broker (unless ``KAFKA_BOOTSTRAP_SERVERS`` is set), the worker, a
generated demo feed produced at a modest rate, the score pages (``csscore serve``, its URL
printed) and a live view of scores changing.

Ctrl-C stops everything it started (worker, producer, pages and the broker it started)
and leaves no process behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from devtools.kafka_local import LocalBroker, default_data_dir, port_is_free
from scoring.timeutil import format_time_ms
from streams.cli.scores_view import tail_scores
from streams.config import KafkaSecurity


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


STOP_SECONDS = 10.0  # SIGTERM to every child at once, SIGKILL to what is left after this


def _terminate_all(processes: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    """Stop every child (its whole process group) within ``STOP_SECONDS``."""
    running = [(name, p) for name, p in processes if p.poll() is None]
    if running:
        print(f"stopping {', '.join(name for name, _ in running)}...", file=sys.stderr)
    for _name, process in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for _name, process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # the same clean stop as Ctrl-C


@contextlib.contextmanager
def _only_demo() -> Iterator[None]:
    """One demo at a time per machine (they would share the local broker and port 8080)."""
    lock_path = default_data_dir().parent / "demo.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            other = lock.read().strip() or "?"
            raise SystemExit(
                f"make run: a demo is already running (pid {other}); stop it with Ctrl-C in its"
                f" terminal or `kill {other}`"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with _only_demo():
        return _demo(argv)


def _demo(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__)
    parser.add_argument("--orgs", type=int, default=12)
    parser.add_argument("--months", type=int, default=14)
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="csscore-demo-"))
    broker: LocalBroker | None = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if not bootstrap:
        local = LocalBroker(default_data_dir())
        already_running = local.status().running
        bootstrap = local.start()
        broker = None if already_running else local  # stop only what this demo started
    print(f"Kafka: {bootstrap}   logs and data: {work}", file=sys.stderr)

    run_id = time.strftime("%Y%m%d%H%M%S")
    topic, output = f"demo-telemetry-{run_id}", f"demo-scores-{run_id}"
    now_ms = int(time.time() * 1000)
    feed = work / "feed.jsonl"
    csscore = [sys.executable, "-m", "streams.cli"]
    subprocess.run(
        [
            *csscore,
            "generate",
            "--orgs",
            str(args.orgs),
            "--months",
            str(args.months),
            "--seed",
            "1",
            "--now",
            format_time_ms(now_ms - now_ms % 1000),
            "--bad-rate",
            "0.01",
            "--dup-rate",
            "0.02",
            "-o",
            str(feed),
        ],
        check=True,
    )
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CSS_APP_ID": f"demo-{run_id}",
        "CSS_INPUT_TOPIC": topic,
        "CSS_OUTPUT_TOPIC": output,
        "CSS_DLQ_TOPIC": f"demo-dlq-{run_id}",
        "CSS_PARTITIONS": "3",
        "CSS_DATA_DIR": str(work / "state"),
        "CSS_METRICS_ADDR": "127.0.0.1:0",
        "CSS_UI_ADDR": _ui_addr(),
    }
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        processes.append(("worker", _spawn([*csscore, "worker"], env, work / "worker.log")))
        processes.append(
            (
                "producer",
                _spawn(
                    [
                        *csscore,
                        "produce",
                        str(feed),
                        "--topic",
                        topic,
                        "--partitions",
                        "3",
                        "--rate",
                        str(args.rate),
                    ],
                    env,
                    work / "producer.log",
                ),
            )
        )
        processes.append(("score pages", _spawn([*csscore, "serve"], env, work / "serve.log")))
        print(
            f"worker log: {work / 'worker.log'}   metrics: see 'metrics on' in that log",
            file=sys.stderr,
        )
        url = _logged_url(work / "serve.log", processes[-1][1])
        print(f"Score pages: {url}  (a portfolio; click an org for its page)", file=sys.stderr)
        print("Ctrl-C stops the demo.", file=sys.stderr)
        _wait_for_topic_then_tail(bootstrap, output, args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _terminate_all(list(reversed(processes)))
        if broker is not None:
            print("stopping the local Kafka broker...", file=sys.stderr)
            broker.stop(timeout=4.0)
    return 0


def _ui_addr() -> str:
    """``CSS_UI_ADDR`` when set, else 127.0.0.1:8080, or a free port when 8080 is taken."""
    configured = os.environ.get("CSS_UI_ADDR", "").strip()
    if configured:
        return configured
    return "127.0.0.1:8080" if port_is_free(8080) else "127.0.0.1:0"


def _logged_url(log: Path, process: subprocess.Popen[bytes], timeout: float = 30.0) -> str:
    """The URL ``csscore serve`` logs once it listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.findall(r"score pages on (http://\S+)", log.read_text(errors="replace"))
        if found:
            return str(found[-1])
        if process.poll() is not None:
            break
        time.sleep(0.2)
    return f"(not listening; see {log})"


def _wait_for_topic_then_tail(bootstrap: str, output: str, seconds: float | None) -> None:
    """The worker creates the output topic a few seconds after it starts. Ctrl-C or SIGTERM
    ends the tail from inside its event loop (no KeyboardInterrupt through asyncio)."""

    async def follow() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        waiting = asyncio.ensure_future(_wait_for_topic(bootstrap, output, timeout=120.0))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if stop.is_set():
            waiting.cancel()
            return
        waiting.result()
        await tail_scores(
            bootstrap,
            output,
            KafkaSecurity.from_env({}),
            org=None,
            from_beginning=True,
            max_seconds=seconds,
            stop=stop,
        )

    asyncio.run(follow())


async def _wait_for_topic(bootstrap: str, topic: str, timeout: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while topic not in set(await admin.list_topics()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the worker did not create {topic}; see its log")
            await asyncio.sleep(1.0)
    finally:
        await admin.close()


if __name__ == "__main__":
    sys.exit(main())
