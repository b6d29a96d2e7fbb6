"""Root exceptions of the shell. Every error raised on purpose by ``streams`` derives from
``CssError``; a ``UsageError`` is a user mistake reported as one line with exit code 2."""

from __future__ import annotations


class CssError(Exception):
    """Base of every error raised on purpose by the shell."""


class UsageError(CssError):
    """Bad settings, arguments or environment: one clear line, exit code 2."""


class BrokerUnreachable(CssError):
    """No bootstrap server accepted a connection (at start: one line, exit 1)."""


class BrokerAuthFailed(CssError):
    """The broker answered but rejected the worker's credentials."""
