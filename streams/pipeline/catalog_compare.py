"""Preview a catalog change: the same orgs scored under two catalogs, side by side.

``compare_catalogs(old, new, old_records, new_records)`` takes two catalogs and the score
records ``csscore score`` produced under each for the same events, and returns a
``Comparison``: per org, for the latest closed month and for the live record, the overall
and category scores and bands old -> new; the band-move matrix of the overall band; the
largest movers; and the signals whose definitions differ. Pure: the CLI
(``streams.cli.compare``) reads the files and prints.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from scoring.catalog import CATEGORIES, Band, Catalog, Signal

NO_BAND = "none"  # an org without an overall score in one of the two views


@dataclass(frozen=True, slots=True)
class Scores:
    """One record's overall and category scores and bands (None: not available)."""

    overall: int | None
    band: str | None
    categories: Mapping[str, int | None]


@dataclass(frozen=True, slots=True)
class OrgRow:
    """One org in one view (``view``: ``"live"`` or the period ``"YYYY-MM"``)."""

    org_id: str
    view: str
    old: Scores | None  # None: the org has no such record under that catalog
    new: Scores | None

    @property
    def change(self) -> int | None:
        if self.old is None or self.new is None:
            return None
        if self.old.overall is None or self.new.overall is None:
            return None
        return self.new.overall - self.old.overall

    def band_move(self) -> tuple[str, str]:
        return (_band(self.old), _band(self.new))


@dataclass(frozen=True, slots=True)
class SignalDifference:
    signal_id: str
    change: str  # "added", "removed" or "changed"
    fields: tuple[str, ...] = ()  # for "changed": which parts of the definition differ


@dataclass(slots=True)
class Comparison:
    latest_period: str | None
    rows: list[OrgRow] = field(default_factory=list)
    signal_differences: list[SignalDifference] = field(default_factory=list)
    category_weight_changes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    # "overall" or a category -> (old scheme, new scheme) as "name from, ..." text
    scheme_changes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def views(self) -> list[str]:
        return [v for v in (self.latest_period, "live") if v is not None]

    def band_matrix(self, view: str) -> Counter[tuple[str, str]]:
        return Counter(row.band_move() for row in self.rows if row.view == view)

    def movers(self, view: str, top: int) -> list[OrgRow]:
        """The ``top`` rows of ``view`` whose overall score moved most (ties: org id)."""
        moved = [r for r in self.rows if r.view == view and r.change]
        moved.sort(key=lambda r: (-abs(r.change or 0), r.org_id))
        return moved[:top]


def compare_catalogs(
    old: Catalog,
    new: Catalog,
    old_records: Iterable[Mapping[str, Any]],
    new_records: Iterable[Mapping[str, Any]],
) -> Comparison:
    old_views = _final_views(old_records)
    new_views = _final_views(new_records)
    periods = [key[1] for key in (*old_views, *new_views) if key[1] != "live"]
    latest = max(periods) if periods else None
    comparison = Comparison(latest_period=latest)
    orgs = sorted({key[0] for key in (*old_views, *new_views)})
    for view in comparison.views():
        for org in orgs:
            old_scores, new_scores = old_views.get((org, view)), new_views.get((org, view))
            if old_scores is not None or new_scores is not None:
                comparison.rows.append(OrgRow(org, view, old_scores, new_scores))
    comparison.signal_differences = signal_differences(old, new)
    for category in sorted({*old.category_weights, *new.category_weights}):
        before = old.category_weights.get(category)
        after = new.category_weights.get(category)
        if before != after:
            comparison.category_weight_changes[category] = (
                None if before is None else str(before),
                None if after is None else str(after),
            )
    for scope in ("overall", *CATEGORIES):
        before_scheme = old.bands if scope == "overall" else old.bands_of(scope)
        after_scheme = new.bands if scope == "overall" else new.bands_of(scope)
        if before_scheme != after_scheme:
            comparison.scheme_changes[scope] = (_scheme(before_scheme), _scheme(after_scheme))
    return comparison


def _scheme(bands: tuple[Band, ...]) -> str:
    return ", ".join(f"{b.name} {b.lower}" for b in bands)


def signal_differences(old: Catalog, new: Catalog) -> list[SignalDifference]:
    """Signals added, removed, or defined differently (which fields), by id."""
    before = {signal.id: signal for signal in old.signals}
    after = {signal.id: signal for signal in new.signals}
    differences: list[SignalDifference] = []
    for signal_id in sorted({*before, *after}):
        a, b = before.get(signal_id), after.get(signal_id)
        if a is None:
            differences.append(SignalDifference(signal_id, "added"))
        elif b is None:
            differences.append(SignalDifference(signal_id, "removed"))
        elif a != b:
            changed = tuple(
                f.name for f in fields(Signal) if getattr(a, f.name) != getattr(b, f.name)
            )
            differences.append(SignalDifference(signal_id, "changed", changed))
    return differences


def _final_views(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Scores]:
    """(org, "live" | period) -> scores of the final record: the highest revision per
    (org, period), the last live record per org."""
    best: dict[tuple[str, str], tuple[int, Scores]] = {}
    for record in records:
        org = str(record["org_id"])
        if record["kind"] == "live":
            key, rank = (org, "live"), 0
        else:
            key, rank = (org, str(record["period"])), int(record.get("revision", 0))
        held = best.get(key)
        if held is None or rank >= held[0]:
            best[key] = (rank, _scores(record))
    return {key: scores for key, (_, scores) in best.items()}


def _scores(record: Mapping[str, Any]) -> Scores:
    overall = record.get("overall") or {}
    categories = record.get("categories") or {}
    return Scores(
        overall=overall.get("score"),
        band=overall.get("band"),
        categories={name: (value or {}).get("score") for name, value in categories.items()},
    )


def _band(scores: Scores | None) -> str:
    if scores is None or scores.band is None:
        return NO_BAND
    return scores.band
