"""How hard is a prompt? A score in [0, 1] from general signals, and the tier it needs.

The analyser reads signals that hold for any prompt, not for a list of known ones: how
long it is, whether it asks for reasoning or design rather than recall, whether it asks
for something to be produced, how many steps or parts it has, whether it carries code
or maths, how much specialist vocabulary and how many explicit constraints it holds, and
how many questions it asks. Each signal is scaled to [0, 1]; their weighted sum, less a
discount for plainly simple asks (greetings, lookups, rewording), is spread over [0, 1].

One tokenising pass, dict look-ups for the vocabulary (`lexicon.py`) and a few small
precompiled patterns for syntax: tens of microseconds per prompt, so it runs on every
request.
"""

from __future__ import annotations

import math
import re
from itertools import pairwise

from ..errors import ValidationFailed
from ..schemas import ComplexityAnalysis, Tier
from . import lexicon

# Score at or above which a prompt needs the primary tier, then the flagship tier.
PRIMARY_THRESHOLD = 0.15
FLAGSHIP_THRESHOLD = 0.45

# The weighted sum is mapped through 1 - exp(-GAIN * sum): that spreads the usual range
# of prompts over [0, 1] and saturates smoothly instead of clipping.
GAIN = 2.5

# Only this much of a prompt is scanned; its length is still counted in full. A
# 100k-character paste is long whatever its tail says.
SCAN_CHARS = 3_000

WEIGHTS: dict[str, float] = {
    "length": 0.20,
    "reasoning": 0.30,
    "task": 0.10,
    "multi_step": 0.15,
    "code": 0.12,
    "maths": 0.12,
    "domain": 0.12,
    "constraints": 0.08,
    "questions": 0.05,
}
SIMPLE_DISCOUNT = 0.12

# Count -> [0, 1) scale of each counted signal: this many hits give 0.5.
_HALF = {
    "reasoning": 1.5,
    "task": 1.0,
    "code": 2.0,
    "maths": 1.5,
    "domain": 1.5,
    "constraints": 2.0,
}

_LABELS = {
    "length": "long prompt",
    "reasoning": "asks for reasoning or design",
    "task": "asks for something to be produced",
    "multi_step": "several steps or parts",
    "code": "code",
    "maths": "maths",
    "domain": "specialist terms",
    "constraints": "explicit constraints",
    "questions": "several questions",
}

_WORD = re.compile(r"[a-z0-9][a-z0-9+']*")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_LIST_ITEM = re.compile(r"^[ \t]*(?:\d{1,2}[.)]|[-*\u2022]|\(?[a-h]\))[ \t]+", re.MULTILINE)
# Syntax patterns open with a literal (the operator, the parenthesis) so the regex engine
# can skip ahead to it; a pattern opening with \w or \b tries every position and cost
# ten times more on prose.
_CALL = re.compile(r"\((?<=\w\()")  # name( : a call or definition
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)
_CODE_TOKENS = ("==", "!=", "=>", "->", "::", "{", "}")
_OPERATORS = "+*/^=<>"  # not "-": in prose it is mostly a hyphen or a range
_ARITHMETIC = re.compile(r"[+*/^=<>](?:(?<=\d.)|(?<=\d .)) ?\d")  # 3 * 4, 2^10, x<5
_RELATION = re.compile(r"[=<>](?:(?<=[a-z].)|(?<=[a-z] .)) ?[a-z\d(]")  # x = 2, n > k
_MATHS_SYMBOLS = re.compile("[\u2264\u2265\u2248\u2211\u222b\u221a\u03c0]")


def _code_syntax(text: str) -> int:
    return (
        text.count("`") // 2
        + sum(text.count(token) for token in _CODE_TOKENS)
        + len(_CALL.findall(text))
        + len(_STATEMENT_END.findall(text))
    )


def _maths_syntax(lowered: str) -> int:
    symbols = len(_MATHS_SYMBOLS.findall(lowered))
    if not any(op in lowered for op in _OPERATORS):  # most prose: skip the scans
        return symbols
    return symbols + len(_ARITHMETIC.findall(lowered)) + len(_RELATION.findall(lowered))


