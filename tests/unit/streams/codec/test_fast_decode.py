"""The msgspec fast path decides exactly what the reference decoder decides.

Every test runs both paths on the same bytes: ``fast_decode.decode_record`` (msgspec, with
the reference decoder as its fallback) and ``decoding.decode_record`` alone, and requires
the same events (index, attributes, data with the same keys in the same order and values
of the same Python types) and the same rejections (reason, detail, index, raw). Inputs
come from the decoder's own fuzz strategies and case tables, from generated telemetry, and
from strategies below that make mostly *valid* records, so the fast path is the one taken.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.generate import KIND_EVENT, TelemetryGenerator, generate_records
from scoring.events import Event
from scoring.timeutil import DAY_MS, InvalidTime, format_time_ms, parse_time_ms
from streams.codec import fast_decode
from streams.codec.decoding import (
    DecodedRecord,
    _clock_ms,
    decode_record,
)
from streams.codec.event_types import DATA_FIELDS
from tests.unit.streams.codec.test_decoding import (
    BAD_TIMES,
    DATA_CASES,
    ENVELOPE_CASES,
    INVALID_JSON,
    TIME_CASES,
    TIME_TEXT,
    VALID_DATA,
    near_valid_times,
    record_bytes,
    with_data,
)
from tests.unit.streams.codec.test_decoding import event as base_event
from tests.unit.streams.pipeline.test_offline_fuzz import SAMPLE_DATA, lines

NOW_MS = parse_time_ms("2026-11-15T12:00:00Z")
FUZZ = settings(
    max_examples=2500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _typed(value: object) -> object:
    """A value with its Python type spelled out (``1 == 1.0 == True`` otherwise)."""
    if isinstance(value, list):
        return ("list", [_typed(item) for item in value])
    return (type(value).__name__, value)


def _event_view(event: Event) -> tuple[object, ...]:
    assert type(event) is Event
    return (
        event.type,
        event.subject,
        event.source,
        event.id,
        _typed(event.time_ms),
        type(event.data).__name__,
        [(key, _typed(value)) for key, value in event.data.items()],
    )


def _view(result: DecodedRecord) -> tuple[object, ...]:
    return (
        [(index, _event_view(event)) for index, event in result.events],
        [(r.reason, r.detail, r.index, r.raw) for r in result.rejections],
    )


def assert_same(raw: bytes, now_ms: int = NOW_MS) -> DecodedRecord:
    fast = fast_decode.decode_record(raw, now_ms)
    reference = decode_record(raw, now_ms)
    assert _view(fast) == _view(reference)
    assert fast.events == reference.events and fast.rejections == reference.rejections
    return fast


# --- the decoder's own fuzz strategies and case tables ------------------------------------


@FUZZ
@given(record_bytes())
def test_same_decisions_on_the_decoder_fuzz(raw: bytes) -> None:
    assert_same(raw)


@FUZZ
@given(lines())
def test_same_decisions_on_the_offline_fuzz(line: bytes) -> None:
    assert_same(line)


CASE_DOCS: list[Any] = (
    [doc for doc, _ in ENVELOPE_CASES]
    + [base_event(time=text) for text, _ in TIME_CASES]
    + [base_event(time=text) for text in BAD_TIMES]
    + [with_data(event_type, data) for event_type, data, _ in DATA_CASES]
    + [with_data(event_type, data) for event_type, data in VALID_DATA]
)


@pytest.mark.parametrize("doc", CASE_DOCS)
def test_same_decisions_on_the_decoder_cases(doc: Any) -> None:
    assert_same(orjson.dumps(doc), parse_time_ms("2026-06-15T12:00:00Z"))
    assert_same(orjson.dumps([doc, doc]), parse_time_ms("2026-06-15T12:00:00Z"))


@pytest.mark.parametrize("raw", INVALID_JSON)
def test_same_decisions_on_invalid_json(raw: bytes) -> None:
    assert_same(raw)


def test_same_decisions_on_generated_telemetry_with_poison() -> None:
    now = "2026-03-02T00:00:00Z"
    records = generate_records(6, 14, seed=7, now=now, bad_rate=0.05, dup_rate=0.05)
    for line, _kind in records:
        assert_same(line, parse_time_ms(now))


# --- mostly valid records: the fast path decides ------------------------------------------

STRINGS = st.sampled_from(["x", "org-1", "é", "a\u0000b", "\U0001f600", "a/b", " ", "", 1])
COUNTS = st.sampled_from([1, 2, 1_000_000_000]) | st.integers(-2, 1_000_000_002) | st.just(2.0)
QUANTITIES = st.sampled_from([0, 1_000_000_000, -1, 1_000_000_001]) | st.integers(0, 10**9)
AMOUNTS = (
    st.integers(-1, 10**12 + 1)
    | st.sampled_from([10**12, 1e12, 0.0, -0.0, 1e12 + 0.0001, 2**64, 1e-320, True])
    | st.floats(min_value=-1, max_value=1.1e12, allow_nan=False)
)
CONFIG = (
    st.booleans()
    | st.integers(-(10**12) - 1, 10**12 + 1)
    | st.floats(min_value=-1.1e12, max_value=1.1e12, allow_nan=False)
    | st.sampled_from([None, "on", -(2**63) - 1])
)
CHECK_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "_non_empty_string": STRINGS,
    "_count": COUNTS,
    "_quantity": QUANTITIES,
    "_amount": AMOUNTS,
    "_config_value": CONFIG,
    "_severity": st.sampled_from(["warning", "critical", "info", ""]),
    "_learning_kind": st.sampled_from(["badge", "trail", "certification", "course"]),
    "_products": st.lists(STRINGS, max_size=3),
}
TIMES = st.integers(NOW_MS - 800 * DAY_MS, NOW_MS + 3 * DAY_MS)


@st.composite
def time_texts(draw: st.DrawFn) -> str:
    """Common ``...Z`` times mostly, and every other form of the reference grammar."""
    text = format_time_ms(draw(TIMES))
    form = draw(st.integers(0, 9))
    if form == 0:
        return text[:19] + "Z"  # no fraction
    if form == 1:
        return text[:19] + draw(st.from_regex(r"\A\.[0-9]{1,9}\Z")) + "Z"
    if form == 2:
        return text.replace("T", "t").replace("Z", "z")
    if form == 3:
        return text[:-1] + draw(st.sampled_from(["+02:00", "-00:30", "+00:00", "+24:00"]))
    if form == 4:
        return draw(near_valid_times())
    return text


@st.composite
def valid_events(draw: st.DrawFn, subject: str | None = None) -> dict[str, Any]:
    """An event whose fields are valid or at a bound; often valid as a whole."""
    event_type = draw(st.sampled_from(list(DATA_FIELDS)))
    data: dict[str, Any] = {}
    for field in DATA_FIELDS[event_type]:
        if field.required or draw(st.booleans()):
            if draw(st.integers(0, 5)) == 0:
                data[field.name] = draw(CHECK_VALUES[field.check.__name__])
            else:  # a valid value, so most events pass
                sample = SAMPLE_DATA[event_type].get(field.name)
                data[field.name] = sample if sample is not None else draw(st.integers(1, 9))
    if draw(st.integers(0, 9)) == 0:
        data["extra"] = draw(st.integers())  # unknown data field: kept out, not rejected
    keys = list(data)
    order = draw(st.permutations(keys))
    doc: dict[str, Any] = {
        "specversion": "1.0",
        "id": draw(st.sampled_from(["e-1", "e-2", "\u00e9v\u00e9nement"])),
        "source": "fuzz/app",
        "type": event_type,
        "subject": subject or draw(st.sampled_from(["org-1", "org-2"])),
        "time": draw(time_texts()),
        "data": {key: data[key] for key in order},
    }
    if not data and draw(st.booleans()):
        del doc["data"]
    if draw(st.integers(0, 14)) == 0:
        doc["datacontenttype"] = "application/json"  # unknown attribute
    names = draw(st.permutations(list(doc)))
    return {name: doc[name] for name in names}


def _with_duplicate(text: bytes, draw: st.DrawFn) -> bytes:
    """The record with one attribute or data key repeated (orjson keeps the last one)."""
    doc = json.loads(text)
    if type(doc) is not dict:
        return text
    target = doc if draw(st.booleans()) or type(doc.get("data")) is not dict else doc["data"]
    if not target:
        return text
    key = draw(st.sampled_from(sorted(target)))
    first = draw(st.sampled_from([target[key], "", 0, 1, None, "clock.tick", "1.0"]))
    inner = json.dumps(target, ensure_ascii=False)
    repeated = inner[:1] + json.dumps(key) + ":" + json.dumps(first) + "," + inner[1:]
    if target is doc:
        return repeated.encode()
    outer = json.dumps({k: (None if k == "data" else v) for k, v in doc.items()})
    return outer.replace('"data": null', '"data": ' + repeated).encode()


def _dumps(doc: Any) -> bytes:
    """JSON bytes (also of integers beyond 64 bits, which orjson cannot write)."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


