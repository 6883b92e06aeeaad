"""Logging set-up: one named logger per stage (yizhan.intake.accept, yizhan.dispatch, ...), one line
per event, and a filter that redacts anything that looks like a credential."""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"(?i)(secret|password|authorization|signature)([\"']?\s*[:=]\s*[\"']?)"
                     r"([^\s,\"'&]+)")


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET.sub(r"\1\2***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger("yizhan")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
