"""``csscore compare-catalogs OLD NEW FILE...``: preview a catalog change on real events.

Scores the same event files offline under both catalogs (as ``csscore score`` does) and
prints, for the latest closed month and the live record: the signals whose definitions
differ, the band-move matrix of the overall band (old -> new), and the orgs that moved
most. ``--json PATH`` and ``--csv PATH`` write every org's row ('-' = stdout; the summary
then goes to stderr). Exit 0; a missing file or a bad catalog is one line, exit 2.
"""

from __future__ import annotations

import argparse
import csv
import sys
from typing import IO, Any

import orjson

from scoring.catalog import Catalog
from streams.cli.score import add_scoring_options, now_ms_of, open_inputs
from streams.codec.catalog import load_catalog
from streams.errors import UsageError
from streams.pipeline.catalog_compare import NO_BAND, Comparison, OrgRow, compare_catalogs
from streams.pipeline.offline import OfflineScorer


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "compare-catalogs",
        help="score the same events under two catalogs and compare",
        description=(
            "Score event files offline under catalog OLD and catalog NEW, then print, for "
            "the latest closed month and the live record, the signals defined differently, "
            "the band moves (overall band, old -> new) and the largest movers."
        ),
    )
    parser.add_argument("old", metavar="OLD", help="current catalog file ('default': built-in)")
    parser.add_argument("new", metavar="NEW", help="proposed catalog file ('default': built-in)")
    parser.add_argument("files", nargs="+", metavar="FILE", help="JSON-lines event file")
    parser.add_argument(
        "--json", metavar="PATH", help="write every org's row as JSON ('-': stdout)"
    )
    parser.add_argument("--csv", metavar="PATH", help="write every org's row as CSV ('-': stdout)")
    parser.add_argument(
        "--top", type=int, default=10, metavar="N", help="largest movers shown (default 10)"
    )
    add_scoring_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.top < 0:
        raise UsageError("--top must be >= 0")
    if "-" in args.files:
        raise UsageError("compare-catalogs reads each file twice: give paths, not '-'")
    now_ms = now_ms_of(args.now)
    old = load_catalog(None if args.old == "default" else args.old)
    new = load_catalog(None if args.new == "default" else args.new)
    old_records = _score(old, args, now_ms)
    new_records = _score(new, args, now_ms)
    comparison = compare_catalogs(old, new, old_records, new_records)
    to_stdout = "-" in (args.json, args.csv)
    summary = sys.stderr if to_stdout else sys.stdout
    _print_summary(comparison, old, new, args.top, summary)
    if args.json:
        _write(
            args.json,
            lambda out: out.write(orjson.dumps(_as_json(comparison, old, new)).decode() + "\n"),
        )
    if args.csv:
        _write(args.csv, lambda out: _write_csv(comparison, out))
    return 0


def _score(catalog: Catalog, args: argparse.Namespace, now_ms: int) -> list[dict[str, Any]]:
    scorer = OfflineScorer(catalog, args.grace, args.dedup_horizon, now_ms)
    inputs = open_inputs(args.files)
    try:
        for _path, handle in inputs:
            scorer.line_number = 0
            for line in handle:
                scorer.feed(line)
    except OSError as exc:
        raise UsageError(f"cannot read input: {exc.strerror or exc}") from exc
    finally:
        for _, handle in inputs:
            handle.close()
    return scorer.finish().records


