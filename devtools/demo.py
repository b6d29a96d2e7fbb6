"""``make run``: a local broker (unless ``KAFKA_BOOTSTRAP_SERVERS`` is set), the worker, a
generated demo feed produced at a modest rate, the score pages (``csscore serve``, its URL
printed) and a live view of scores changing.

Ctrl-C stops everything it started (worker, producer, pages and the broker it started)
and leaves no process behind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
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


def _terminate(process: subprocess.Popen[bytes], name: str) -> None:
    if process.poll() is not None:
        return
    print(f"stopping {name}...", file=sys.stderr)
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
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
        for name, process in reversed(processes):
            _terminate(process, name)
        if broker is not None:
            print("stopping the local Kafka broker...", file=sys.stderr)
            broker.stop()
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
    """The worker creates the output topic a few seconds after it starts."""
    asyncio.run(_wait_for_topic(bootstrap, output, timeout=120.0))
    asyncio.run(
        tail_scores(
            bootstrap,
            output,
            KafkaSecurity.from_env({}),
            org=None,
            from_beginning=True,
            max_seconds=seconds,
        )
    )


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
