"""The peers of ``devtools/bench/peers/`` on the single-event topic: subprocesses that
time themselves from their first to their last processed event and print one JSON line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from pathlib import Path

from devtools.bench.phases import fill_single_topic
from devtools.bench.scorer import BenchContext, progress, unique

PEERS_DIR = Path(__file__).resolve().parent / "peers"


async def phase_peers(ctx: BenchContext) -> None:
    await fill_single_topic(ctx)
    sizes = ctx.sizes
    for script, key, count in (
        ("quix_counter.py", "quix_events_per_s", sizes.events),
        ("faust_naive.py", "faust_naive_events_per_s", sizes.faust_naive_events),
    ):
        progress(f"peer {script}: {count} events")
        rate, note = await asyncio.to_thread(run_peer, ctx, script, count)
        ctx.results[key] = None if rate is None else round(rate)
        if note:
            ctx.results[f"{key.removesuffix('_events_per_s')}_note"] = note
        progress(f"    {script}: {rate if rate is None else f'{rate:,.0f}'} events/s {note}")


def run_peer(ctx: BenchContext, script: str, count: int) -> tuple[float | None, str]:
    path = PEERS_DIR / script
    if not path.exists():
        return None, f"{path} not found"
    group = unique(path.stem)
    command = [
        sys.executable,
        str(path),
        "--bootstrap",
        ctx.bootstrap,
        "--topic",
        ctx.single_topic,
        "--group",
        group,
        "--count",
        str(count),
        "--state-dir",
        str(ctx.workdir / group),
    ]
    log_path = ctx.workdir / f"{group}.log"
    with log_path.open("wb") as log:
        try:
            done = subprocess.run(
                command, stdout=subprocess.PIPE, stderr=log, timeout=600, cwd=ctx.workdir
            )
        except subprocess.TimeoutExpired:
            return None, "timed out after 600 s"
    for line in reversed(done.stdout.decode(errors="replace").splitlines()):
        with contextlib.suppress(ValueError):
            report = json.loads(line)
            if isinstance(report, dict) and "events_per_s" in report:
                rate = report["events_per_s"]
                return (float(rate) if rate else None), str(report.get("note", ""))
    tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
    return None, f"exit {done.returncode}: {tail[0][:200]}"
