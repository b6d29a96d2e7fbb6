"""A catalog compiled once for the fold and the records: :class:`CompiledCatalog`.

The caller builds it with :func:`compile_catalog` when it loads a catalog and passes it to
:func:`scoring.fold.apply_event`, :func:`scoring.record.monthly_record` and
:func:`scoring.record.live_record`. It holds everything derived from the catalog (the fold
plan, the roll-up plan, the record plan) and the memo tables that serve every org (results
derived from scores, calendar facts, the month of the last event), so the core keeps no
module-level state: as h11 keeps everything on its ``Connection``, everything the core
remembers across calls lives on this object or on the org's state.

Memoised results on an org's state name the record plan that computed them, so a state
scored under another compiled catalog recomputes instead of reusing them.
"""

from __future__ import annotations

from scoring.catalog import Catalog
from scoring.evaluation import RecordPlan
from scoring.fold import FoldPlan
from scoring.rollup import RollUpPlan


class CompiledCatalog:
    """``catalog`` compiled: ``fold`` (routes and accumulator factories per event type),
    ``rollup`` (integer roll-up indexes) and ``record`` (evaluators, memo tables)."""

    __slots__ = ("catalog", "fold", "record", "rollup")

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.fold = FoldPlan(catalog)
        self.rollup = RollUpPlan(catalog)
        self.record = RecordPlan(catalog, self.rollup)

    def __repr__(self) -> str:
        return f"CompiledCatalog({self.catalog.name!r}, version={self.catalog.version!r})"


def compile_catalog(catalog: Catalog) -> CompiledCatalog:
    """Compile ``catalog`` once; pass the result to every fold and record call."""
    return CompiledCatalog(catalog)
