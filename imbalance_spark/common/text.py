"""Text for the user: an error cut to one line, and secrets masked in what the job prints.
"""

from __future__ import annotations

import re

_URI_PASSWORD = re.compile(r"(://[^/:@\s]+:)[^@/\s]+@")


def one_line(value: object, limit: int | None = None, *, first_line: bool = False) -> str:
    """``value`` (an exception or text) as one line: whitespace collapsed, optionally only its first line.

    ``limit`` cuts it to that many characters (then ``...``); an exception without a message
    gives its type's name.
    """
    text = str(value).strip()
    if first_line:
        text = text.splitlines()[0] if text else ""
    text = " ".join(text.split())
    if not text and isinstance(value, BaseException):
        return type(value).__name__
    if limit is not None and len(text) > limit:
        return text[:limit] + "..."
    return text


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask URI passwords and values that came from secret-named environment variables."""
    text = _URI_PASSWORD.sub(r"\1***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
