"""Figures the reliability scenarios report, kept for the terminal summary
(``tests/reliability/conftest.py``); stdlib only, so the conftest always imports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# One line per scenario, printed at the end of the run so `make test` shows the figures
# (events, kills, lost, duplicates) without -s.
REPORTED: list[str] = []


def report(title: str, figures: Mapping[str, Any]) -> None:
    """Print the figures on one line and keep them for the terminal summary."""
    line = f"{title}: " + ", ".join(f"{name}={value}" for name, value in figures.items())
    REPORTED.append(line)
    print(line)
