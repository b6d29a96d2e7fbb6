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
    """``scores`` follows catalog order; None = not taking part.

    Integer arithmetic throughout (weights pre-scaled to integers by the catalog): every
    level is floor(weighted sum / weight sum) of non-negative integers, so ``//`` is exact.
    """
    group_keys = catalog.group_keys
    weighted = [0] * len(group_keys)
    weight_sums = [0] * len(group_keys)
    for group_index, weight, score in zip(
        catalog.signal_group_index, catalog.signal_int_weights, scores, strict=True
    ):
        if score is not None:
            weighted[group_index] += weight * score
            weight_sums[group_index] += weight
    groups: dict[str, dict[str, int | None]] = {category: {} for category in CATEGORIES}
    category_sums = dict.fromkeys(CATEGORIES, 0)
    category_counts = dict.fromkeys(CATEGORIES, 0)
    for index, (category, group) in enumerate(group_keys):
        weight_sum = weight_sums[index]
        if weight_sum:
            group_score = min(100, weighted[index] // weight_sum)
            groups[category][group] = group_score
            category_sums[category] += group_score
            category_counts[category] += 1
        else:
            groups[category][group] = None
    categories: dict[str, int | None] = {}
    total = 0
    total_weight = 0
    for category, category_weight in zip(CATEGORIES, catalog.category_int_weights, strict=True):
        count = category_counts[category]
        if count:
            category_score = category_sums[category] // count
            categories[category] = category_score
            total += category_weight * category_score
            total_weight += category_weight
        else:
            categories[category] = None
    overall = total // total_weight if total_weight else None
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