def _write(path: str, write: Any) -> None:
    if path == "-":
        write(sys.stdout)
        return
    try:
        with open(path, "w", encoding="utf-8", newline="") as out:
            write(out)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _print_summary(c: Comparison, old: Catalog, new: Catalog, top: int, out: IO[str]) -> None:
    print(f"catalog {old.name} {old.version} -> {new.name} {new.version}", file=out)
    if not (c.signal_differences or c.category_weight_changes or c.scheme_changes):
        print("no signal, category weight or band is defined differently", file=out)
    for diff in c.signal_differences:
        detail = f" ({', '.join(diff.fields)})" if diff.fields else ""
        print(f"  signal {diff.signal_id}: {diff.change}{detail}", file=out)
    for category, (before, after) in c.category_weight_changes.items():
        print(f"  category weight {category}: {before} -> {after}", file=out)
    for scope, (before, after) in c.scheme_changes.items():
        print(f"  bands of {scope}: {before} -> {after}", file=out)
    for view in c.views():
        rows = [r for r in c.rows if r.view == view]
        changed = sum(1 for r in rows if r.change)
        label = "live records" if view == "live" else f"latest closed month {view}"
        print(f"\n{label}: {len(rows)} orgs, {changed} with a different overall score", file=out)
        matrix = c.band_matrix(view)
        rows_bands = (*(b.name for b in old.bands), NO_BAND)
        column_bands = (*(b.name for b in new.bands), NO_BAND)
        width = max(10, *(len(name) + 1 for name in (*rows_bands, *column_bands)))
        print("  overall band, old (rows) -> new (columns):", file=out)
        print("  " + " " * width + "".join(f"{b:>{width}}" for b in column_bands), file=out)
        for before in rows_bands:
            cells = "".join(f"{matrix.get((before, after), 0):>{width}}" for after in column_bands)
            print(f"  {before:>{width}}{cells}", file=out)
        movers = c.movers(view, top)
        if movers:
            print(f"  largest movers (top {len(movers)}):", file=out)
        for row in movers:
            print("    " + _mover_line(row), file=out)


def _mover_line(row: OrgRow) -> str:
    old, new = row.old, row.new
    assert old is not None and new is not None
    parts = [
        f"{row.org_id}: {old.overall} {old.band} -> {new.overall} {new.band} ({row.change:+d})"
    ]
    moved = [
        f"{name} {old.categories.get(name)} -> {new.categories.get(name)}"
        for name in sorted({*old.categories, *new.categories})
        if old.categories.get(name) != new.categories.get(name)
    ]
    if moved:
        parts.append("; ".join(moved))
    return "  ".join(parts)


def _as_json(c: Comparison, old: Catalog, new: Catalog) -> dict[str, Any]:
    def scores(s: Any) -> Any:
        if s is None:
            return None
        return {"overall": s.overall, "band": s.band, "categories": dict(s.categories)}

    return {
        "old_catalog": {"name": old.name, "version": old.version},
        "new_catalog": {"name": new.name, "version": new.version},
        "latest_period": c.latest_period,
        "signal_differences": [
            {"signal": d.signal_id, "change": d.change, "fields": list(d.fields)}
            for d in c.signal_differences
        ],
        "category_weight_changes": {
            k: {"old": a, "new": b} for k, (a, b) in c.category_weight_changes.items()
        },
        "band_scheme_changes": {k: {"old": a, "new": b} for k, (a, b) in c.scheme_changes.items()},
        "band_moves": {
            view: [
                {"from": a, "to": b, "orgs": n} for (a, b), n in sorted(c.band_matrix(view).items())
            ]
            for view in c.views()
        },
        "rows": [
            {
                "org_id": r.org_id,
                "view": r.view,
                "old": scores(r.old),
                "new": scores(r.new),
                "change": r.change,
            }
            for r in c.rows
        ],
    }


def _write_csv(c: Comparison, out: IO[str]) -> None:
    categories = sorted(
        {name for r in c.rows for s in (r.old, r.new) if s for name in s.categories}
    )
    writer = csv.writer(out)
    header = ["org_id", "view", "old_overall", "new_overall", "change", "old_band", "new_band"]
    header += [f"{side}_{name}" for name in categories for side in ("old", "new")]
    writer.writerow(header)
    for r in c.rows:
        row: list[Any] = [
            r.org_id,
            r.view,
            r.old.overall if r.old else "",
            r.new.overall if r.new else "",
            "" if r.change is None else r.change,
            (r.old.band if r.old else None) or "",
            (r.new.band if r.new else None) or "",
        ]
        for name in categories:
            for side in (r.old, r.new):
                value = side.categories.get(name) if side else None
                row.append("" if value is None else value)
        writer.writerow(row)
