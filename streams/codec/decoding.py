"""Record bytes -> validated events, or rejections with a reason code (spec sections 7, 9).

The decoder is stateless: it decides ``too_large``, ``invalid_json``, ``schema_violation``,
``unknown_type`` and ``future_timestamp``. ``too_old`` and duplicates depend on an org's
history, so the scoring core decides them where that state lives.

Checks run in the order of spec 9 and the first failing one gives the reason:
size, JSON syntax, envelope (``specversion``, required attributes, time format, subject of
a batch element), the type, the type's ``data``, then the future-timestamp check.

Validation is hand-written and driven by a per-type table (``DATA_FIELDS``) rather than a
generic JSON Schema engine: it must run at several hundred thousand events per second per
core (``benchmarks/bench_decode.py`` measures it), and ``tests/contract`` checks that it
agrees with the JSON Schemas in ``schemas/`` wherever a schema can express a rule.

This is the reference decoder: the one definition of every decision, reason and detail.
The pipeline calls ``streams.codec.fast_decode.decode_record``, which decodes plainly valid
records with msgspec's typed structs and hands everything else to this function, with the
same result for every input (``tests/unit/streams/codec/test_fast_decode.py``).

Throughput (``benchmarks/bench_decode.py``, generated events, CPU time of one core on a
shared 2-core machine under load, 2026-11-27): 115,000-180,000 valid events/s for single
events and 170,000-220,000 in 100-event batches (``orjson.loads`` alone: 700,000-830,000).
Per event: parse ~1 us, envelope + data checks ~2 us, time ~1 us (cached date and clock
fields), Event ~0.5 us.

A ``schema_violation`` detail starts with the JSON path of the first problem, relative to
the event (``$.data.count: ...``); the element's position in a batch is ``Rejection.index``.
Details never quote the payload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from scoring.events import Event
from scoring.timeutil import DAY_MS, InvalidTime, parse_time_ms
from streams.codec.event_types import (
    EMPTY,
    FIELD_ROWS,
    NEEDS_DATA,
    Violation,
    schema_violation,
)

MAX_RECORD_BYTES = 1024 * 1024
MAX_BATCH_EVENTS = 10_000
# What a too_large rejection keeps of the record: enough to diagnose, small enough for the DLQ.
TOO_LARGE_KEEP_BYTES = 64 * 1024
# Spec 9: an event more than one day ahead of "now" is a future_timestamp.
FUTURE_TOLERANCE_MS = DAY_MS

REASONS = (
    "invalid_json",
    "schema_violation",
    "unknown_type",
    "too_large",
    "future_timestamp",
    "too_old",
)

@dataclass(frozen=True, slots=True)
class Rejection:
    """One dead-lettered item: a whole record (index None) or one element of a batch."""

    reason: str
    detail: str  # never contains the payload; for schema_violation starts with a JSON path
    index: int | None  # element index within a batch record, None for the whole record
    raw: bytes  # what goes to the DLQ as value: the element re-encoded, or the record


class DecodedRecord(NamedTuple):
    """Valid events in record order, each with its index within the record, and the
    rejected items. A named tuple: the fast path makes one per record, and a tuple is made
    at a fraction of a dataclass's cost."""

    events: list[tuple[int, Event]]
    rejections: list[Rejection]


_TYPE_NAME_IN_DETAIL = 64  # an unknown type is quoted, cut to this length


# Event is a frozen dataclass; its generated __init__ goes through object.__setattr__ per
# field, which costs about a microsecond per event. Setting the slots directly does the
# same thing, faster (the decoder builds every event of the stream).
_event_new = Event.__new__
_set_type, _set_subject, _set_source, _set_id, _set_time, _set_data = (
    Event.__dict__[name].__set__ for name in ("type", "subject", "source", "id", "time_ms", "data")
)


def _new_event(
    event_type: str, subject: str, source: str, event_id: str, time_ms: int, data: dict[str, object]
) -> Event:
    event = _event_new(Event)
    _set_type(event, event_type)
    _set_subject(event, subject)
    _set_source(event, source)
    _set_id(event, event_id)
    _set_time(event, time_ms)
    _set_data(event, data)
    return event


_DAY_CACHE: dict[str, int] = {}  # "YYYY-MM-DD" -> epoch ms of its midnight, valid dates only
_DAY_CACHE_LIMIT = 50_000  # about 137 years of days; cleared when full (bounded memory)


# The common shape only (upper-case T and Z); the date and the clock are each checked
# once per distinct value through the caches below. Group 3 keeps the first three
# fraction digits: finer ones are truncated, never rounded (spec 9).
_COMMON_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,3})\d*)?Z\Z", re.ASCII
)
_CLOCK_CACHE: dict[str, int] = {}  # "HH:MM:SS" -> ms since midnight; at most 86,400 entries


def _clock_ms(clock: str) -> int | None:
    """Milliseconds since midnight of a valid ``HH:MM:SS`` (cached), else None."""
    hour, minute, second = int(clock[0:2]), int(clock[3:5]), int(clock[6:8])
    if hour > 23 or minute > 59 or second > 59:
        return None
    _CLOCK_CACHE[clock] = value = ((hour * 60 + minute) * 60 + second) * 1000
    return value


