"""Dead-letter headers and writer, and Kafka security settings (no broker needed)."""

from __future__ import annotations

from streams.codec.decoding import MAX_RECORD_BYTES, Rejection, decode_record
from streams.codec.dlq import MAX_DETAIL_CHARS, dlq_headers


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
