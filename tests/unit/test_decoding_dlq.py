"""Dead-letter headers and writer, and Kafka security settings (no broker needed)."""

from __future__ import annotations

from typing import Any

import pytest

from streams.codec.decoding import MAX_RECORD_BYTES, Rejection, decode_record
from streams.codec.dlq import MAX_DETAIL_CHARS, DeadLetterWriter, dlq_headers


def test_headers_carry_reason_detail_and_source_position() -> None:
    rejection = Rejection("unknown_type", "$.type: unknown event type 'x'", 3, b"{}")
    headers = dict(dlq_headers(rejection, "telemetry", 2, 41, 500))
    assert headers == {
        "css.error.reason": b"unknown_type",
        "css.error.detail": b"$.type: unknown event type 'x'",
        "css.source.topic": b"telemetry",
        "css.source.partition": b"2",
        "css.source.offset": b"41",
    }


def test_detail_is_truncated_to_512_chars() -> None:
    rejection = Rejection("schema_violation", "$.x: " + "y" * 2000, None, b"{}")
    detail = dict(dlq_headers(rejection, "t", 0, 0, 2))["css.error.detail"].decode()
    assert len(detail) == MAX_DETAIL_CHARS


def test_too_large_marks_truncation_and_original_size() -> None:
    raw = b"[" + b" " * MAX_RECORD_BYTES + b"1]"
    [rejection] = decode_record(raw, 0).rejections
    headers = dict(dlq_headers(rejection, "t", 0, 7, len(raw)))
    assert headers["css.error.reason"] == b"too_large"
    assert headers["css.error.truncated"] == b"true"
    assert headers["css.error.original_bytes"] == str(len(raw)).encode()
    assert len(rejection.raw) < len(raw)


def test_headers_never_hold_the_payload() -> None:
    payload = b'{"specversion":"1.0","id":"SECRET-ID-VALUE","data":"SECRET"}'
    [rejection] = decode_record(payload, 0).rejections
    for _, value in dlq_headers(rejection, "t", 0, 0, len(payload)):
        assert b"SECRET" not in value


class FakeProducer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    async def send_and_wait(self, topic: str, **kwargs: Any) -> None:
        if self.fail:
            raise RuntimeError("broker gone")
        self.sent.append((topic, kwargs))


async def test_writer_sends_value_key_headers() -> None:
    producer = FakeProducer()
    writer = DeadLetterWriter(producer, topic="dlq")
    rejection = Rejection("invalid_json", "not valid JSON", None, b"{bad")
    await writer.write(
        rejection, source_topic="telemetry", partition=1, offset=9, original_size=4, key=b"org"
    )
    await writer.write_reason(
        "too_old", "$.time: too old", b"{}", source_topic="telemetry", partition=1, offset=10
    )
    assert writer.written == 2
    [(topic, first), (_, second)] = producer.sent
    assert topic == "dlq"
    assert first["value"] == b"{bad"
    assert first["key"] == b"org"
    assert dict(first["headers"])["css.source.offset"] == b"9"
    assert dict(second["headers"])["css.error.reason"] == b"too_old"


async def test_writer_failure_propagates() -> None:
    writer = DeadLetterWriter(FakeProducer(fail=True))
    with pytest.raises(RuntimeError):
        await writer.write(
            Rejection("invalid_json", "x", None, b"x"),
            source_topic="t",
            partition=0,
            offset=0,
            original_size=1,
        )
    assert writer.written == 0


# --- Kafka security settings --------------------------------------------------------------
