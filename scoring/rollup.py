"""The roll-up of docs/scoring-rules.md section 5: signals -> groups -> categories ->
overall.

Each level is the floor of an exact weighted mean of the *reported integers* of the level
below (section 2). Integer arithmetic throughout (weights pre-scaled to integers by the
catalog): every level is floor(weighted sum / weight sum) of non-negative integers, so
``//`` is exact. A signal score of None is "not available" (not applicable, or no data
under policy ``exclude``); a level with nothing available is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from scoring.catalog import CATEGORIES, DEFAULT_BANDS, Band, Catalog


def band(score: int | None, bands: tuple[Band, ...] = DEFAULT_BANDS) -> str | None:
    """The name of the band holding ``score`` (default: fair 0..30, good 31..60,
    excellent 61..100, section 1); None for no score."""
    if score is None:
        return None
    name = bands[0].name
    for candidate in bands:
        if score < candidate.lower:
            break
        name = candidate.name
    return name


class BandTable:
    """A grading scheme as a lookup table: the band name of every score 0..100."""

    __slots__ = ("names",)

    def __init__(self, bands: tuple[Band, ...]) -> None:
        self.names = tuple(band(score, bands) for score in range(101))

    def __call__(self, score: int | None) -> str | None:
        return None if score is None else self.names[score]


class RollUpPlan:
    """Per-catalog index tables of the roll-up (part of
    :class:`scoring.compiled.CompiledCatalog`): each signal's group and integer weight, each
    group's category, each category's integer weight."""

    __slots__ = (
        "all_positive",
        "catalog",
        "category_weights",
        "group_category",
        "group_keys",
        "signal_groups",
        "signal_slots",
        "signal_weights",
    )

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.group_keys = catalog.group_keys
        self.signal_groups = catalog.signal_group_index
        self.signal_weights = catalog.signal_int_weights
        self.category_weights = catalog.category_int_weights
        self.group_category = tuple(CATEGORIES.index(c) for c, _g in catalog.group_keys)
        # Per signal: (group index, weight, category index, category weight).
        self.signal_slots = tuple(
            (
                group,
                weight,
                self.group_category[group],
                self.category_weights[self.group_category[group]],
            )
            for group, weight in zip(self.signal_groups, self.signal_weights, strict=True)
        )
        # The catalog check makes every weight > 0, which :meth:`Totals.overall_with`
        # relies on; a hand-built catalog with a zero weight takes the full roll-up.
        self.all_positive = all(w > 0 for w in (*self.signal_weights, *self.category_weights))


class Totals:
    """The integer sums behind a roll-up, kept so that a one-signal change (a
    recommendation's "what if this signal were 100") and the explain shares are computed
    from them without rolling everything up again. ``scores`` follows catalog order; None
    is "not taking part"."""

    __slots__ = (
        "category_counts",
        "category_scores",
        "category_sums",
        "group_scores",
        "overall",
        "total",
        "total_weight",
        "weight_sums",
        "weighted",
    )

    def __init__(self, plan: RollUpPlan, scores: Sequence[int | None]) -> None:
        group_count = len(plan.group_keys)
        weighted = [0] * group_count
        weight_sums = [0] * group_count
        for group_index, weight, score in zip(
            plan.signal_groups, plan.signal_weights, scores, strict=True
        ):
            if score is not None:
                weighted[group_index] += weight * score
                weight_sums[group_index] += weight
        group_scores: list[int | None] = [None] * group_count
        category_sums = [0] * len(CATEGORIES)
        category_counts = [0] * len(CATEGORIES)
        for index, category_index in enumerate(plan.group_category):
            weight_sum = weight_sums[index]
            if weight_sum:
                group_score = min(100, weighted[index] // weight_sum)
                group_scores[index] = group_score
                category_sums[category_index] += group_score
                category_counts[category_index] += 1
        category_scores: list[int | None] = [None] * len(CATEGORIES)
        total = 0
        total_weight = 0
        for category_index, category_weight in enumerate(plan.category_weights):
            count = category_counts[category_index]
            if count:
                category_score = category_sums[category_index] // count
                category_scores[category_index] = category_score
                total += category_weight * category_score
                total_weight += category_weight
        self.weighted = weighted
        self.weight_sums = weight_sums
        self.group_scores = group_scores
        self.category_sums = category_sums
        self.category_counts = category_counts
        self.category_scores = category_scores
        self.total = total
        self.total_weight = total_weight
        self.overall = total // total_weight if total_weight else None

    def overall_with(self, plan: RollUpPlan, signal_index: int, old: int | None, new: int) -> int:
        """The overall score if signal ``signal_index`` scored ``new`` instead of ``old``:
        only its group, its category and the overall change (same integer floors)."""
        group_index, weight, category_index, category_weight = plan.signal_slots[signal_index]
        weighted = self.weighted[group_index] + weight * (new - (old or 0))
        weight_sum = self.weight_sums[group_index] + (weight if old is None else 0)
        group_score = min(100, weighted // weight_sum)
        old_group = self.group_scores[group_index]
        category_sum = self.category_sums[category_index] - (old_group or 0) + group_score
        category_count = self.category_counts[category_index] + (old_group is None)
        old_category = self.category_scores[category_index]
        total = self.total + category_weight * (
            category_sum // category_count - (old_category or 0)
        )
        total_weight = self.total_weight + (category_weight if old_category is None else 0)
        return total // total_weight

    def groups_by_category(self, plan: RollUpPlan) -> dict[str, dict[str, int | None]]:
        groups: dict[str, dict[str, int | None]] = {category: {} for category in CATEGORIES}
        for (category, group), score in zip(plan.group_keys, self.group_scores, strict=True):
            groups[category][group] = score
        return groups


def effective_weights(catalog: Catalog, scores: Sequence[int | None]) -> list[Fraction | None]:
    """Each taking-part signal's exact share of the overall through its group, category and
    the renormalised category weight (section 9, explain); None for the others."""
    group_weight: dict[tuple[str, str], Fraction] = {}
    for signal, score in zip(catalog.signals, scores, strict=True):
        if score is not None:
            key = (signal.category, signal.group)
            group_weight[key] = group_weight.get(key, Fraction(0)) + signal.weight
    groups_per_category: dict[str, int] = {}
    for category, _group in group_weight:
        groups_per_category[category] = groups_per_category.get(category, 0) + 1
    category_total = sum(
        (catalog.category_weights[c] for c in groups_per_category), start=Fraction(0)
    )
    shares: list[Fraction | None] = []
    for signal, score in zip(catalog.signals, scores, strict=True):
        if score is None:
            shares.append(None)
            continue
        share = (
            signal.weight
            / group_weight[(signal.category, signal.group)]
            / groups_per_category[signal.category]
            * catalog.category_weights[signal.category]
            / category_total
        )
        shares.append(share)
    return shares
