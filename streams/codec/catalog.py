"""Load a catalog file: read, check against ``schemas/catalog.schema.json``, then hand the
parsed data to ``scoring.catalog.catalog_from_dict`` for the semantic checks.

Every failure is a :class:`streams.errors.UsageError` whose one-line message names the
file, the JSON path and the problem.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema

from schemas import load_schema
from scoring.catalog import Catalog, CatalogError, catalog_from_dict
from streams.errors import UsageError

DEFAULT_CATALOG_NAME = "default_catalog.json"


def _json_path(error: jsonschema.ValidationError) -> str:
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def catalog_from_text(text: str, origin: str) -> Catalog:
    """Parse, schema-check and build a catalog from JSON text (``origin`` names it)."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"catalog {origin}: not valid JSON: {exc}") from exc
    validator = jsonschema.Draft202012Validator(load_schema("catalog.schema.json"))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        # best_match picks the most relevant of several errors (e.g. inside allOf/if-then).
        best = jsonschema.exceptions.best_match(errors)
        assert best is not None
        raise UsageError(f"catalog {origin}: {_json_path(best)}: {best.message}")
    try:
        return catalog_from_dict(data)
    except CatalogError as exc:
        raise UsageError(f"catalog {origin}: {exc}") from exc


def load_catalog(path: str | None) -> Catalog:
    """The catalog at ``path``, or the packaged default catalog when ``path`` is None."""
    if path is None:
        text = resources.files("streams").joinpath(DEFAULT_CATALOG_NAME).read_text("utf-8")
        return catalog_from_text(text, "(default)")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise UsageError(f"catalog {path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"catalog {path}: not UTF-8 text") from exc
    return catalog_from_text(text, path)
