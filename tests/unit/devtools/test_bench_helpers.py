"""Unit tests of the bench's pure helpers: no broker, no worker."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devtools.bench.events import (
    BENCH_MONTH_END_MS,
    BENCH_MONTH_START_MS,
    MONTH_CLOSE_TICK_MS,
    ShiftedClock,
    array_records,
    batched_records,
    check_wall_clock,
    heavy_org_lines,
    synthetic_events,
    tick_line,
)
from devtools.bench.heavy_org import encode_us, org_value_from_lines, written_bytes
from devtools.bench.kafka_io import TopicScan, merge_scans
from devtools.bench.latency import latency_of
from devtools.bench.measure import (
    bootstrap_port,
    classify_topic,
    listening_inodes,
    machine_busy_seconds,
    parse_machine_busy_ticks,
    parse_stat_cpu_seconds,
    percentile,
    pid_listening_on,
    process_cpu_seconds,
    speedup_ceiling,
)
from devtools.bench.report import format_table
from devtools.bench.scorer import CpuSample, Measured, Window, combine
from scoring.timeutil import format_time_ms, month_of
from streams.codec.decoding import decode_record

DECODER_NOW_MS = MONTH_CLOSE_TICK_MS + 86_400_000


# --- percentiles -------------------------------------------------------------------------


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1 .. 100
    assert percentile(values, 0.0) == 1.0
    assert percentile(values, 0.5) == 51.0  # round(0.5 * 99) = 50 -> the 51st value
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(0, 1))
def test_percentile_is_a_member_within_bounds(values: list[float], fraction: float) -> None:
    ordered = sorted(values)
    got = percentile(ordered, fraction)
    assert got in ordered
    assert ordered[0] <= got <= ordered[-1]


# --- /proc parsing -----------------------------------------------------------------------


def test_stat_cpu_seconds_counts_fields_after_the_command_name() -> None:
    # The command name may hold spaces and ")": fields are counted after the last ")".
    stat = "4242 (java (kafka) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 60"
    assert parse_stat_cpu_seconds(stat, 100) == pytest.approx(3.0)


def test_process_cpu_seconds_of_this_process_and_of_none() -> None:
    seconds = process_cpu_seconds(os.getpid())
    assert seconds is not None and seconds >= 0.0
    assert process_cpu_seconds(None) is None


def test_machine_busy_ticks_leave_out_idle_and_iowait() -> None:
    stat = "cpu  100 5 20 9000 70 1 2 3 0 0\ncpu0 50 2 10 4500 35 0 1 1 0 0\n"
    assert parse_machine_busy_ticks(stat) == 100 + 5 + 20 + 1 + 2 + 3
    with pytest.raises(ValueError):
        parse_machine_busy_ticks("intr 1 2 3\n")
    busy = machine_busy_seconds()
    assert busy is not None and busy > 0


PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:C5F1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1
   1: 0100007F:C5F1 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 31338 1
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1
"""


def test_listening_inodes_only_listen_state_on_the_port() -> None:
    assert listening_inodes(PROC_NET_TCP, 0xC5F1) == {31337}
    assert listening_inodes(PROC_NET_TCP, 22) == {555}
    assert listening_inodes(PROC_NET_TCP, 9092) == set()