def _parse_time(text: str) -> int:
    """``parse_time_ms`` with a fast path for the common ``...THH:MM:SS[.f+]Z`` form.

    The general parser (regex, calendar check, offsets) costs several microseconds, a large
    share of the decoder's budget. The fast path validates each distinct date and clock
    once (cached; both caches are bounded) and reads only the fraction per event; anything
    else, including every invalid time, goes to ``parse_time_ms``, which stays the single
    definition of the format (a property test checks that both agree).
    """
    match = _COMMON_TIME.match(text)
    if match is None:
        return parse_time_ms(text)
    date, clock, fraction = match.groups()
    day_ms = _DAY_CACHE.get(date)
    if day_ms is None:
        day_ms = parse_time_ms(date + "T00:00:00Z")  # raises InvalidTime for a bad date
        if len(_DAY_CACHE) >= _DAY_CACHE_LIMIT:
            _DAY_CACHE.clear()
        _DAY_CACHE[date] = day_ms
    clock_ms = _CLOCK_CACHE.get(clock)
    if clock_ms is None:
        clock_ms = _clock_ms(clock)
        if clock_ms is None:
            return parse_time_ms(text)  # raises with the general message
    if fraction is None:
        return day_ms + clock_ms
    return day_ms + clock_ms + int((fraction + "00")[:3])


def _decode_event(doc: object, now_ms: int, batch_subject: str | None) -> Event:
    """Validate one parsed event; raise Violation with the first problem."""
    if type(doc) is not dict:
        raise schema_violation("$", "an event must be a JSON object")
    get = doc.get
    if get("specversion") != "1.0":
        raise schema_violation("$.specversion", 'must be "1.0"')
    event_id = get("id")
    if type(event_id) is not str or not event_id:
        raise schema_violation("$.id", "must be a non-empty string")
    source = get("source")
    if type(source) is not str or not source:
        raise schema_violation("$.source", "must be a non-empty string")
    event_type = get("type")
    if type(event_type) is not str or not event_type:
        raise schema_violation("$.type", "must be a non-empty string")
    subject = get("subject")
    if type(subject) is not str or not subject:
        raise schema_violation("$.subject", "must be a non-empty string")
    if batch_subject is not None and subject != batch_subject:
        raise schema_violation("$.subject", "differs from the subject of the batch's first element")
    time_text = get("time")
    if type(time_text) is not str:
        raise schema_violation("$.time", "must be an RFC 3339 string")
    try:
        time_ms = _parse_time(time_text)
    except InvalidTime as exc:
        raise schema_violation("$.time", str(exc)) from None
    data = get("data", EMPTY)
    if type(data) is not dict:
        raise schema_violation("$.data", "must be an object")

    fields = FIELD_ROWS.get(event_type)
    if fields is None:
        shown = event_type[:_TYPE_NAME_IN_DETAIL]
        raise Violation("unknown_type", f"$.type: unknown event type {shown!r}")
    if not data and event_type in NEEDS_DATA and "data" not in doc:
        raise schema_violation("$.data", "is required for this type")
    validated: dict[str, object] = {}
    for name, check, required, path in fields:
        value = data.get(name, EMPTY)
        if value is EMPTY:
            if required:
                raise schema_violation(path, "is required")
            continue
        validated[name] = check(path, value)

    if time_ms > now_ms + FUTURE_TOLERANCE_MS:
        raise Violation("future_timestamp", "$.time: more than 1 day after the decoder's clock")
    return _new_event(event_type, subject, source, event_id, time_ms, validated)


def _element_bytes(element: Any) -> bytes:
    """A batch element re-encoded for the DLQ (it parsed, so it encodes)."""
    try:
        return orjson.dumps(element)
    except (TypeError, orjson.JSONEncodeError):  # pragma: no cover - defensive
        return b""


def decode_record(value: bytes, now_ms: int) -> DecodedRecord:
    """Decode one Kafka record value or one input line (stateless; too_old is checked by
    the scoring core where the org's state lives)."""
    result = DecodedRecord([], [])
    size = len(value)
    if size > MAX_RECORD_BYTES:
        result.rejections.append(
            Rejection(
                "too_large",
                f"record is {size} bytes, over the {MAX_RECORD_BYTES}-byte limit",
                None,
                bytes(value[:TOO_LARGE_KEEP_BYTES]),
            )
        )
        return result
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        # orjson's messages name the problem and its position, never the input text.
        result.rejections.append(
            Rejection(
                "invalid_json", f"not valid JSON: {exc.msg} at char {exc.pos}", None, bytes(value)
            )
        )
        return result

    if type(doc) is dict:
        try:
            result.events.append((0, _decode_event(doc, now_ms, None)))
        except Violation as problem:
            result.rejections.append(Rejection(problem.reason, problem.detail, None, bytes(value)))
        return result
    if type(doc) is not list:
        result.rejections.append(
            Rejection(
                "schema_violation",
                "$: must be an event object or an array of events",
                None,
                bytes(value),
            )
        )
        return result
    if not doc:
        result.rejections.append(
            Rejection(
                "schema_violation", "$: a batch must hold at least one event", None, bytes(value)
            )
        )
        return result
    if len(doc) > MAX_BATCH_EVENTS:
        result.rejections.append(
            Rejection(
                "too_large",
                f"batch holds {len(doc)} events, over the {MAX_BATCH_EVENTS}-event limit",
                None,
                bytes(value[:TOO_LARGE_KEEP_BYTES]),
            )
        )
        return result

    # Spec 7: a batch is one org's; its org is the subject of the first element. When the
    # first element has no usable subject it is rejected itself and the next element that
    # has one sets the org, so one bad head element does not reject the whole batch.
    batch_subject: str | None = None
    append_event = result.events.append
    for index, element in enumerate(doc):
        try:
            event = _decode_event(element, now_ms, batch_subject)
        except Violation as problem:
            if batch_subject is None and type(element) is dict:
                candidate = element.get("subject")
                if type(candidate) is str and candidate:
                    batch_subject = candidate
            result.rejections.append(
                Rejection(problem.reason, problem.detail, index, _element_bytes(element))
            )
            continue
        if batch_subject is None:
            batch_subject = event.subject
        append_event((index, event))
    return result
