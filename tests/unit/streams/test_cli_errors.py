"""Expected failures of every ``csscore`` command are one line naming the problem and the
fix, never a traceback; a closed pipe exits 0; every command has a description."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.cli.main import build_parser

CLI = [sys.executable, "-m", "streams.cli"]
UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CSS_")}
    base.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120, env={**base, **(env or {})}
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_version() -> None:
    done = run("--version")
    assert done.returncode == 0 and done.stdout.startswith("csscore ")


@pytest.mark.parametrize(
    "command",
    [
        ["produce", "README.md", "--topic", "t"],
        ["tick", "--topic", "t", "--time", "2026-01-01T00:00:00Z"],
        ["tail", "--max-seconds", "1"],
        ["score-of", "org-1"],
    ],
)
def test_an_unreachable_broker_is_one_line(command: list[str]) -> None:
    done = run(*command, env={"KAFKA_BOOTSTRAP_SERVERS": UNREACHABLE})
    assert done.returncode == 1
    line = one_line(done)
    assert f"cannot reach Kafka at {UNREACHABLE}" in line and "csscore kafka start" in line


def test_missing_files_and_directories_are_one_line(tmp_path: Path) -> None:
    missing = run("score", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "cannot read" in one_line(missing)
    nowhere = run("generate", "--orgs", "1", "-o", str(tmp_path / "no" / "dir" / "f.jsonl"))
    assert nowhere.returncode == 1 and "No such file or directory" in one_line(nowhere)


def test_a_closed_pipe_is_not_an_error() -> None:
    generate = subprocess.Popen(
        [*CLI, "generate", "--orgs", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert generate.stdout is not None
    generate.stdout.readline()
    generate.stdout.close()  # the reader goes away, like `| head -1`
    assert generate.wait(timeout=120) == 0
    assert generate.stderr is not None and b"Traceback" not in generate.stderr.read()


def test_every_bad_setting_at_once_and_lower_case_levels() -> None:
    done = run(
        "worker",
        "-l",
        "info",
        env={"CSS_METRICS_ADDR": ":9108", "KAFKA_BOOTSTRAP_SERVERS": "kafka://b:9092"},
    )
    assert done.returncode == 2
    line = one_line(done)
    assert "CSS_METRICS_ADDR" in line and "KAFKA_BOOTSTRAP_SERVERS" in line


def test_tick_asks_which_time() -> None:
    done = run("tick", "--topic", "t")
    assert done.returncode == 2 and "--time" in done.stderr and "Traceback" not in done.stderr


def test_every_command_has_a_description() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"score", "worker", "serve", "tick", "tail", "score-of"} <= set(commands.choices)
    for name, command in commands.choices.items():
        assert command.description, name
