"""Text that can always be encoded.

JSON allows an escaped lone surrogate (`"\\ud800"`) and Python's `json` decodes it into a
str that UTF-8 cannot encode: DuckDB, pydantic's JSON and every socket refuse it, so one
such answer made the shard's whole commit fail, with every other agent's events in it.
Text from outside that nothing validated (a provider's answer, its error body) goes
through `valid_text` before it is kept or sent.
"""

from __future__ import annotations

import re

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def valid_text(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD (as is, and at once, when it
    has none: ASCII, or anything UTF-8 encodes)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub(REPLACEMENT, text)
    return text