def _saturate(count: float, half: float) -> float:
    """Map a count to [0, 1): `half` occurrences give 0.5; more adds less and less."""
    return count / (count + half) if count > 0 else 0.0


def _signals(text: str) -> dict[str, float]:
    scan = text[:SCAN_CHARS]
    lowered = scan.lower()
    words = _WORD.findall(lowered)
    counts = dict.fromkeys(("reasoning", "task", "steps", "code", "maths", "domain"), 0)
    counts.update(constraints=0, joint=0)
    classify = lexicon.classify
    for w in words:
        hit = classify(w)
        if hit is not None:
            counts[hit] += 1
    starts = lexicon.PHRASE_STARTS
    for a, b in pairwise(words):
        if a in starts:
            hit = lexicon.PHRASES.get(f"{a} {b}")
            if hit is not None:
                counts[hit] += 1
    counts["code"] += _code_syntax(scan)
    counts["maths"] += _maths_syntax(lowered)

    n_words = len(words)
    if len(text) > SCAN_CHARS:  # estimate the rest rather than scanning it
        n_words = int(n_words * len(text) / SCAN_CHARS)
    # log scale: ~10 words ~0.1, ~60 words ~0.5, 400+ words 1
    length = min(1.0, max(0.0, math.log10(max(n_words, 1) / 6) / math.log10(400 / 6)))
    sentences = max(1, len(_SENTENCE_END.findall(scan)))
    steps = (
        counts["steps"]
        + len(_LIST_ITEM.findall(scan))
        + 0.5 * max(0, sentences - 2)
        + 0.5 * (counts["joint"] + scan.count(", ") + scan.count("; "))
    )
    signals = {"length": round(length, 3)}
    for key, half in _HALF.items():
        signals[key] = round(_saturate(counts[key], half), 3)
    signals["multi_step"] = round(_saturate(steps, 3.0), 3)
    signals["questions"] = round(_saturate(max(0, scan.count("?") - 1), 1.0), 3)
    signals["simple"] = 1.0 if _is_simple(words) else 0.0
    return signals


def _is_simple(words: list[str]) -> bool:
    """A greeting, a lookup or a rewording, by its opening or a telltale phrase."""
    if not words:
        return True
    if words[0] in lexicon.SIMPLE_OPENERS:
        return True
    starts = lexicon.SIMPLE_STARTS
    return any(a in starts and f"{a} {b}" in lexicon.SIMPLE_PHRASES for a, b in pairwise(words))


def tier_for(score: float) -> Tier:
    """The tier a complexity score needs."""
    if score >= FLAGSHIP_THRESHOLD:
        return Tier.FLAGSHIP
    if score >= PRIMARY_THRESHOLD:
        return Tier.PRIMARY
    return Tier.EDGE


def analyse(text: str) -> ComplexityAnalysis:
    """Score `text`, name the signals behind the score, and the tier it needs."""
    if not isinstance(text, str):
        raise ValidationFailed(
            f"the prompt to analyse must be a string, not {type(text).__name__}", param="text"
        )
    signals = _signals(text)
    raw = sum(WEIGHTS[k] * signals[k] for k in WEIGHTS) - SIMPLE_DISCOUNT * signals["simple"]
    score = round(1.0 - math.exp(-GAIN * max(0.0, raw)), 3)
    tier = tier_for(score)
    return ComplexityAnalysis(
        score=score, tier=tier, signals=signals, reason=_reason(score, tier, signals)
    )


def _label(key: str, value: float) -> str:
    if key == "length" and value < 0.5:
        return "some length"
    return _LABELS[key]


def _reason(score: float, tier: Tier, signals: dict[str, float]) -> str:
    contributions = sorted(
        ((WEIGHTS[k] * signals[k], k) for k in WEIGHTS if signals[k] > 0), reverse=True
    )
    top = [_label(k, signals[k]) for c, k in contributions[:3] if c >= 0.02]
    because = ", ".join(top) if top else "short, plain request"
    if signals["simple"]:
        because += "; reads as a simple ask"
    return f"score {score:.2f} -> {tier.value}: {because}"
