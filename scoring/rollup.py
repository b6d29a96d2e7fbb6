"""The roll-up of spec section 5: signals -> groups -> categories -> overall.

Each level is the floor of an exact weighted mean of the *reported integers* of the level
below (spec 2). A signal score of None is "not available" (not applicable, or no data
under policy ``exclude``); a level with nothing available is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from scoring.catalog import CATEGORIES, Catalog
from scoring.numbers import floor_clamp


@dataclass(frozen=True, slots=True)
class RollUp:
    groups: dict[str, dict[str, int | None]]  # category -> group -> score
    categories: dict[str, int | None]
    overall: int | None


def band(score: int | None) -> str | None:
    """fair 0..30, good 31..60, excellent 61..100 (spec 1)."""
    if score is None:
        return None
    if score <= 30:
        return "fair"
    if score <= 60:
        return "good"
    return "excellent"


def roll_up(catalog: Catalog, scores: Sequence[int | None]) -> RollUp:
    """``scores`` follows catalog order; None = not taking part."""
    sums: dict[tuple[str, str], tuple[Fraction, Fraction]] = {}
    for signal, score in zip(catalog.signals, scores, strict=True):
        if score is None:
            continue
        key = (signal.category, signal.group)
        weighted, weights = sums.get(key, (Fraction(0), Fraction(0)))
        sums[key] = (weighted + signal.weight * score, weights + signal.weight)
    groups: dict[str, dict[str, int | None]] = {}
    categories: dict[str, int | None] = {}
    for category in CATEGORIES:
        group_scores: dict[str, int | None] = {}
        for group in catalog.groups[category]:
            entry = sums.get((category, group))
            group_scores[group] = None if entry is None else floor_clamp(entry[0] / entry[1])
        groups[category] = group_scores
        available = [s for s in group_scores.values() if s is not None]
        categories[category] = (
            floor_clamp(Fraction(sum(available), len(available))) if available else None
        )
    total = Fraction(0)
    weight_sum = Fraction(0)
    for category in CATEGORIES:
        category_score = categories[category]
        if category_score is not None:
            weight = catalog.category_weights[category]
            total += weight * category_score
            weight_sum += weight
    overall = floor_clamp(total / weight_sum) if weight_sum else None
    return RollUp(groups, categories, overall)


def effective_weights(catalog: Catalog, scores: Sequence[int | None]) -> list[Fraction | None]:
    """Each taking-part signal's exact share of the overall through its group, category and
    the renormalised category weight (spec 9, explain); None for the others."""
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
