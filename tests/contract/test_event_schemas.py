"""The event contract: schemas are valid, examples and generated data validate, and the
decoder agrees with the JSON Schemas wherever a schema can express the rule."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from devtools.generate import POISON_PREFIX, generate_records
from schemas import load_schema, schema_names
from streams.codec.decoding import MAX_BATCH_EVENTS, decode_record
from streams.codec.event_types import DATA_FIELDS

README = Path(__file__).resolve().parents[2] / "schemas" / "README.md"
FAR_FUTURE_MS = 253_402_300_799_000  # 9999-12-31: no event is a future_timestamp

EVENT_SCHEMA = load_schema("cloudevent.schema.json")
RECORD_SCHEMA = load_schema("telemetry-record.schema.json")
REGISTRY: Registry[Any] = Registry().with_resources(
    (schema["$id"], Resource.from_contents(schema)) for schema in (EVENT_SCHEMA, RECORD_SCHEMA)
)
EVENT_VALIDATOR = Draft202012Validator(EVENT_SCHEMA, registry=REGISTRY)
RECORD_VALIDATOR = Draft202012Validator(RECORD_SCHEMA, registry=REGISTRY)


@pytest.mark.parametrize("name", schema_names())
def test_every_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema"


def test_schema_types_and_fields_match_the_decoder_table() -> None:
    assert EVENT_SCHEMA["properties"]["type"]["enum"] == list(DATA_FIELDS)
    for event_type, fields in DATA_FIELDS.items():
        data_schema = EVENT_SCHEMA["$defs"][f"data.{event_type}"]
        assert set(data_schema["properties"]) == {f.name for f in fields}
        assert set(data_schema.get("required", [])) == {f.name for f in fields if f.required}
    assert RECORD_SCHEMA["oneOf"][1]["maxItems"] == MAX_BATCH_EVENTS


def readme_examples() -> list[Any]:
    blocks = re.findall(r"```json\n(.*?)\n```", README.read_text(encoding="utf-8"), re.DOTALL)
    return [orjson.loads(block) for block in blocks]


def test_readme_has_one_example_per_event_type() -> None:
    types = {doc["type"] for doc in readme_examples() if isinstance(doc, dict)}
    assert types == set(DATA_FIELDS)


@pytest.mark.parametrize("example", readme_examples(), ids=lambda doc: str(type(doc).__name__))
def test_readme_examples_validate_and_decode(example: Any) -> None:
    RECORD_VALIDATOR.validate(example)
    result = decode_record(orjson.dumps(example), FAR_FUTURE_MS)
    assert not result.rejections
    assert len(result.events) == (len(example) if isinstance(example, list) else 1)


def test_generated_events_validate_and_poison_does_not() -> None:
    now = "2026-03-02T00:00:00Z"
    checked = 0
    for line, kind in generate_records(6, 14, seed=5, now=now, bad_rate=0.05, dup_rate=0.05):
        if not kind.startswith(POISON_PREFIX):
            doc = orjson.loads(line)
            EVENT_VALIDATOR.validate(doc)
            checked += 1
        elif kind == POISON_PREFIX + "unknown_type":
            assert not EVENT_VALIDATOR.is_valid(orjson.loads(line))
        elif kind == POISON_PREFIX + "schema_violation":
            doc = orjson.loads(line)
            # JSON Schema counts 2.0 as an integer; the decoder (spec 9) does not.
            if not isinstance(doc.get("data", {}).get("count"), float):
                assert not EVENT_VALIDATOR.is_valid(doc)
    assert checked > 1000


# --- decoder and schema agree (hypothesis) --------------------------------------------------
# Left out because a JSON Schema cannot say them: integral floats for integers (5.0),
# impossible dates (02-30), the clock (future_timestamp), a time ending in "\n" (a
# schema pattern's "$" allows it), numbers overflowing a double.

STRINGS = st.sampled_from(["x", "org-1", "", 5, None, ["a"]])
TIMES = st.sampled_from(
    [
        "2026-01-31T23:59:59Z",
        "2026-01-31t23:59:59.9999z",
        "2026-01-31T23:59:59+23:59",
        "2026-01-31T23:59:60Z",
        "2026-01-31 23:59:59Z",
        "2026-01-31T24:00:00Z",
        "2026-01-31T23:59:59+24:00",
        "2026-01-31T23:59:59",
        "2026-13-01T00:00:00Z",
        "2026-01-31T23:59:59.Z",
        1,
    ]
)
COUNTS = st.sampled_from([1, 2, 1_000_000_000, 1_000_000_001, 0, -1, 2.5, True, "1", None])
QUANTITIES = st.sampled_from([0, 7, 1_000_000_000, 1_000_000_001, -1, 0.5, False, "3"])
AMOUNTS = st.sampled_from([0, 0.1, 1830.5, 10**12, 1e12, 10**12 + 1, 1e12 + 0.5, -0.1, True, "1"])
CONFIG_VALUES = st.sampled_from([True, False, 0, -1e12, 1e12, 72.5, -(10**12) - 1, "on", None])
PRODUCT_LISTS = st.sampled_from([[], ["a"], ["a", "b"], ["a", ""], [1], "a", None])

FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "_non_empty_string": STRINGS,
    "_count": COUNTS,
    "_quantity": QUANTITIES,
    "_amount": AMOUNTS,
    "_config_value": CONFIG_VALUES,
    "_severity": st.sampled_from(["warning", "critical", "info", "", 1]),
    "_learning_kind": st.sampled_from(["badge", "trail", "certification", "course", None]),
    "_products": PRODUCT_LISTS,
}
GOOD_VALUES: dict[str, Any] = {
    "_non_empty_string": "x",
    "_count": 3,
    "_quantity": 0,
    "_amount": 12.5,
    "_config_value": True,
    "_severity": "critical",
    "_learning_kind": "trail",
    "_products": ["sales_cloud"],
}


@st.composite
def candidate_events(draw: st.DrawFn) -> dict[str, Any]:
    event_type = draw(st.sampled_from([*DATA_FIELDS, "invoice.paid"]))
    doc: dict[str, Any] = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "s",
        "type": event_type,
        "subject": "org-1",
        "time": "2026-01-01T00:00:00Z",
    }
    for name in ("id", "source", "subject", "time", "specversion"):
        roll = draw(st.integers(0, 29))
        if roll == 0:
            del doc[name]
        elif roll <= 2:
            doc[name] = draw(
                TIMES
                if name == "time"
                else st.sampled_from(["0.3", 1.0])
                if name == "specversion"
                else STRINGS
            )
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return doc  # no data
    if shape == 1:
        doc["data"] = draw(st.sampled_from([None, [], "x", 3]))
        return doc
    data: dict[str, Any] = {"unknown": draw(st.sampled_from([1, "x", None, [1e300]]))}
    for spec in DATA_FIELDS.get(event_type, ()):
        if draw(st.integers(0, 5)) == 0:
            continue  # field left out
        strategy = FIELD_VALUES[spec.check.__name__]
        # Half the time a known-good value, so fully valid events are common too.
        good = draw(st.booleans())
        data[spec.name] = GOOD_VALUES[spec.check.__name__] if good else draw(strategy)
    doc["data"] = data
    return doc


@settings(max_examples=3000)
@given(candidate_events())
def test_decoder_and_schema_agree(doc: dict[str, Any]) -> None:
    schema_ok = EVENT_VALIDATOR.is_valid(doc)
    result = decode_record(orjson.dumps(doc), FAR_FUTURE_MS)
    decoder_ok = not result.rejections
    assert schema_ok == decoder_ok, (result.rejections, list(EVENT_VALIDATOR.iter_errors(doc)))
