"""The materialised view of the score topic: what a consumer of ``css.score/v1`` keeps.

Per org, the latest ``live`` record (topic order: one org's records are in one partition)
and, per (org, period), the ``monthly`` record of the highest ``revision``. A summary per
org (overall score and band, change since its latest closed month, category scores, last
update) is kept in memory for the portfolio: filtering and sorting 100,000 of them takes
tens of milliseconds.

Two stores: memory (tests, ``CSS_STORE=memory``) and RocksDB under its own directory, so
history seen once stays beyond the topic's retention. RocksDB keys: ``l\\0ORG`` (live
record), ``m\\0ORG\\0YYYY-MM`` (monthly), ``s\\0ORG`` (summary), ``o\\0PARTITION`` (the next
offset to read, so a restart resumes where it stopped). Values are the records' JSON as
they came; lz4-compressed blocks keep 100,000 orgs x 26 months to a few GB.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson

CATEGORIES = ("product_adoption", "customer_expertise", "technical_health")
SortKey = Literal["org", "score", "change", "updated"]
SORT_KEYS: tuple[SortKey, ...] = ("org", "score", "change", "updated")


@dataclass(slots=True)
class OrgSummary:
    """One portfolio row."""

    org_id: str
    overall: int | None = None
    band: str | None = None
    categories: tuple[int | None, ...] = (None, None, None)
    category_bands: tuple[str | None, ...] = (None, None, None)
    as_of: str | None = None  # of the live record
    last_closed: str | None = None  # latest monthly period
    last_closed_overall: int | None = None

    @property
    def change(self) -> int | None:
        """Live overall minus the latest closed month's (None without both)."""
        if self.overall is None or self.last_closed_overall is None:
            return None
        return self.overall - self.last_closed_overall

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["categories"] = dict(zip(CATEGORIES, self.categories, strict=True))
        data["category_bands"] = dict(zip(CATEGORIES, self.category_bands, strict=True))
        data["change"] = self.change
        return data