def test_pid_listening_on_a_fake_proc(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp").write_text(PROC_NET_TCP)
    fds = tmp_path / "4242" / "fd"
    fds.mkdir(parents=True)
    (fds / "7").symlink_to("socket:[31337]")
    (tmp_path / "self").mkdir()
    assert pid_listening_on(0xC5F1, proc=tmp_path) == 4242
    assert pid_listening_on(22, proc=tmp_path) is None  # no process holds inode 555


def test_bootstrap_port() -> None:
    assert bootstrap_port("127.0.0.1:50641") == 50641
    assert bootstrap_port("a:1,b:2") == 1
    assert bootstrap_port("nohost") is None


# --- topic classes and the ceiling -------------------------------------------------------


def test_classify_topic() -> None:
    app, output, dlq = "bench-x-1", "bench-x-1-scores", "bench-x-1-scores.dlq"
    assert classify_topic(output, app, output, dlq) == "output"
    assert classify_topic(dlq, app, output, dlq) == "dlq"
    assert classify_topic("bench-x-1-orgs-changelog", app, output, dlq) == "changelog"
    assert classify_topic("bench-x-1-events", app, output, dlq) == "internal"
    assert classify_topic("bench-x-1-__assignor-__leader", app, output, dlq) == "internal"
    assert classify_topic("bench-single-2", app, output, dlq) is None


def test_speedup_ceiling() -> None:
    # One worker kept 1.0 core busy and the broker 0.3: two cores allow 2 / 1.3.
    assert speedup_ceiling(2, 60.0, 18.0, 60.0) == pytest.approx(2 / 1.3)
    # Plenty of cores: two workers can at most double.
    assert speedup_ceiling(16, 60.0, 18.0, 60.0) == 2.0
    assert speedup_ceiling(2, 0.0, 0.0, 60.0) is None
    assert speedup_ceiling(2, 1.0, 1.0, 0.0) is None


# --- measured figures --------------------------------------------------------------------


def test_measured_figures_per_event_and_scaled_bytes() -> None:
    window = Window(CpuSample(100.0, (10.0,), 50.0), CpuSample(110.0, (18.0,), 52.0))
    output = TopicScan()
    for ts in (1_000, 2_000):
        output.add(b"org", b'{"kind":"live","x":1}', ts)
    changelog = TopicScan()
    changelog.add(b"k", b"v" * 99, 1_500)  # 100 bytes; 4 records produced, 1 read back
    measured = Measured(
        events=4,
        window=window,
        records={"output": 2, "changelog": 4, "internal": 1, "dlq": 0},
        scans={"output": output, "changelog": changelog},
    )
    figures = measured.figures("p")
    assert figures["p_worker_cpu_us_per_event"] == 2_000_000.0
    assert figures["p_broker_cpu_us_per_event"] == 500_000.0
    assert figures["p_produced_records_per_event"] == 1.75
    assert figures["p_changelog_records_per_event"] == 1.0
    assert figures["p_changelog_bytes_per_event"] == 100.0
    assert figures["p_output_bytes_per_event"] == pytest.approx(2 * 24 / 4, abs=0.1)
    assert figures["p_internal_bytes_per_event"] is None  # produced, never read back
    assert figures["p_dlq_bytes_per_event"] == 0.0
    assert figures["p_live_records_per_event"] == 0.5
    assert figures["p_window_seconds"] == 10.0


def test_combine_sums_stretches() -> None:
    def part(worker: float, broker: float, seconds: float, monthly: int) -> Measured:
        scan = TopicScan()
        for ts in range(monthly):
            scan.add(b"k", b'{"kind":"monthly"}', ts)
        window = Window(
            CpuSample(10.0, (1.0,), 2.0, 5.0),
            CpuSample(10.0 + seconds, (1.0 + worker,), 2.0 + broker, 5.0 + worker + broker),
        )
        return Measured(monthly, window, {"output": monthly}, {"output": scan})

    both = combine([part(1.0, 0.5, 2.0, 3), part(2.0, 0.5, 4.0, 5)])
    assert both.events == 8
    assert both.window.seconds == 6.0
    assert both.window.worker_cpu_s == 3.0 and both.window.broker_cpu_s == 1.0
    assert both.records["output"] == 8 and both.scans["output"].monthly == 8
    figures = both.figures("m")
    assert figures["m_machine_busy_cores"] == round(4.0 / 6.0, 2)
    assert figures["m_other_busy_cores"] == 0.0


def test_unknown_cpu_gives_none() -> None:
    window = Window(CpuSample(0.0, (None,), None), CpuSample(1.0, (2.0,), None))
    assert window.worker_cpu_s is None and window.broker_cpu_s is None


def test_merge_scans() -> None:
    a, b = TopicScan(), TopicScan()
    a.add(None, b'{"kind":"monthly"}', 5)
    b.add(b"k", b'{"kind":"monthly"}', 3)
    b.add(b"k", b"x", 9)
    merged = merge_scans([a, b])
    assert (merged.records, merged.monthly, merged.first_ts, merged.last_ts) == (3, 2, 3, 9)
    assert (merged.monthly_first_ts, merged.monthly_last_ts) == (3, 5)


def test_format_table_leaves_out_phases_not_run() -> None:
    table = format_table({"raw_events_per_s": 12_345, "heavy_org_flush_us": None})
    assert "12,345" in table and "n/a" in table
    assert "single-event" not in table


# --- events ------------------------------------------------------------------------------


@given(orgs=st.integers(1, 40), count=st.integers(1, 300))
def test_synthetic_events_stay_in_the_bench_month(orgs: int, count: int) -> None:
    for _, line in synthetic_events(orgs, count):
        (event,) = [e for _, e in decode_record(line, DECODER_NOW_MS).events]
        assert BENCH_MONTH_START_MS <= event.time_ms < BENCH_MONTH_END_MS
        assert month_of(event.time_ms) == month_of(BENCH_MONTH_START_MS)


def test_batched_records_stay_in_the_bench_month() -> None:
    for _, value, _ in batched_records(7, 700, 100):
        for _, event in decode_record(value, DECODER_NOW_MS).events:
            assert month_of(event.time_ms) == month_of(BENCH_MONTH_START_MS)


def test_tick_closes_the_bench_month_only() -> None:
    decoded = decode_record(tick_line(MONTH_CLOSE_TICK_MS, 3), DECODER_NOW_MS)
    assert decoded.rejections == []
    (event,) = [e for _, e in decoded.events]
    assert event.is_tick
    assert month_of(event.time_ms) == month_of(BENCH_MONTH_START_MS) + 1


def test_heavy_org_lines_are_valid_distinct_and_rising() -> None:
    lines = heavy_org_lines("org-h", 300, BENCH_MONTH_START_MS, 86_400_000, "r")
    events = [e for line in lines for _, e in decode_record(line, DECODER_NOW_MS).events]
    assert len(events) == 300
    assert len({e.id for e in events}) == 300
    assert [e.time_ms for e in events] == sorted(e.time_ms for e in events)
    assert events[0].type == "org.profile"
    records = list(array_records(b"org-h", lines, 100))
    assert [carried for _, _, carried in records] == [100, 100, 100]


def test_heavy_org_value_encodes() -> None:
    lines = heavy_org_lines("org-h", 250, BENCH_MONTH_START_MS, 86_400_000, "r")
    slot = org_value_from_lines("org-h", [lines[:100], lines[100:]], DECODER_NOW_MS)
    later = heavy_org_lines("org-h", 3, BENCH_MONTH_START_MS + 86_400_000, 3_000, "later")
    micros, size = encode_us(slot, later, 2)
    assert micros > 0 and size > 0
    assert len(slot.state.dedup) >= 250  # the ids of the last 24 h, the later ones too


def test_written_bytes_of_a_value_or_a_value_with_chunks() -> None:
    dedup = SimpleNamespace(sealed=[(1, b"c" * 30), (2, b"d" * 20)])
    assert written_bytes(b"abc") == 3
    assert written_bytes(SimpleNamespace(value=b"v" * 10, dedup=dedup)) == 60


def test_check_wall_clock() -> None:
    check_wall_clock(DECODER_NOW_MS)
    with pytest.raises(RuntimeError):
        check_wall_clock(BENCH_MONTH_START_MS)


def test_shifted_clock_and_latency_of() -> None:
    clock = ShiftedClock()
    event_ms = clock.event_ms()
    assert month_of(event_ms) == month_of(BENCH_MONTH_START_MS)
    wall = clock.wall_ms(event_ms)
    as_of = format_time_ms(event_ms).encode()
    value = b'{"kind":"live","as_of":"' + as_of + b'","x":1}'
    assert latency_of(wall + 40, value, clock.shift_ms) == 40
    assert latency_of(wall, b'{"kind":"monthly","as_of":"' + as_of + b'"}', 0) is None
