"""Fuzzing the decoder and the offline scorer: 10,000+ generated inputs.

Inputs are near-valid on purpose (real event shapes from every type of the catalog,
then mutated, truncated, batched, repeated, dated years apart), so the fuzzing reaches
the checks behind the JSON parse. Properties: no unhandled exception; every rejection has
a reason code (``REASONS``, which includes the stateful ``too_old``) and a detail; the
offline scorer accounts for every event exactly once (accepted, duplicate or rejected).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.timeutil import DAY_MS, format_time_ms, parse_time_ms
from streams.codec.catalog import load_catalog
from streams.codec.decoding import REASONS, decode_record
from streams.codec.event_types import DATA_FIELDS
from streams.pipeline.offline import score_lines

NOW_MS = parse_time_ms("2026-11-15T12:00:00Z")
CATALOG = load_catalog(None)
DECODER_EXAMPLES = 6_500
SCORER_EXAMPLES = 3_500  # each a whole input of up to 6 lines

# A valid data payload per event type (the decoder's own table lists the fields).
SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "org.profile": {"products": ["sales_cloud", "service_cloud"]},
    "license.purchased": {"product": "sales_cloud", "quantity": 10},
    "license.activated": {"product": "sales_cloud", "count": 3},
    "license.deactivated": {"product": "sales_cloud", "count": 1},
    "credits.provisioned": {"product": "data_cloud", "credits": 1000},
    "credits.consumed": {"product": "data_cloud", "credits": 12.5},
    "work_order.created": {"product": "field_service", "count": 2},
    "case.created": {"product": "service_cloud", "count": 2},
    "order.placed": {"product": "commerce_cloud", "count": 1},
    "feature.used": {"product": "sales_cloud", "feature": "forecasting"},
    "review.completed": {"program": "success", "review": "architecture"},
    "learning.completed": {"kind": "badge"},
    "coaching.attended": {"topic": "adoption"},
    "error.occurred": {"source": "apex", "count": 4},
    "performance.sampled": {"metric": "page_load_ms", "value": 850, "count": 10},
    "alert.triggered": {"severity": "critical", "metric": "error_rate"},
    "customization.reviewed": {},
    "config.changed": {"setting": "mfa", "value": True},
    "clock.tick": {},
}
assert set(SAMPLE_DATA) == set(DATA_FIELDS)

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=5,
)
ATTRIBUTES = st.sampled_from(
    ["specversion", "id", "source", "type", "subject", "time", "data", "extra"]
)
DATA_KEYS = st.sampled_from(
    ["product", "products", "count", "quantity", "credits", "value", "kind", "severity", "x"]
)
# Event times from about two years before NOW to three days after (future_timestamp).
TIMES = st.integers(NOW_MS - 760 * DAY_MS, NOW_MS + 3 * DAY_MS)


@st.composite
def events(draw: st.DrawFn, orgs: int = 3) -> dict[str, Any]:
    """A valid event of any type, then zero to three mutations."""
    event_type = draw(st.sampled_from(sorted(SAMPLE_DATA)))
    doc: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"e-{draw(st.integers(0, 40))}",  # small id space: duplicates happen
        "source": "fuzz/app",
        "type": event_type,
        "subject": f"org-{draw(st.integers(0, orgs - 1))}",
        "time": format_time_ms(draw(TIMES)),
        "data": dict(SAMPLE_DATA[event_type]),
    }
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            doc[draw(ATTRIBUTES)] = draw(JSON_VALUES)
        elif kind == 1 and isinstance(doc.get("data"), dict):
            doc["data"][draw(DATA_KEYS)] = draw(JSON_VALUES)
        elif kind == 2:
            doc.pop(draw(ATTRIBUTES), None)
        else:  # a time that is almost RFC 3339
            text = format_time_ms(draw(TIMES))
            cut = draw(st.integers(0, len(text)))
            doc["time"] = text[:cut] + draw(st.text(max_size=3)) + text[cut + 1 :]
    return doc


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """One input line: an event, a batch, bytes, a damaged event, or blank."""
    choice = draw(st.integers(0, 9))
    if choice <= 5:
        return orjson.dumps(draw(events()))
    if choice == 6:
        return orjson.dumps(draw(st.lists(events(), max_size=5)))
    if choice == 7:
        return draw(st.binary(max_size=60))
    if choice == 8:
        text = orjson.dumps(draw(events()))
        cut = draw(st.integers(0, len(text)))
        return text[:cut] + draw(st.binary(max_size=4)) + text[cut + 1 :]
    return b"   "


def _items_of(line: bytes) -> int:
    """How many events and rejections the decoder makes of a line (0 for a blank one)."""
    if not line.strip():
        return 0
    decoded = decode_record(line, NOW_MS)
    return len(decoded.events) + len(decoded.rejections)


@settings(
    max_examples=DECODER_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(lines())
def test_decoder_never_raises_and_every_rejection_has_a_reason(line: bytes) -> None:
    decoded = decode_record(line, NOW_MS)
    if line.strip():
        assert decoded.events or decoded.rejections
    for rejection in decoded.rejections:
        assert rejection.reason in REASONS and rejection.reason != "too_old"
        assert rejection.detail
    for _, event in decoded.events:
        # What the decoder accepts is within the time window of spec 9.
        assert event.time_ms <= NOW_MS + DAY_MS


@settings(
    max_examples=SCORER_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(lines(), max_size=6))
def test_offline_scorer_never_raises_and_accounts_for_every_event(batch: list[bytes]) -> None:
    result = score_lines(
        batch, CATALOG, grace_ms=3_600_000, dedup_horizon_ms=86_400_000, now_ms=NOW_MS
    )
    items = sum(_items_of(line) for line in batch)
    # Every event or rejected element is counted once: accepted, duplicate or rejected.
    assert result.accepted + result.duplicates + result.rejected == items
    assert len(result.rejections) == result.rejected
    for rejection in result.rejections:
        assert rejection.reason in REASONS  # too_old included
        assert 1 <= rejection.line <= len(batch)
        assert rejection.detail
    live = Counter(record["org_id"] for record in result.records if record["kind"] == "live")
    assert all(count == 1 for count in live.values())
    assert {record["org_id"] for record in result.records} <= set(live)
