"""Contract: every record the scorer produces validates against
``schemas/score.v1.schema.json``, and the schema rejects what the spec forbids."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import load_schema
from scoring.timeutil import HOUR_MS, format_time_ms, parse_time_ms
from streams.pipeline.offline import score_lines
from tests.scoring_support import DEFAULT_CATALOG

DATA = Path(__file__).resolve().parent.parent / "data" / "scoring"
VALIDATOR = jsonschema.Draft202012Validator(
    load_schema("score.v1.schema.json"), format_checker=jsonschema.FormatChecker()
)


def _records(lines: list[bytes]) -> list[dict[str, Any]]:
    result = score_lines(
        lines,
        DEFAULT_CATALOG,
        grace_ms=HOUR_MS,
        dedup_horizon_ms=86_400_000,
        now_ms=parse_time_ms("2026-11-27T00:00:00Z"),
    )
    # Validate what goes on the wire: the orjson encoding, parsed back.
    return [json.loads(orjson.dumps(r)) for r in result.records]


def _readme_examples() -> list[bytes]:
    readme = Path(__file__).resolve().parents[2] / "schemas" / "README.md"
    return [
        raw.encode()
        for raw in readme.read_text().splitlines()
        if raw.startswith('{"specversion') or raw.startswith('[{"specversion')
    ]


def test_score_schema_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema("score.v1.schema.json"))


@pytest.mark.parametrize("source", ["seed_examples", "readme_examples"])
def test_every_record_validates(source: str) -> None:
    if source == "seed_examples":
        lines = (DATA / "seed_examples.jsonl").read_bytes().splitlines()
    else:
        lines = _readme_examples()
        assert lines
    records = _records(lines)
    assert records
    for record in records:
        VALIDATOR.validate(record)


@st.composite
def telemetry(draw: st.DrawFn) -> list[bytes]:
    types = [
        (
            "org.profile",
            lambda: {
                "products": draw(
                    st.lists(
                        st.sampled_from(
                            [
                                "sales_cloud",
                                "service_cloud",
                                "data_cloud",
                                "platform",
                                "commerce_cloud",
                            ]
                        ),
                        max_size=3,
                    )
                )
            },
        ),
        (
            "license.purchased",
            lambda: {"product": "sales_cloud", "quantity": draw(st.integers(0, 9))},
        ),
        (
            "license.activated",
            lambda: {"product": "sales_cloud", "count": draw(st.integers(1, 20))},
        ),
        ("credits.provisioned", lambda: {"product": "data_cloud", "credits": 3.3}),
        ("credits.consumed", lambda: {"product": "data_cloud", "credits": 1.1}),
        ("case.created", lambda: {"product": "service_cloud"}),
        ("performance.sampled", lambda: {"metric": "ept_ms", "value": 1999.9}),
        ("alert.triggered", lambda: {"severity": "critical", "metric": "m"}),
        ("config.changed", lambda: {"setting": "security_health_check_score", "value": 66.6}),
        ("coaching.attended", lambda: {}),
    ]
    lines = []
    for i in range(draw(st.integers(1, 30))):
        event_type, make = draw(st.sampled_from(types))
        day = draw(st.integers(0, 420))
        t = parse_time_ms("2025-01-01T00:00:00Z") + day * 86_400_000
        event = {
            "specversion": "1.0",
            "id": str(i),
            "source": "p",
            "type": event_type,
            "subject": draw(st.sampled_from(["x", "y"])),
            "time": format_time_ms(t),
            "data": make(),
        }
        lines.append(json.dumps(event).encode())
    return lines


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(telemetry())
def test_generated_records_validate(lines: list[bytes]) -> None:
    for record in _records(lines):
        VALIDATOR.validate(record)


def test_schema_rejects_what_the_spec_forbids() -> None:
    record = _records((DATA / "seed_examples.jsonl").read_bytes().splitlines())[0]
    broken: list[dict[str, Any]] = []
    for path, value in [
        (["overall", "score"], 101),
        (["overall", "score"], 50.5),
        (["kind"], "weekly"),
        (["period"], "2026-13"),
        (["as_of"], "2026-02-01 00:00:00Z"),
        (["signals", 0, "status"], "maybe"),
        (["revision"], -1),
        (["schema"], "css.score/v2"),
    ]:
        copy_ = copy.deepcopy(record)
        target = copy_
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        broken.append(copy_)
    extra = copy.deepcopy(record)
    extra["surprise"] = 1
    broken.append(extra)
    for candidate in broken:
        assert not VALIDATOR.is_valid(candidate)
