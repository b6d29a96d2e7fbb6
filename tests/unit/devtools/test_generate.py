"""``csscore generate`` (synthetic telemetry) and ``produce``'s record planning."""

from __future__ import annotations

from collections import Counter, defaultdict

import orjson
import pytest

from devtools.generate import (
    KIND_DUPLICATE,
    KIND_EVENT,
    KIND_LATE,
    KIND_OLD_REPEAT,
    POISON_PREFIX,
    TelemetryGenerator,
    generate_lines,
)
from scoring.timeutil import DAY_MS, month_of, parse_time_ms
from streams.cli.feed import plan_records, tick_event
from streams.cli.main import main
from streams.codec.decoding import MAX_RECORD_BYTES, decode_record
from streams.codec.event_types import DATA_FIELDS

NOW = "2026-07-02T00:00:00Z"


@pytest.fixture(scope="module")
def run() -> tuple[TelemetryGenerator, list[tuple[bytes, str]]]:
    generator = TelemetryGenerator(12, 15, seed=7, now=NOW, bad_rate=0.05, dup_rate=0.1)
    return generator, list(generator.records())


def test_deterministic_for_seed_and_now() -> None:
    first = list(generate_lines(3, 4, seed=11, now=NOW, bad_rate=0.05, dup_rate=0.1))
    again = list(generate_lines(3, 4, seed=11, now=NOW, bad_rate=0.05, dup_rate=0.1))
    other = list(generate_lines(3, 4, seed=12, now=NOW, bad_rate=0.05, dup_rate=0.1))
    assert first == again
    assert first != other


def test_every_valid_line_is_accepted_and_every_type_appears(
    run: tuple[TelemetryGenerator, list[tuple[bytes, str]]],
) -> None:
    generator, records = run
    types: Counter[str] = Counter()
    for line, kind in records:
        if kind.startswith(POISON_PREFIX):
            continue
        result = decode_record(line, generator.now_ms)
        assert not result.rejections, (kind, result.rejections)
        types[result.events[0][1].type] += 1
    assert set(types) == set(DATA_FIELDS)


def test_poison_rejected_with_its_intended_reason(
    run: tuple[TelemetryGenerator, list[tuple[bytes, str]]],
) -> None:
    generator, records = run
    seen: Counter[str] = Counter()
    for line, kind in records:
        if not kind.startswith(POISON_PREFIX):
            continue
        reason = kind.removeprefix(POISON_PREFIX)
        seen[reason] += 1
        result = decode_record(line, generator.now_ms)
        if reason == "too_old":  # stateful: the decoder accepts it, the core rejects it
            assert not result.rejections
        else:
            assert [r.reason for r in result.rejections] == [reason]
    assert set(seen) == {
        "invalid_json",
        "schema_violation",
        "unknown_type",
        "future_timestamp",
        "too_old",
        "too_large",
    }
    assert seen == generator.summary.poison


def test_too_old_poison_is_14_months_before_the_orgs_latest_event(
    run: tuple[TelemetryGenerator, list[tuple[bytes, str]]],
) -> None:
    _, records = run
    latest: dict[str, int] = {}
    checked = 0
    for line, kind in records:
        if kind in (KIND_EVENT, KIND_LATE):
            event = orjson.loads(line)
            if event["type"] != "clock.tick":
                time_ms = parse_time_ms(event["time"])
                latest[event["subject"]] = max(latest.get(event["subject"], time_ms), time_ms)
        elif kind == POISON_PREFIX + "too_old":
            event = orjson.loads(line)
            org_latest = latest[event["subject"]]
            assert month_of(org_latest) - month_of(parse_time_ms(event["time"])) > 13
            checked += 1
    assert checked > 0


def test_ids_unique_and_repeats_are_exact_copies(
    run: tuple[TelemetryGenerator, list[tuple[bytes, str]]],
) -> None:
    generator, records = run
    originals: dict[tuple[str, str], bytes] = {}
    kinds: Counter[str] = Counter()
    for line, kind in records:
        kinds[kind] += 1
        if kind.startswith(POISON_PREFIX):
            continue
        event = orjson.loads(line)
        key = (event["source"], event["id"])
        if kind in (KIND_DUPLICATE, KIND_OLD_REPEAT):
            assert originals[key] == line
        else:
            assert key not in originals
            originals[key] = line
    summary = generator.summary
    assert kinds[KIND_DUPLICATE] == summary.duplicates > 0
    assert kinds[KIND_OLD_REPEAT] == summary.old_repeats > 0
    assert kinds[KIND_LATE] == summary.late > 0
    assert kinds[KIND_EVENT] + kinds[KIND_LATE] == summary.events


