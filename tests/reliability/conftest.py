"""Reliability suite: print every scenario's figures (events, kills, lost, duplicates) in
the terminal summary, so they show in `make test` output without ``-s``."""

from __future__ import annotations

from typing import Any

from tests.reliability.figures import REPORTED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REPORTED:
        terminalreporter.section("reliability figures")
        for line in REPORTED:
            terminalreporter.write_line(line)
