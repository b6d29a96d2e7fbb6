"""The catalog's grading scheme: band lookup (property-tested against its definition),
validation of ``bands`` and ``category_bands``, and score records under a custom scheme
(overall and signals by ``bands``, a category by its own scheme when it has one), which
still validate against the score schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import load_schema
from scoring.catalog import DEFAULT_BANDS, Band, catalog_from_dict
from scoring.errors import CatalogError
from scoring.rollup import BandTable, band
from streams.cli.main import main
from streams.pipeline.offline import score_lines

DEFAULT_FILE = Path(__file__).resolve().parents[3] / "streams" / "default_catalog.json"
SCORE_SCHEMA = jsonschema.Draft202012Validator(load_schema("score.v1.schema.json"))


def default_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEFAULT_FILE.read_text())
    return data


@st.composite
def schemes(draw: st.DrawFn) -> tuple[Band, ...]:
    bounds = sorted(draw(st.sets(st.integers(1, 100), max_size=6)))
    return tuple(Band(f"b{i}", lower) for i, lower in enumerate([0, *bounds]))


@given(schemes(), st.integers(0, 100))
def test_a_score_is_in_the_last_band_whose_bound_it_reaches(
    scheme: tuple[Band, ...], score: int
) -> None:
    expected = [b.name for b in scheme if b.lower <= score][-1]
    assert band(score, scheme) == expected == BandTable(scheme)(score)
    assert band(None, scheme) is None and BandTable(scheme)(None) is None


def test_the_default_scheme_is_the_specs() -> None:
    table = BandTable(DEFAULT_BANDS)
    assert [table(s) for s in (0, 30, 31, 60, 61, 100)] == [
        "fair", "fair", "good", "good", "excellent", "excellent"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ([{"name": "low", "from": 10}], "bands[0].from: the first band must start at 0"),
        ([{"name": "a", "from": 0}, {"name": "b", "from": 0}], "bands[1].from: bands must"),
        ([{"name": "a", "from": 0}, {"name": "a", "from": 50}], "bands[1].name: repeats"),
        ([{"name": "a", "from": 0}, {"name": "b", "from": 101}], "bands[1].from: must be"),
        ([], "bands: must be a non-empty list"),
    ],
)
def test_a_bad_scheme_is_one_error_with_its_path(bands: list[Any], message: str) -> None:
    data = default_data()
    data["bands"] = bands
    with pytest.raises(CatalogError) as caught:
        catalog_from_dict(data)
    assert message in str(caught.value)


def test_an_unknown_category_scheme_is_rejected() -> None:
    data = default_data()
    data["category_bands"] = {"happiness": [{"name": "a", "from": 0}]}
    with pytest.raises(CatalogError, match=r"category_bands\.happiness: unknown category"):
        catalog_from_dict(data)


def test_the_cli_reports_a_bad_scheme_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = default_data()
    data["bands"] = [{"name": "a", "from": 5}]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    events = tmp_path / "events.jsonl"
    events.write_text("")
    assert main(["score", str(events), "--catalog", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bands[0].from" in err[0]


def test_records_carry_the_catalogs_band_names() -> None:
    data = default_data()
    data["bands"] = [{"name": "at risk", "from": 0}, {"name": "healthy", "from": 50}]
    data["category_bands"] = {
        "technical_health": [
            {"name": "low", "from": 0},
            {"name": "mid", "from": 40},
            {"name": "high", "from": 80},
        ]
    }
    catalog = catalog_from_dict(data)
    assert catalog.band_names() == ("at risk", "healthy", "low", "mid", "high")
    lines = [
        json.dumps(
            {
                "specversion": "1.0",
                "id": f"e{i}",
                "source": "test",
                "type": "license.purchased" if i == 0 else "license.activated",
                "subject": "org-1",
                "time": f"2026-05-0{i + 1}T00:00:00Z",
                "data": {"product": "sales_cloud", "quantity": 10}
                if i == 0
                else {"product": "sales_cloud", "count": 1},
            }
        ).encode()
        for i in range(4)
    ]
    now = 1_900_000_000_000
    result = score_lines(lines, catalog, grace_ms=0, dedup_horizon_ms=86_400_000, now_ms=now)
    live = [r for r in result.records if r["kind"] == "live"]
    assert live
    for record in result.records:
        SCORE_SCHEMA.validate(record)
        overall = record["overall"]
        assert overall["band"] == band(overall["score"], catalog.bands)
        for name, category in record["categories"].items():
            assert category["band"] == band(category["score"], catalog.bands_of(name))
        for entry in record["signals"]:
            assert entry["band"] == band(entry["score"], catalog.bands)
    bands_seen = {s["band"] for r in result.records for s in r["signals"]} - {None}
    assert bands_seen <= {"at risk", "healthy"} and bands_seen
