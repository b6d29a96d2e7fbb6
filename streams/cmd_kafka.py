"""Placeholder: the owning issue replaces this module."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Nothing registered yet."""
