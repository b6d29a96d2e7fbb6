"""The errors of the scoring core: one root, :class:`ScoringError`.

It derives from ``ValueError`` because every one of them reports a bad value handed in by
the caller (a catalog, a time string, a stored state), and callers that predate the root
catch ``ValueError``.
"""

from __future__ import annotations


class ScoringError(ValueError):
    """Root of every error the scoring core raises on purpose."""


class CatalogError(ScoringError):
    """A catalog that is well-formed JSON but semantically wrong; the message starts with
    the JSON path of the offending field."""


class InvalidTime(ScoringError):
    """A time string that is not the RFC 3339 profile of docs/scoring-rules.md section 9."""


class InvalidState(ScoringError):
    """Stored org state that cannot be decoded (unknown version, wrong shape)."""