class _KeyValue(Protocol):
    def get(self, key: bytes) -> bytes | None: ...
    def put(self, key: bytes, value: bytes) -> None: ...
    def items_from(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...
    def close(self) -> None: ...


class _MemoryKeyValue:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def items_from(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key in sorted(k for k in self.data if k.startswith(prefix)):
            yield key, self.data[key]

    def close(self) -> None:
        pass


class _RocksKeyValue:
    def __init__(self, directory: Path) -> None:
        from rocksdict import DBCompressionType, Options, Rdict

        directory.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_compression_type(DBCompressionType.lz4())
        self.db = Rdict(str(directory), options)

    def get(self, key: bytes) -> bytes | None:
        value = self.db.get(key)
        return None if value is None else bytes(value)

    def put(self, key: bytes, value: bytes) -> None:
        self.db[key] = value

    def items_from(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self.db.items(from_key=prefix):
            raw_key = bytes(key)  # type: ignore[arg-type]  # raw mode: keys are bytes
            if not raw_key.startswith(prefix):
                break
            yield raw_key, bytes(value)

    def close(self) -> None:
        self.db.close()


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[OrgSummary]
    total: int  # rows matching the filters
    page: int
    pages: int


class ScoreView:
    """The view; ``apply`` takes records in topic order (per partition)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.kv: _KeyValue = _MemoryKeyValue() if directory is None else _RocksKeyValue(directory)
        self.summaries: dict[str, OrgSummary] = {}
        self.records_applied = 0
        self.oldest_period: str | None = None
        for _key, value in self.kv.items_from(b"s\0"):
            summary = _summary_from_json(orjson.loads(value))
            self.summaries[summary.org_id] = summary
        oldest = next(self.kv.items_from(b"p\0"), None)
        self.oldest_period = oldest[1].decode() if oldest else None

    def close(self) -> None:
        self.kv.close()

    # ----------------------------------------------------------------- positions

    def next_offset(self, partition: int) -> int | None:
        raw = self.kv.get(b"o\0%d" % partition)
        return None if raw is None else int(raw)

    def set_next_offset(self, partition: int, offset: int) -> None:
        self.kv.put(b"o\0%d" % partition, b"%d" % offset)

    # ----------------------------------------------------------------- applying

    def apply(self, value: bytes) -> str | None:
        """Apply one record of the score topic; the org it changed (None: ignored, as an
        older revision or not a score record)."""
        try:
            record = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(record, dict) or record.get("schema") != "css.score/v1":
            return None
        org = record.get("org_id")
        kind = record.get("kind")
        if not isinstance(org, str) or not org or kind not in ("live", "monthly"):
            return None
        summary = self.summaries.get(org) or OrgSummary(org)
        if kind == "live":
            self.kv.put(b"l\0" + org.encode(), value)
            overall = record.get("overall") or {}
            categories = record.get("categories") or {}
            summary.overall = overall.get("score")
            summary.band = overall.get("band")
            summary.categories = tuple((categories.get(c) or {}).get("score") for c in CATEGORIES)
            summary.category_bands = tuple(
                (categories.get(c) or {}).get("band") for c in CATEGORIES
            )
            summary.as_of = record.get("as_of")
        else:
            period = str(record.get("period"))
            key = b"m\0" + org.encode() + b"\0" + period.encode()
            kept = self.kv.get(key)
            revision = record.get("revision", 0)
            if kept is not None and orjson.loads(kept).get("revision", 0) > revision:
                return None
            self.kv.put(key, value)
            if summary.last_closed is None or period >= summary.last_closed:
                summary.last_closed = period
                summary.last_closed_overall = (record.get("overall") or {}).get("score")
            if self.oldest_period is None or period < self.oldest_period:
                self.oldest_period = period
                self.kv.put(b"p\0", period.encode())
        self.summaries[org] = summary
        self.kv.put(b"s\0" + org.encode(), orjson.dumps(asdict(summary)))
        self.records_applied += 1
        return org

    # ----------------------------------------------------------------- reading

    def live(self, org: str) -> dict[str, Any] | None:
        raw = self.kv.get(b"l\0" + org.encode())
        return None if raw is None else orjson.loads(raw)

    def history(self, org: str) -> list[dict[str, Any]]:
        """The org's monthly records (highest revision each), oldest period first."""
        prefix = b"m\0" + org.encode() + b"\0"
        return [orjson.loads(value) for _key, value in self.kv.items_from(prefix)]

    def knows(self, org: str) -> bool:
        return org in self.summaries

    def bands(self) -> list[str]:
        return sorted({s.band for s in self.summaries.values() if s.band is not None})

    def query(
        self,
        *,
        band: str | None = None,
        search: str | None = None,
        sort: SortKey = "org",
        descending: bool = False,
        page: int = 1,
        size: int = 50,
    ) -> Page:
        rows: list[OrgSummary] = list(self.summaries.values())
        if band:
            rows = [r for r in rows if r.band == band]
        if search:
            needle = search.lower()
            rows = [r for r in rows if needle in r.org_id.lower()]
        if sort == "org":
            rows.sort(key=lambda r: r.org_id, reverse=descending)
        else:
            # Orgs without the value go last in either order.
            def value(r: OrgSummary) -> Any:
                return {"score": r.overall, "change": r.change, "updated": r.as_of}[sort]

            present = [r for r in rows if value(r) is not None]
            absent = [r for r in rows if value(r) is None]
            present.sort(key=lambda r: (value(r), r.org_id), reverse=descending)
            rows = present + sorted(absent, key=lambda r: r.org_id)
        pages = max(1, -(-len(rows) // size))
        page = min(max(1, page), pages)
        return Page(rows[(page - 1) * size : page * size], len(rows), page, pages)


def _summary_from_json(data: dict[str, Any]) -> OrgSummary:
    return OrgSummary(
        org_id=data["org_id"],
        overall=data.get("overall"),
        band=data.get("band"),
        categories=tuple(data.get("categories") or (None, None, None)),
        category_bands=tuple(data.get("category_bands") or (None, None, None)),
        as_of=data.get("as_of"),
        last_closed=data.get("last_closed"),
        last_closed_overall=data.get("last_closed_overall"),
    )
