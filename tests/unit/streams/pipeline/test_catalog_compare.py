"""Previewing a catalog change: the comparison of two catalogs' records (final records per
view, band moves, movers, signal differences) and ``csscore compare-catalogs`` end to end
on generated events."""

from __future__ import annotations

import csv
import dataclasses
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from devtools.generate import generate_lines
from streams.cli.main import main
from streams.codec.catalog import load_catalog
from streams.pipeline.catalog_compare import compare_catalogs, signal_differences

DEFAULT = load_catalog(None)
DEFAULT_FILE = Path(__file__).resolve().parents[4] / "streams" / "default_catalog.json"


def record(
    org: str, kind: str, period: str, score: int | None, revision: int = 0
) -> dict[str, Any]:
    band = (
        None
        if score is None
        else ("fair" if score <= 30 else "good" if score <= 60 else "excellent")
    )
    return {
        "org_id": org,
        "kind": kind,
        "period": period,
        "revision": revision,
        "overall": {"score": score, "band": band},
        "categories": {"technical_health": {"score": score}},
    }


def test_views_are_the_latest_closed_month_and_live_with_final_revisions() -> None:
    old = [
        record("a", "monthly", "2026-04", 40),
        record("a", "monthly", "2026-05", 50),
        record("a", "monthly", "2026-05", 55, revision=1),  # the final May record
        record("a", "live", "2026-06", 20),
        record("b", "live", "2026-06", 70),
    ]
    new = [
        record("a", "monthly", "2026-05", 65),
        record("a", "live", "2026-06", 20),
        record("b", "live", "2026-06", None),
        record("c", "live", "2026-06", 10),  # only under the new catalog
    ]
    comparison = compare_catalogs(DEFAULT, DEFAULT, old, new)
    assert comparison.latest_period == "2026-05"
    rows = {(r.org_id, r.view): r for r in comparison.rows}
    assert set(rows) == {("a", "2026-05"), ("a", "live"), ("b", "live"), ("c", "live")}
    assert rows[("a", "2026-05")].change == 10  # 55 (revision 1) -> 65
    assert rows[("b", "live")].change is None and rows[("c", "live")].old is None
    assert comparison.band_matrix("live") == {
        ("fair", "fair"): 1,
        ("excellent", "none"): 1,
        ("none", "fair"): 1,
    }
    assert [r.org_id for r in comparison.movers("2026-05", 5)] == ["a"]
    assert comparison.signal_differences == [] and comparison.category_weight_changes == {}


def test_movers_are_ordered_by_the_size_of_the_change_then_org() -> None:
    old = [record(org, "live", "2026-06", 50) for org in "abcd"]
    new = [record("a", "live", "2026-06", 45), record("b", "live", "2026-06", 60)]
    new += [record("c", "live", "2026-06", 40), record("d", "live", "2026-06", 50)]
    movers = compare_catalogs(DEFAULT, DEFAULT, old, new).movers("live", 2)
    assert [(r.org_id, r.change) for r in movers] == [("b", 10), ("c", -10)]


def test_signal_and_weight_differences_name_what_changed() -> None:
    signals = list(DEFAULT.signals)
    first, last = signals[0], signals[-1]
    changed = dataclasses.replace(first, weight=first.weight + 1)
    new = dataclasses.replace(
        DEFAULT,
        version="2",
        signals=(changed, *signals[1:-1]),
        category_weights={**DEFAULT.category_weights, "product_adoption": Fraction(3)},
    )
    differences = signal_differences(DEFAULT, new)
    assert [(d.signal_id, d.change, d.fields) for d in differences] == sorted(
        [(first.id, "changed", ("weight",)), (last.id, "removed", ())]
    )
    comparison = compare_catalogs(DEFAULT, new, [], [])
    assert comparison.category_weight_changes == {"product_adoption": ("5", "3")}
    assert comparison.latest_period is None and comparison.views() == ["live"]


def test_the_command_prints_band_moves_and_writes_json_and_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    lines = generate_lines(12, 4, seed=5, now="2025-05-02T00:00:00Z")
    events.write_bytes(b"".join(line + b"\n" for line in lines))
    proposed = json.loads(DEFAULT_FILE.read_text())
    proposed["version"] = "9.9.9"
    proposed["category_weights"]["technical_health"] = 9
    proposed["bands"] = [{"name": "at risk", "from": 0}, {"name": "healthy", "from": 45}]
    new_catalog = tmp_path / "new.json"
    new_catalog.write_text(json.dumps(proposed))
    out_json, out_csv = tmp_path / "cmp.json", tmp_path / "cmp.csv"
    code = main(
        ["compare-catalogs", "default", str(new_catalog), str(events), "--now",
         "2025-05-02T00:00:00Z", "--json", str(out_json), "--csv", str(out_csv)]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "-> default 9.9.9" in out and "category weight technical_health: 3 -> 9" in out
    assert "bands of overall: fair 0, good 31, excellent 61 -> at risk 0, healthy 45" in out
    assert "bands of technical_health" in out  # it follows the overall scheme
    assert "latest closed month 2025-04: 12 orgs" in out and "live records: 12 orgs" in out
    data = json.loads(out_json.read_text())
    assert data["latest_period"] == "2025-04" and len(data["rows"]) == 24
    moves = data["band_moves"]["live"]
    assert sum(m["orgs"] for m in moves) == 12
    assert {m["to"] for m in moves} <= {"at risk", "healthy", "none"}
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 24 and {r["view"] for r in rows} == {"2025-04", "live"}
    for row in rows:  # the change column is new - old
        if row["change"]:
            assert int(row["change"]) == int(row["new_overall"]) - int(row["old_overall"])
    assert any(row["change"] not in ("", "0") for row in rows)  # the weight moved someone


def test_the_command_refuses_stdin_and_reports_a_missing_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare-catalogs", "default", "default", "-"]) == 2
    assert main(["compare-catalogs", "default", str(tmp_path / "no.json"), "x.jsonl"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("csscore: error: ") for line in err)
