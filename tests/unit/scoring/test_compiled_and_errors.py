"""The compiled catalog (``scoring/compiled.py``) and the error tree
(``scoring/errors.py``), including the checks on stored org state."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scoring.compiled import CompiledCatalog, compile_catalog
from scoring.errors import CatalogError, InvalidState, InvalidTime, ScoringError
from scoring.record import forget_memos, live_record, monthly_record
from scoring.state import OrgState, state_from_dict, state_to_dict
from scoring.timeutil import parse_time_ms
from tests.scoring_support import DEFAULT_CATALOG, DEFAULT_COMPILED, ev, fold, month

EVENTS = [
    ev("org.profile", "2025-01-01T00:00:00Z", products=["sales_cloud", "platform"]),
    ev("license.purchased", "2025-01-02T00:00:00Z", product="sales_cloud", quantity=10),
    ev("license.activated", "2025-01-03T00:00:00Z", product="sales_cloud", count=4),
    ev("error.occurred", "2025-02-03T00:00:00Z", source="apex", count=1),
    ev("config.changed", "2025-02-04T00:00:00Z", setting="security_health_check_score", value=55),
]


def test_every_error_derives_from_one_root() -> None:
    for error in (CatalogError, InvalidTime, InvalidState):
        assert issubclass(error, ScoringError)
    assert issubclass(ScoringError, ValueError)
    with pytest.raises(ScoringError):
        parse_time_ms("2026-01-01 00:00:00Z")


def test_a_compiled_catalog_holds_every_plan_of_its_catalog() -> None:
    compiled = compile_catalog(DEFAULT_CATALOG)
    assert isinstance(compiled, CompiledCatalog)
    assert compiled.catalog is DEFAULT_CATALOG
    assert compiled.record.rollup is compiled.rollup
    assert set(compiled.fold.factories) == {s.id for s in DEFAULT_CATALOG.signals}


def test_two_compiled_catalogs_give_the_same_records_and_share_no_memo() -> None:
    """No hidden per-process plan: alternating compiled catalogs (of the same catalog)
    on one state gives the records each gives alone."""
    state = fold(EVENTS)
    other = compile_catalog(DEFAULT_CATALOG)
    first = monthly_record(DEFAULT_COMPILED, state, month("2025-02"))
    assert monthly_record(other, state, month("2025-02")) == first
    assert live_record(other, state) == live_record(DEFAULT_COMPILED, state)
    # Memos name the plan that made them: forgetting one compiled catalog's table leaves
    # the other's results intact, and both still agree.
    assert other.record is not DEFAULT_COMPILED.record
    forget_memos(other, state)
    assert other.record.derived == {}
    assert DEFAULT_COMPILED.record.derived != {}
    assert monthly_record(DEFAULT_COMPILED, state, month("2025-02")) == first


def _stored() -> dict[str, Any]:
    return state_to_dict(fold(EVENTS))


def test_state_round_trip() -> None:
    state = fold(EVENTS)
    assert state_from_dict(copy.deepcopy(state_to_dict(state))) == state


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(v=2), r"unsupported org state version 2"),
        (lambda d: d.pop("seq"), r"malformed org state: KeyError"),
        (lambda d: d.update(profiles={"t": "sums", "base": 0, "b": {}}), r"latest-wins"),
        (lambda d: d["signals"].update(x=[{"t": "nope"}]), r"unknown accumulator tag 'nope'"),
        (lambda d: d["signals"].update(x=[7]), r"an accumulator must be an object"),
        (lambda d: d.update(dedup="AAAA"), r"malformed org state"),
    ],
)
def test_stored_state_is_checked_with_explicit_errors(mutate: Any, message: str) -> None:
    data = _stored()
    mutate(data)
    with pytest.raises(InvalidState, match=message):
        state_from_dict(data)


def test_a_live_record_needs_an_accepted_event() -> None:
    with pytest.raises(ScoringError, match="no live record"):
        live_record(DEFAULT_COMPILED, OrgState("org-empty"))
