"""The stateless decoder: every rule of spec 9 (table-driven), batches, fuzzing."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.timeutil import DAY_MS, InvalidTime, parse_time_ms
from streams.codec.decoding import (
    MAX_BATCH_EVENTS,
    MAX_RECORD_BYTES,
    REASONS,
    TOO_LARGE_KEEP_BYTES,
    _parse_time,
    decode_record,
)
from streams.codec.event_types import DATA_FIELDS

NOW_MS = parse_time_ms("2026-06-15T12:00:00Z")

BASE: dict[str, Any] = {
    "specversion": "1.0",
    "id": "e-1",
    "source": "service/app",
    "type": "case.created",
    "subject": "org-1",
    "time": "2026-06-01T10:00:00Z",
    "data": {"product": "service_cloud", "count": 2},
}


def event(**changes: Any) -> dict[str, Any]:
    """BASE with top-level changes; a value of ``...`` deletes the attribute."""
    doc = copy.deepcopy(BASE)
    for name, value in changes.items():
        if value is ...:
            doc.pop(name, None)
        else:
            doc[name] = value
    return doc


def with_data(event_type: str, data: Any) -> dict[str, Any]:
    return event(type=event_type, data=data)


def decode_one(doc: Any) -> tuple[str | None, str]:
    """(reason or None, detail) of a single-event record."""
    result = decode_record(orjson.dumps(doc), NOW_MS)
    if result.rejections:
        assert not result.events
        return result.rejections[0].reason, result.rejections[0].detail
    assert len(result.events) == 1
    return None, ""


def test_valid_event_decodes_to_event_with_validated_data() -> None:
    result = decode_record(
        orjson.dumps(event(data={"product": "p", "count": 3, "extra": [1]})), NOW_MS
    )
    assert not result.rejections
    [(index, decoded)] = result.events
    assert index == 0
    assert decoded.type == "case.created"
    assert decoded.subject == "org-1"
    assert decoded.source == "service/app"
    assert decoded.id == "e-1"
    assert decoded.time_ms == parse_time_ms("2026-06-01T10:00:00Z")
    assert dict(decoded.data) == {"product": "p", "count": 3}  # unknown fields dropped


# --- envelope ----------------------------------------------------------------------------

ENVELOPE_CASES = [
    (event(specversion="0.3"), "$.specversion"),
    (event(specversion=1.0), "$.specversion"),
    (event(specversion=...), "$.specversion"),
    (event(id=...), "$.id"),
    (event(id=""), "$.id"),
    (event(id=7), "$.id"),
    (event(source=""), "$.source"),
    (event(type=""), "$.type"),
    (event(type=None), "$.type"),
    (event(subject=""), "$.subject"),
    (event(subject=...), "$.subject"),
    (event(time=...), "$.time"),
    (event(time=1748772000000), "$.time"),
    (event(data=[1, 2]), "$.data"),
    (event(data=None), "$.data"),
    (event(data="x"), "$.data"),
]


@pytest.mark.parametrize(("doc", "path"), ENVELOPE_CASES)
def test_envelope_violations_name_their_path(doc: dict[str, Any], path: str) -> None:
    reason, detail = decode_one(doc)
    assert reason == "schema_violation"
    assert detail.startswith(path + ":")


TIME_CASES = [
    ("2026-06-01T10:00:00Z", "2026-06-01T10:00:00Z"),
    ("2026-06-01t10:00:00z", "2026-06-01T10:00:00Z"),
    ("2026-06-01T10:00:00+02:00", "2026-06-01T08:00:00Z"),
    ("2026-06-01T10:00:00-00:30", "2026-06-01T10:30:00Z"),
    ("2026-06-01T23:59:59.9999999Z", "2026-06-01T23:59:59.999Z"),  # truncated, not rounded
    ("2026-06-01T10:00:00.5Z", "2026-06-01T10:00:00.500Z"),
    ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"),
]


@pytest.mark.parametrize(("text", "expected"), TIME_CASES)
def test_time_forms_accepted_and_truncated(text: str, expected: str) -> None:
    result = decode_record(orjson.dumps(event(time=text)), NOW_MS)
    assert not result.rejections
    assert result.events[0][1].time_ms == parse_time_ms(expected)


BAD_TIMES = [
    "2026-06-01T23:59:60Z",  # leap second
    "2026-06-01 10:00:00Z",  # space separator
    "2026-06-0110:00:00Z",  # no T
    "2026-06-01T10:00Z",  # no seconds
    "2026-06-01T10:00:00",  # no offset
    "2026-06-01T10:00:00+24:00",  # offset hour
    "2026-06-01T10:00:00+02:60",
    "2026-06-01T10:00:00.Z",  # empty fraction
    "2026-02-30T10:00:00Z",  # no such day
    "2025-02-29T10:00:00Z",
    "2026-13-01T10:00:00Z",
    "2026-06-01T24:00:00Z",
    "2026-06-01T10:00:00ZZ",
    "２０２６-06-01T10:00:00Z",  # non-ASCII digits
    "",
]


@pytest.mark.parametrize("text", BAD_TIMES)
def test_bad_times_are_schema_violations(text: str) -> None:
    reason, detail = decode_one(event(time=text))
    assert reason == "schema_violation"
    assert detail.startswith("$.time:")


# --- type and data ------------------------------------------------------------------------

DATA_CASES: list[tuple[str, Any, str]] = [
    ("case.created", {"product": "x", "count": 0}, "$.data.count"),
    ("case.created", {"product": "x", "count": 5.0}, "$.data.count"),
    ("case.created", {"product": "x", "count": True}, "$.data.count"),
    ("case.created", {"product": "x", "count": "3"}, "$.data.count"),
    ("case.created", {"product": "x", "count": 1_000_000_001}, "$.data.count"),
    ("case.created", {"product": ""}, "$.data.product"),
    ("case.created", {"count": 1}, "$.data.product"),
    ("license.purchased", {"product": "x", "quantity": -1}, "$.data.quantity"),
    ("license.purchased", {"product": "x", "quantity": 2.5}, "$.data.quantity"),
    ("license.purchased", {"product": "x"}, "$.data.quantity"),
    ("license.activated", {"product": "x", "count": False}, "$.data.count"),
    ("credits.consumed", {"product": "x", "credits": -0.5}, "$.data.credits"),
    ("credits.consumed", {"product": "x", "credits": 1e12 + 1}, "$.data.credits"),
    ("credits.consumed", {"product": "x", "credits": True}, "$.data.credits"),
    ("credits.provisioned", {"product": "x", "credits": "10"}, "$.data.credits"),
    ("performance.sampled", {"metric": "ept_ms", "value": -1}, "$.data.value"),
    ("performance.sampled", {"metric": "ept_ms"}, "$.data.value"),
    ("performance.sampled", {"metric": "", "value": 1}, "$.data.metric"),
    ("config.changed", {"setting": "s", "value": "on"}, "$.data.value"),
    ("config.changed", {"setting": "s", "value": -1e12 - 1}, "$.data.value"),
    ("config.changed", {"setting": "s", "value": None}, "$.data.value"),
    ("config.changed", {"value": True}, "$.data.setting"),
    ("alert.triggered", {"severity": "info", "metric": "m"}, "$.data.severity"),
    ("alert.triggered", {"severity": "warning"}, "$.data.metric"),
    ("learning.completed", {"kind": "course"}, "$.data.kind"),
    ("org.profile", {"products": "sales_cloud"}, "$.data.products"),
    ("org.profile", {"products": ["a", ""]}, "$.data.products[1]"),
    ("org.profile", {"products": ["a", 3]}, "$.data.products[1]"),
    ("feature.used", {"product": "x"}, "$.data.feature"),
    ("review.completed", {"program": "p", "review": ""}, "$.data.review"),
    ("error.occurred", {"count": 1}, "$.data.source"),
    ("coaching.attended", {"topic": ""}, "$.data.topic"),
]


@pytest.mark.parametrize(("event_type", "data", "path"), DATA_CASES)
def test_data_violations_name_their_path(event_type: str, data: Any, path: str) -> None:
    reason, detail = decode_one(with_data(event_type, data))
    assert reason == "schema_violation"
    assert detail.startswith(path + ":"), detail


VALID_DATA: list[tuple[str, Any]] = [
    ("license.purchased", {"product": "x", "quantity": 0}),
    ("license.purchased", {"product": "x", "quantity": 1_000_000_000}),
    ("credits.consumed", {"product": "x", "credits": 0}),
    ("credits.consumed", {"product": "x", "credits": 1e12}),
    ("credits.consumed", {"product": "x", "credits": 0.1}),
    ("config.changed", {"setting": "s", "value": False}),
    ("config.changed", {"setting": "s", "value": -1e12}),
    ("config.changed", {"setting": "s", "value": 72.5}),
    ("org.profile", {"products": []}),
    ("coaching.attended", {}),
    ("alert.triggered", {"severity": "critical", "metric": "m"}),
    ("learning.completed", {"kind": "certification"}),
    ("performance.sampled", {"metric": "ept_ms", "value": 1830.5, "count": 250}),
]


@pytest.mark.parametrize(("event_type", "data"), VALID_DATA)
def test_boundary_values_accepted(event_type: str, data: Any) -> None:
    result = decode_record(orjson.dumps(with_data(event_type, data)), NOW_MS)
    assert not result.rejections
    assert dict(result.events[0][1].data) == data


@pytest.mark.parametrize(
    "event_type", ["customization.reviewed", "coaching.attended", "clock.tick"]
)
def test_data_may_be_absent_for_types_without_required_fields(event_type: str) -> None:
    reason, _ = decode_one(event(type=event_type, data=...))
    assert reason is None


@pytest.mark.parametrize(
    "event_type", sorted(t for t, fields in DATA_FIELDS.items() if any(f.required for f in fields))
)
def test_data_required_for_types_with_required_fields(event_type: str) -> None:
    reason, detail = decode_one(event(type=event_type, data=...))
    assert reason == "schema_violation"
    assert detail.startswith("$.data")


def test_unknown_type_after_envelope_before_data() -> None:
    assert decode_one(event(type="invoice.paid"))[0] == "unknown_type"
    # the envelope is checked first: a bad time wins over an unknown type
    assert decode_one(event(type="invoice.paid", time="bad"))[0] == "schema_violation"


def test_clock_tick_any_subject_no_data() -> None:
    result = decode_record(
        orjson.dumps(event(type="clock.tick", subject="clock", data=...)), NOW_MS
    )
    assert result.events[0][1].is_tick


def test_future_timestamp_is_more_than_one_day_after_now() -> None:
    boundary = NOW_MS + DAY_MS
    from scoring.timeutil import format_time_ms

    assert decode_one(event(time=format_time_ms(boundary)))[0] is None
    assert decode_one(event(time=format_time_ms(boundary + 1)))[0] == "future_timestamp"
    # data is checked before the clock
    late_bad = event(time=format_time_ms(boundary + DAY_MS), data={"product": ""})
    assert decode_one(late_bad)[0] == "schema_violation"


# --- JSON level ---------------------------------------------------------------------------

INVALID_JSON = [
    b"",
    b"{",
    b'{"a":NaN}',
    b'{"a":Infinity}',
    b'{"a":-Infinity}',
    b"[1e400]",
    b'{"specversion":"1.0","x":-1e400}',
    b"\xff\xfe",
    b"{'a': 1}",
    b'{"a":1,}',
]


@pytest.mark.parametrize("raw", INVALID_JSON)
def test_invalid_json_is_one_rejection_of_the_whole_record(raw: bytes) -> None:
    result = decode_record(raw, NOW_MS)
    assert [r.reason for r in result.rejections] == ["invalid_json"]
    assert result.rejections[0].index is None
    assert result.rejections[0].raw == raw


def test_overflow_in_an_unknown_field_of_a_valid_event_is_invalid_json() -> None:
    text = orjson.dumps(event())[:-1] + b',"unknown":{"deep":[1e400]}}'
    assert [r.reason for r in decode_record(text, NOW_MS).rejections] == ["invalid_json"]


@pytest.mark.parametrize("raw", [b"[]", b"3", b'"text"', b"null", b"true"])
def test_empty_batch_or_scalar_is_one_schema_violation(raw: bytes) -> None:
    result = decode_record(raw, NOW_MS)
    assert [(r.reason, r.index) for r in result.rejections] == [("schema_violation", None)]
    assert result.rejections[0].detail.startswith("$:")


def test_record_over_one_mib_is_too_large_and_truncated() -> None:
    padding = "x" * MAX_RECORD_BYTES
    raw = orjson.dumps(event(data={"product": "p", "pad": padding}))
    assert len(raw) > MAX_RECORD_BYTES
    result = decode_record(raw, NOW_MS)
    assert [r.reason for r in result.rejections] == ["too_large"]
    assert result.rejections[0].raw == raw[:TOO_LARGE_KEEP_BYTES]


def test_exactly_one_mib_is_not_too_large_but_one_more_byte_is() -> None:
    head = orjson.dumps(event())[:-1] + b',"pad":"'
    filler = MAX_RECORD_BYTES - len(head) - 2
    exact = head + b"x" * filler + b'"}'
    assert len(exact) == MAX_RECORD_BYTES
    assert not decode_record(exact, NOW_MS).rejections
    over = head + b"x" * (filler + 1) + b'"}'
    assert [r.reason for r in decode_record(over, NOW_MS).rejections] == ["too_large"]


def test_batch_of_10001_is_too_large_10000_is_not() -> None:
    # Real events of a 10,000-event batch do not fit in 1 MiB; tiny elements isolate the
    # count limit: 10,000 are checked one by one, 10,001 are one too_large.
    result = decode_record(orjson.dumps([1] * MAX_BATCH_EVENTS), NOW_MS)
    assert len(result.rejections) == MAX_BATCH_EVENTS
    assert {r.reason for r in result.rejections} == {"schema_violation"}
    raw = orjson.dumps([1] * (MAX_BATCH_EVENTS + 1))
    result = decode_record(raw, NOW_MS)
    assert [(r.reason, r.index) for r in result.rejections] == [("too_large", None)]
    assert result.rejections[0].raw == raw[:TOO_LARGE_KEEP_BYTES]
    assert not result.events


# --- batches ------------------------------------------------------------------------------


def test_bad_batch_element_rejects_only_itself_with_its_index() -> None:
    elements = [
        event(id="a"),
        event(id="b", data={"product": "x", "count": 0}),
        "not an event",
        event(id="c", type="nope"),
        event(id="d", subject="org-2"),
        event(id="e"),
    ]
    result = decode_record(orjson.dumps(elements), NOW_MS)
    assert [i for i, _ in result.events] == [0, 5]
    assert [(r.index, r.reason) for r in result.rejections] == [
        (1, "schema_violation"),
        (2, "schema_violation"),
        (3, "unknown_type"),
        (4, "schema_violation"),
    ]
    assert result.rejections[3].detail.startswith("$.subject:")
    # the DLQ value is the element itself, re-encoded
    assert orjson.loads(result.rejections[0].raw) == elements[1]
    assert orjson.loads(result.rejections[1].raw) == "not an event"


def test_batch_org_is_the_first_element_subject_even_when_it_is_rejected() -> None:
    elements = [event(id="a", type="nope"), event(id="b", subject="org-2"), event(id="c")]
    result = decode_record(orjson.dumps(elements), NOW_MS)
    assert [i for i, _ in result.events] == [2]
    assert [(r.index, r.reason) for r in result.rejections] == [
        (0, "unknown_type"),
        (1, "schema_violation"),
    ]


def test_details_never_quote_the_payload() -> None:
    secret = "SECRET-PAYLOAD-VALUE"
    docs = [
        event(data={"product": secret, "count": secret}),
        event(time=secret),
        event(specversion=secret),
        event(subject=secret, data={"product": ""}),
    ]
    for doc in docs:
        reason, detail = decode_one(doc)
        assert reason is not None
        assert secret not in detail


# --- fast time path and fuzzing -----------------------------------------------------------

TIME_TEXT = st.from_regex(
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})?\Z"
)


def assert_fast_path_agrees(text: str) -> None:
    try:
        expected: int | None = parse_time_ms(text)
    except InvalidTime:
        expected = None
    try:
        got: int | None = _parse_time(text)
    except InvalidTime:
        got = None
    assert got == expected


@settings(max_examples=1500)
@given(TIME_TEXT)
def test_fast_time_path_agrees_with_parse_time_ms(text: str) -> None:
    assert_fast_path_agrees(text)


@st.composite
def near_valid_times(draw: st.DrawFn) -> str:
    """Times whose fields straddle their limits, so the fast path is hit and missed."""
    year = draw(st.integers(1969, 2100))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = (
        draw(st.integers(0, 24)),
        draw(st.integers(0, 60)),
        draw(st.integers(0, 60)),
    )
    fraction = draw(st.sampled_from(["", ".", ".5", ".12", ".999", ".9999999", ".0001"]))
    suffix = draw(st.sampled_from(["Z", "Z", "z", "+01:00", "-23:59", ""]))
    separator = draw(st.sampled_from(["T", "T", "T", "t", " "]))
    return (
        f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}"
        f"{fraction}{suffix}"
    )


@settings(max_examples=2000)
@given(near_valid_times())
def test_fast_time_path_agrees_on_near_valid_times(text: str) -> None:
    assert_fast_path_agrees(text)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(
    ["specversion", "id", "source", "type", "subject", "time", "data", "product", "count"]
)


def _mutated_event(draw: st.DrawFn) -> Any:
    doc = event(type=draw(st.sampled_from([*DATA_FIELDS, "x.y"])))
    for _ in range(draw(st.integers(0, 3))):
        target = doc if draw(st.booleans()) or type(doc.get("data")) is not dict else doc["data"]
        target[draw(FIELD_NAMES)] = draw(JSON_VALUES)
    return doc


@st.composite
def record_bytes(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.binary(max_size=200))
    if choice == 1:
        return orjson.dumps(_mutated_event(draw))
    if choice == 2:
        return orjson.dumps([_mutated_event(draw) for _ in range(draw(st.integers(0, 4)))])
    text = orjson.dumps(_mutated_event(draw))
    cut = draw(st.integers(0, len(text)))
    return text[:cut] + draw(st.binary(max_size=8)) + text[cut:]


@settings(max_examples=2500, suppress_health_check=[HealthCheck.too_slow])
@given(record_bytes())
def test_fuzz_any_bytes_decode_or_reject_with_a_reason(raw: bytes) -> None:
    result = decode_record(raw, NOW_MS)
    assert result.events or result.rejections
    for rejection in result.rejections:
        assert rejection.reason in REASONS
        assert rejection.reason != "too_old"  # stateful: never the decoder's
        assert isinstance(rejection.detail, str)
        assert rejection.detail
    indexes = [i for i, _ in result.events] + [
        r.index for r in result.rejections if r.index is not None
    ]
    assert len(indexes) == len(set(indexes))
