"""The contract: JSON Schemas (Draft 2020-12) for events, score records and catalogs.

The JSON files sit beside this module so ``importlib.resources`` finds them from a
checkout and from an installed wheel.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def load_schema(name: str) -> dict[str, Any]:
    """Parsed JSON Schema ``name`` (e.g. ``"score.v1.schema.json"``)."""
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_names() -> list[str]:
    """Every schema file shipped."""
    return sorted(
        entry.name for entry in resources.files(__name__).iterdir() if entry.name.endswith(".json")
    )
