"""The offline scorer and ``csscore score`` (docs/scoring-rules.md sections 3, 9, 10)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.timeutil import HOUR_MS, format_time_ms, month_start_ms, parse_time_ms
from streams.cli.main import main
from streams.pipeline.offline import score_lines
from tests.scoring_support import DEFAULT_CATALOG, month, signal

DATA = Path(__file__).resolve().parents[3] / "data" / "scoring"
NOW = parse_time_ms("2026-11-27T00:00:00Z")
H = 24 * HOUR_MS


def line(
    org: str, event_type: str, time: str, event_id: str, source: str = "s", **data: Any
) -> bytes:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": event_type,
        "subject": org,
        "time": time,
    }
    if data:
        event["data"] = data
    return json.dumps(event).encode()


def tick(time: str) -> bytes:
    return line("clock", "clock.tick", time, f"tick-{time}")


def score(
    lines: list[bytes], grace_ms: int = HOUR_MS, horizon_ms: int = H, now_ms: int = NOW
) -> Any:
    return score_lines(
        lines, DEFAULT_CATALOG, grace_ms=grace_ms, dedup_horizon_ms=horizon_ms, now_ms=now_ms
    )


def by_key(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["org_id"], r["kind"], r["period"]): r for r in records}


# ----------------------------------------------------------------- seed worked examples


def test_seed_examples_file_reproduces_the_worked_examples() -> None:
    lines = (DATA / "seed_examples.jsonl").read_bytes().splitlines()
    result = score(lines)
    records = by_key(result.records)
    jan = "2026-01"

    def monthly(org: str) -> dict[str, Any]:
        return records[(org, "monthly", jan)]

    assert signal(monthly("org-growth-693"), "field_service.work_order_growth")["score"] == 61
    assert signal(monthly("org-growth-499"), "field_service.work_order_growth")["score"] == 44
    assert signal(monthly("org-licence-67"), "sales_cloud.license_activation")["score"] == 67
    assert [
        signal(monthly(f"org-reviews-{k}"), "success.prom_threshold_reviews")["score"]
        for k in range(3)
    ] == [0, 50, 100]
    commerce = monthly("org-commerce-only")
    pa = commerce["categories"]["product_adoption"]["score"]
    ce = commerce["categories"]["customer_expertise"]["score"]
    assert commerce["categories"]["technical_health"]["available"] is False
    assert commerce["overall"]["score"] == (5 * pa + 2 * ce) // 7
    assert (result.accepted, result.rejected, result.duplicates) == (len(lines), 0, 0)


# ----------------------------------------------------------------- closing rule, output order


def test_closed_months_follow_watermark_plus_grace() -> None:
    lines = [
        line("b", "learning.completed", "2025-11-10T00:00:00Z", "1", kind="badge"),
        line("a", "learning.completed", "2026-01-10T00:00:00Z", "2", kind="badge"),
    ]
    # Watermark exactly start(2026-02) + grace closes January; one ms less does not.
    closing = format_time_ms(month_start_ms(month("2026-02")) + HOUR_MS)
    result = score([*lines, tick(closing)])
    assert [(r["org_id"], r["kind"], r["period"]) for r in result.records] == [
        ("a", "monthly", "2026-01"),
        ("a", "live", "2026-01"),
        ("b", "monthly", "2025-11"),
        ("b", "monthly", "2025-12"),
        ("b", "monthly", "2026-01"),
        ("b", "live", "2025-11"),
    ]
    assert result.watermark_ms == parse_time_ms(closing)
    assert all(r["revision"] == 0 for r in result.records)
    almost = format_time_ms(month_start_ms(month("2026-02")) + HOUR_MS - 1)
    periods = [r["period"] for r in score([*lines, tick(almost)]).records if r["org_id"] == "b"]
    assert periods == ["2025-11", "2025-12", "2025-11"]
    # A zero grace closes at the month start itself.
    zero = score([*lines, tick("2026-02-01T00:00:00Z")], grace_ms=0)
    assert ("a", "monthly", "2026-01") in by_key(zero.records)


def test_ticks_only_advance_the_watermark() -> None:
    result = score([tick("2026-03-01T05:00:00Z")])
    assert (result.records, result.accepted, result.watermark_ms) == (
        [],
        1,
        parse_time_ms("2026-03-01T05:00:00Z"),
    )
    assert score([]).watermark_ms is None


# ----------------------------------------------------------------- rejections and counts


def test_rejections_duplicates_and_counts() -> None:
    batch = json.dumps(
        [
            json.loads(
                line("o", "case.created", "2026-01-03T00:00:00Z", "b1", product="service_cloud")
            ),
            {"specversion": "1.0"},
            json.loads(
                line("o", "case.created", "2026-01-03T00:00:00Z", "b2", product="service_cloud")
            ),
        ]
    ).encode()
    lines = [
        line("o", "org.profile", "2026-01-01T00:00:00Z", "p", products=["service_cloud"]),
        b"",
        b"   ",
        b"{not json",
        # A repeat while the org's stream time has not moved: a duplicate.
        line("o", "org.profile", "2026-01-01T00:00:00Z", "p", products=["service_cloud"]),
        batch,
        line("o", "case.created", "2024-01-02T00:00:00Z", "old", product="service_cloud"),
        line("o", "case.created", "2026-12-01T00:00:00Z", "future", product="service_cloud"),
        line("o", "nope.happened", "2026-01-02T00:00:00Z", "u"),
        b"x" * (1024 * 1024 + 1),
    ]
    result = score(lines)
    assert (result.accepted, result.rejected, result.duplicates) == (3, 6, 1)
    reasons = [(r.line, r.reason, r.index) for r in result.rejections]
    assert reasons == [
        (4, "invalid_json", None),
        (6, "schema_violation", 1),
        (7, "too_old", None),
        (8, "future_timestamp", None),
        (9, "unknown_type", None),
        (10, "too_large", None),
    ]
    assert result.rejections[1].describe().startswith("line 6: schema_violation: element 1: $")
    live = [r for r in result.records if r["kind"] == "live"]
    assert len(live) == 1
    # The rejected events left no trace: 2 cases by T = Jan 3 (2 days elapsed) -> run rate
    # 2 x 31 / 2 = 31 for January.
    cases = signal(live[0], "service_cloud.case_growth")
    assert (cases["status"], cases["inputs"]) == ("no_data", {"last": 31})


def test_a_line_of_exactly_one_mib_is_not_too_large() -> None:
    event = json.loads(line("o", "coaching.attended", "2026-01-02T00:00:00Z", "big"))
    event["padding"] = ""
    raw = json.dumps(event).encode()
    event["padding"] = "p" * (1024 * 1024 - len(raw))
    exact = json.dumps(event).encode()
    assert len(exact) == 1024 * 1024
    result = score([exact + b"\n"])
    assert (result.accepted, result.rejected) == (1, 0)


# ----------------------------------------------------------------- spec 10 / amended (a)

_ORGS = ["org-a", "org-b", "org-c"]


@st.composite
def org_files(draw: st.DrawFn) -> list[bytes]:
    lines: list[bytes] = []
    for _ in range(draw(st.integers(1, 40))):
        org = draw(st.sampled_from(_ORGS))
        day = draw(st.integers(0, 500))
        t = format_time_ms(
            parse_time_ms("2025-01-01T00:00:00Z")
            + day * 86_400_000
            + draw(st.integers(0, 86_399_999))
        )
        kind = draw(st.integers(0, 4))
        event_id = f"id{draw(st.integers(0, 60))}"  # repeats: duplicates or late re-applies
        if kind == 0:
            lines.append(
                line(
                    org,
                    "license.purchased",
                    t,
                    event_id,
                    product="sales_cloud",
                    quantity=draw(st.integers(0, 9)),
                )
            )
        elif kind == 1:
            lines.append(line(org, "license.activated", t, event_id, product="sales_cloud"))
        elif kind == 2:
            lines.append(
                line(
                    org,
                    "work_order.created",
                    t,
                    event_id,
                    product="field_service",
                    count=draw(st.integers(1, 9)),
                )
            )
        elif kind == 3:
            lines.append(line(org, "org.profile", t, event_id, products=["field_service"]))
        else:
            lines.append(tick(t))
    return lines


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(org_files())
def test_regrouping_the_input_by_org_changes_no_record(lines: list[bytes]) -> None:
    grouped: dict[str, list[bytes]] = defaultdict(list)
    ticks: list[bytes] = []
    for raw in lines:
        subject = json.loads(raw)["subject"]
        (ticks if subject == "clock" else grouped[subject]).append(raw)
    regrouped = [raw for org in sorted(grouped, reverse=True) for raw in grouped[org]] + ticks
    first, second = score(lines), score(regrouped)
    assert first.records == second.records
    assert (first.accepted, first.rejected, first.duplicates, first.watermark_ms) == (
        second.accepted,
        second.rejected,
        second.duplicates,
        second.watermark_ms,
    )


# ----------------------------------------------------------------- the command


def test_cli_outputs_json_lines_and_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "in.jsonl"
    file.write_bytes(
        b"\n".join(
            [
                line("o", "coaching.attended", "2026-01-02T00:00:00Z", "1"),
                b"oops",
                line("o", "coaching.attended", "2026-01-02T00:00:00Z", "1"),
                tick("2026-02-01T01:00:00Z"),
            ]
        )
        + b"\n"
    )
    code = main(["score", str(file), "--now", "2026-11-27T00:00:00Z"])
    out, err = capsys.readouterr()
    assert code == 0
    records = [json.loads(x) for x in out.splitlines()]
    assert [(r["kind"], r["period"]) for r in records] == [
        ("monthly", "2026-01"),
        ("live", "2026-01"),
    ]
    lines = err.splitlines()
    assert lines[0].startswith("line 2: invalid_json: ")
    assert "oops" not in err
    assert lines[-2:] == ["watermark=2026-02-01T01:00:00Z", "accepted=2 rejected=1 duplicates=1"]


def test_cli_reads_stdin_and_several_files(tmp_path: Path) -> None:
    first = tmp_path / "a.jsonl"
    first.write_bytes(line("o", "coaching.attended", "2026-01-02T00:00:00Z", "1") + b"\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "score",
            str(first),
            "-",
            "--dedup-horizon",
            "0",
            "--grace",
            "0",
            "--now",
            "2026-11-27T00:00:00Z",
        ],
        input=b"\n" + line("o", "coaching.attended", "2026-02-01T00:00:00Z", "2") + b"\n",
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [(r["kind"], r["period"]) for r in records] == [
        ("monthly", "2026-01"),
        ("live", "2026-02"),
    ]
    assert proc.stderr.decode().splitlines()[-1] == "accepted=2 rejected=0 duplicates=0"


def test_cli_empty_input_prints_watermark_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "empty.jsonl"
    file.write_bytes(b"")
    assert main(["score", str(file)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == ["watermark=none", "accepted=0 rejected=0 duplicates=0"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "/nonexistent/x.jsonl"], "cannot read /nonexistent/x.jsonl"),
        (["score", "-", "--catalog", "/nonexistent/c.json"], "catalog /nonexistent/c.json"),
        (["score", "-", "--now", "yesterday"], "--now"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_cli_on_the_seed_examples_file(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "seed_examples.jsonl"
    assert main(["score", str(path), "--now", "2026-11-27T00:00:00Z"]) == 0
    out, err = capsys.readouterr()
    records = by_key([json.loads(x) for x in out.splitlines()])
    growth = [
        signal(records[(org, "monthly", "2026-01")], "field_service.work_order_growth")
        for org in ("org-growth-693", "org-growth-499")
    ]
    assert [(g["score"], g["inputs"]) for g in growth] == [
        (61, {"last": 693, "baseline": 564}),
        (44, {"last": 499, "baseline": 564}),
    ]
    assert records[("org-commerce-only", "monthly", "2026-01")]["overall"]["score"] == 50
    assert err.splitlines()[-1] == "accepted=55 rejected=0 duplicates=0"
