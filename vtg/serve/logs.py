"""Keep secrets out of the server's output: the token, token guesses, credentials in headers.

uvicorn's access log prints each request's path *with its query string*, so a browser's login
``GET /?token=...`` (and every wrong guess) was written to the log at the default level. A filter
on every handler the server's output passes through rewrites each record before it is formatted:
the server's token wherever it appears, any ``token=`` query value, ``Authorization`` credentials
and the ``vtg_token`` cookie become ``[redacted]``. Arguments are rewritten in place (uvicorn's
access formatter unpacks them), and a traceback is formatted and redacted up front.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_PATTERNS = (
    re.compile(r"(?i)(token=)[^&\s\"']*"),                          # ?token=..., vtg_token=...
    re.compile(r"(?i)(authorization[\"']?\s*[:=,]\s*[\"']?(?:bearer|basic)?\s*)[^\s\"',]+"),
    re.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+"),
)
#: Loggers whose handlers carry the server's output (uvicorn's, vtg's, and the root's).
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "vtg", "vtg.serve")


def redact(text: str, token: str | None) -> str:
    if token:
        text = text.replace(token, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class Redactor(logging.Filter):
    """A handler filter that removes the token and credentials from every record it passes."""

    def __init__(self, token: str | None):
        super().__init__("vtg-redact")
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg, self.token)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a, self.token) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v, self.token) if isinstance(v, str) else v for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.token)
        return True


def install_redaction(token: str | None) -> None:
    """Add a :class:`Redactor` to every handler of the server's loggers (after uvicorn configured
    its logging) and to Python's last-resort handler; idempotent."""
    handlers = {h for name in LOGGERS for h in logging.getLogger(name).handlers}
    if logging.lastResort is not None:
        handlers.add(logging.lastResort)
    for handler in handlers:
        for old in [f for f in handler.filters if isinstance(f, Redactor)]:
            handler.removeFilter(old)
        handler.addFilter(Redactor(token))
