"""``make run`` (``devtools.demo``) outside a terminal: score lines appear in its output
(plain, timestamped), the score pages' URL is printed, a second demo says one is running,
and Ctrl-C (SIGINT to its process group) or SIGTERM stops everything it started within
15 s (the measured times are printed)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STOP_BUDGET_SECONDS = 15.0


def _children_of(work: Path) -> list[int]:
    """Processes started with the demo's state directory in their environment."""
    marker = f"CSS_DATA_DIR={work / 'state'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _start(
    bootstrap: str, tmp_path: Path, label: str
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    out, err = tmp_path / f"{label}.out", tmp_path / f"{label}.err"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "CSS_UI_ADDR": "127.0.0.1:0"}
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.demo", "--orgs", "4", "--months", "3",
             "--rate", "500"],
            stdout=stdout, stderr=stderr, env=env, start_new_session=True,
        )  # fmt: skip
    return process, out, err


def _wait_for(path: Path, pattern: str, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text(errors="replace"))
        if found:
            return found.group(0)
        assert process.poll() is None, path.read_text(errors="replace")
        time.sleep(0.3)
    raise AssertionError(f"{pattern!r} never appeared in {path}:\n{path.read_text()[-2000:]}")


@pytest.mark.timeout(400)
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_the_demo_prints_scores_outside_a_terminal_and_stops_cleanly(
    kafka_bootstrap: str, tmp_path: Path, how: str
) -> None:
    demo, out, err = _start(kafka_bootstrap, tmp_path, "demo")
    work: Path | None = None
    try:
        _wait_for(err, r"Score pages: http://127\.0\.0\.1:\d+/", demo, 120)
        score_line = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d org-\S+ (live|monthly) .*"
        line = _wait_for(out, score_line, demo, 180)
        assert "overall=" in line and "as_of=" in line
        work = Path(_wait_for(err, r"logs and data: \S+", demo, 5).split(": ", 1)[1])
        children = _children_of(work)
        assert len(children) >= 2, children  # worker, score pages (and the feed while it runs)

        second, _, second_err = _start(kafka_bootstrap, tmp_path, "second")
        assert second.wait(timeout=60) != 0
        assert "a demo is already running" in second_err.read_text()

        began = time.monotonic()
        if how == "ctrl-c":
            os.killpg(demo.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        else:
            demo.send_signal(signal.SIGTERM)
        code = demo.wait(timeout=60)
        took = time.monotonic() - began
        print(f"demo ({how}): stopped in {took:.1f} s, exit {code}")
        assert took < STOP_BUDGET_SECONDS, err.read_text()[-2000:]
        assert code == 0, err.read_text()[-2000:]
        time.sleep(0.5)
        assert _children_of(work) == [], "processes left behind"
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        for pid in _children_of(work) if work is not None else []:
            os.kill(pid, signal.SIGKILL)  # a failed test leaves no process behind