@st.composite
def valid_records(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 9))
    if choice <= 4:
        return _dumps(draw(valid_events()))
    if choice <= 6:  # a batch of one org, sometimes with a stranger in it
        subject = draw(st.sampled_from(["org-1", "org-2"]))
        elements = draw(st.lists(valid_events(subject=subject), min_size=1, max_size=4))
        if draw(st.integers(0, 4)) == 0:
            elements.insert(draw(st.integers(0, len(elements))), draw(valid_events()))
        return _dumps(elements)
    text = _dumps(draw(valid_events()))
    if choice == 7:
        return _with_duplicate(text, draw)
    if choice == 8:  # other JSON spellings of the same record
        doc = json.loads(text)
        indent = draw(st.none() | st.just(1))
        spelled = json.dumps(doc, ensure_ascii=draw(st.booleans()), indent=indent)
        prefix = draw(st.sampled_from([" ", "\n", ""]))
        return (prefix + spelled.replace('"type"', '"typ\\u0065"')).encode()
    cut = draw(st.integers(0, len(text)))  # one byte changed
    return text[:cut] + draw(st.binary(min_size=1, max_size=1)) + text[cut + 1 :]


@settings(
    max_examples=4000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(valid_records())
def test_same_decisions_on_mostly_valid_records(raw: bytes) -> None:
    assert_same(raw)


@FUZZ
@given(st.from_regex(r"\A-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?\Z"))
def test_numbers_are_read_as_orjson_reads_them(number: str) -> None:
    for event_type, name in (("credits.consumed", "credits"), ("config.changed", "value")):
        doc = with_data(event_type, {"product": "p", "setting": "s", name: 0})
        text = orjson.dumps(doc).replace(f'"{name}":0'.encode(), f'"{name}":{number}'.encode())
        assert_same(text, parse_time_ms("2026-06-15T12:00:00Z"))


# --- the fast path is taken, and its time shortcut is the reference parser ----------------


def test_valid_records_never_reach_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = TelemetryGenerator(orgs=5, months=3, seed=3)
    records = [line for line, kind in generator.records() if kind == KIND_EVENT][:3000]
    docs = [orjson.loads(line) for line in records]
    by_org: dict[str, list[Any]] = {}
    for doc in docs:
        by_org.setdefault(doc["subject"], []).append(doc)
    batches = [orjson.dumps(org_docs[:50]) for org_docs in by_org.values()]
    expected = [decode_record(raw, generator.now_ms) for raw in records + batches]

    def no_fallback(value: bytes, now_ms: int) -> DecodedRecord:
        raise AssertionError("the fast path fell back on a valid record")

    monkeypatch.setattr(fast_decode, "decode_record_reference", no_fallback)
    got = [fast_decode.decode_record(raw, generator.now_ms) for raw in records + batches]
    assert [_view(result) for result in got] == [_view(result) for result in expected]
    assert sum(len(result.events) for result in got) == len(records) + sum(
        min(len(org_docs), 50) for org_docs in by_org.values()
    )


def test_time_tables_hold_every_valid_clock_and_fraction_and_nothing_else() -> None:
    assert len(fast_decode._T_HOUR_MINUTE) == 24 * 60
    assert len(fast_decode._SECOND_TAIL) == 60 * 1000
    seconds = {tail[:3] for tail in fast_decode._SECOND_TAIL}
    for hour_minute, hm_value in fast_decode._T_HOUR_MINUTE.items():
        for second in seconds:
            clock = hour_minute[1:] + second
            # the reference parser's clock arithmetic, fraction 000
            assert _clock_ms(clock) == hm_value + fast_decode._SECOND_TAIL[second + ".000Z"]
    assert _clock_ms("24:00:00") is None and _clock_ms("23:60:00") is None
    assert _clock_ms("23:59:60") is None
    for tail, value in fast_decode._SECOND_TAIL.items():
        assert tail == f":{value // 1000:02d}.{value % 1000:03d}Z"
    assert sorted(fast_decode._SECOND_TAIL.values()) == list(range(60_000))


def _assert_time_agrees(text: str) -> None:
    try:
        expected: int | None = parse_time_ms(text)
    except InvalidTime:
        expected = None
    try:
        got: int | None = fast_decode._time_ms(text)
    except InvalidTime:
        got = None
    assert got == expected


@settings(max_examples=2000)
@given(TIME_TEXT | near_valid_times() | time_texts())
def test_time_shortcut_agrees_with_parse_time_ms(text: str) -> None:
    _assert_time_agrees(text)
    _assert_time_agrees(text)  # the second time with the date cached


def test_copies_of_the_reference_doc_are_not_shared() -> None:
    raw = orjson.dumps(copy.deepcopy(with_data("org.profile", {"products": ["a", "b"]})))
    first = fast_decode.decode_record(raw, NOW_MS).events[0][1]
    second = fast_decode.decode_record(raw, NOW_MS).events[0][1]
    assert first == second and first.data is not second.data