def test_realistic_volumes_and_product_mixes(
    run: tuple[TelemetryGenerator, list[tuple[bytes, str]]],
) -> None:
    generator, records = run
    per_org_month: Counter[tuple[str, int]] = Counter()
    technical: defaultdict[str, set[str]] = defaultdict(set)
    for line, kind in records:
        if kind not in (KIND_EVENT, KIND_LATE):
            continue
        event = orjson.loads(line)
        if event["type"] == "clock.tick":
            continue
        per_org_month[(event["subject"], month_of(parse_time_ms(event["time"])))] += 1
        technical[event["subject"]].add(event["type"])
    full_months = sorted(per_org_month.values())
    median = full_months[len(full_months) // 2]
    assert 50 <= median <= 300
    commerce_only = [p.org_id for p in generator.profiles if p.products == ["commerce_cloud"]]
    for org in commerce_only:
        assert "error.occurred" not in technical[org]
    assert all(
        t <= generator.now_ms
        for t in [
            parse_time_ms(orjson.loads(line)["time"])
            for line, kind in records
            if kind == KIND_EVENT
        ]
    )


def test_default_now_is_end_of_range_plus_one_day() -> None:
    generator = TelemetryGenerator(1, 2, seed=1, start="2025-03")
    assert generator.now_ms == parse_time_ms("2025-05-01T00:00:00Z") + DAY_MS


def test_cli_writes_file_and_summary(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    import pathlib

    out = pathlib.Path(str(tmp_path)) / "out.jsonl"
    code = main(
        [
            "generate",
            "--orgs",
            "2",
            "--months",
            "2",
            "--seed",
            "3",
            "--now",
            NOW,
            "--bad-rate",
            "0.05",
            "--dup-rate",
            "0.1",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    lines = out.read_bytes().splitlines()
    expected = list(generate_lines(2, 2, seed=3, now=NOW, bad_rate=0.05, dup_rate=0.1))
    assert lines == expected
    err = capsys.readouterr().err
    assert "events=" in err
    assert "duplicates=" in err
    assert main(["generate", "--orgs", "0"]) == 2


# --- produce planning ---------------------------------------------------------------------


def _event(org: str, n: int) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": str(n),
            "source": "s",
            "type": "case.created",
            "subject": org,
            "time": "2026-01-01T00:00:00Z",
            "data": {"product": "p"},
        }
    )


def test_plan_keys_by_subject_and_passes_arrays_and_garbage_unchanged() -> None:
    array = b"[" + _event("b", 1) + b"," + _event("b", 2) + b"]"
    lines = [_event("a", 0), array, b"{not json", b"", _event("c", 3)]
    records = list(plan_records(lines, batch=1))
    assert [(r.key, r.value, r.events) for r in records] == [
        (b"a", lines[0], 1),
        (b"b", array, 2),
        (None, b"{not json", 1),
        (b"c", lines[4], 1),
    ]


def test_plan_batches_consecutive_events_of_one_org_within_limits() -> None:
    lines = [_event("a", i) for i in range(5)] + [_event("b", 9)] + [_event("a", 10)]
    records = list(plan_records(lines, batch=2))
    assert [(r.key, r.events) for r in records] == [
        (b"a", 2),
        (b"a", 2),
        (b"a", 1),
        (b"b", 1),
        (b"a", 1),
    ]
    for record in records:
        decoded = decode_record(record.value, parse_time_ms(NOW))
        assert len(decoded.events) == record.events
        assert not decoded.rejections


def test_plan_batches_stay_under_one_mib() -> None:
    big = orjson.dumps(
        {
            "specversion": "1.0",
            "id": "x",
            "source": "s",
            "type": "clock.tick",
            "subject": "a",
            "time": "2026-01-01T00:00:00Z",
            "pad": "x" * 300_000,
        }
    )
    records = list(plan_records([big] * 7, batch=100))
    assert sum(r.events for r in records) == 7
    assert all(len(r.value) <= MAX_RECORD_BYTES for r in records)
    assert len(records) == 3


def test_tick_event_is_a_valid_tick() -> None:
    time_ms = parse_time_ms(NOW)
    first, second = tick_event(time_ms, 0), tick_event(time_ms, 1)
    [(_, tick)] = decode_record(first, time_ms).events
    assert tick.is_tick
    assert tick.time_ms == time_ms
    assert orjson.loads(first)["id"] != orjson.loads(second)["id"]
