"""Which pattern a query calls for, and the parts it splits into. Pure text rules.

The rules read the wording (numbered parts, "compare", "list 5", "draft ... and
polish", "plan / design / research"), the constraints (a quality bar) and the router's
complexity score. Each returns a reason a user can read, because the covenant shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..schemas import ComplexityAnalysis, Constraints, Pattern

MAX_SECTIONS = 20
QUALITY_BAR_FOR_OPTIMIZE = 0.8

_NUMBERS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20,
}  # fmt: skip
_COUNT = r"(\d{1,3}|" + "|".join(_NUMBERS) + r")"
_WRITE = re.compile(r"\b(draft|write|compose|craft|rewrite|produce|create)\b", re.I)
_REFINE = re.compile(
    r"\b(refine|polish|improve|iterate|perfect|the best|best possible|high[- ]quality|"
    r"publication[- ]ready|until it)\b",
    re.I,
)
_COMPARE = re.compile(
    r"\b(compare|comparison|versus|vs\.?|pros and cons|contrast|differences? between)\b", re.I
)
_LIST_N = re.compile(
    r"\b(list|give|name|suggest|generate|brainstorm|propose|find)\b\W+(?:me\W+)?(?:the\W+)?"
    r"(?:top\W+)?" + _COUNT + r"\b",
    re.I,
)
_ENSEMBLE = re.compile(
    r"\b(several|multiple|different|" + _COUNT[1:-1] + r") models\b|\bensemble\b|"
    r"\bmajority vote\b|\bsecond opinions?\b",
    re.I,
)
_DECOMPOSE = re.compile(
    r"\b(plan|design|build|implement|research|investigate|analy[sz]e|strategy|roadmap|"
    r"step[- ]by[- ]step|report|architecture|migrate|end[- ]to[- ]end|break (?:it |this )?down|"
    r"project|proposal|curriculum)\b",
    re.I,
)
_ROUNDS = re.compile(r"\b" + _COUNT + r"\s+(rounds?|iterations?|passes|revisions?)\b", re.I)
_ITEM = re.compile(r"^\s*(?:\d{1,3}[.)]|[-*\u2022])\s+(.+?)\s*$", re.M)
_COMPARED = re.compile(r"\bcompare\s+(.+?)(?:\s+(?:for|in|on|by|regarding|when)\b|[.?!]|$)", re.I)


@dataclass
class Choice:
    pattern: Pattern
    reason: str
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title, instruction)
    ensemble: int = 0  # >0: the same task on this many models, then a vote


def number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBERS[word.lower()]


def one_line(text: str, limit: int = 120) -> str:
    """The first sentence, on one line, clipped: a readable intent."""
    flat = " ".join(text.split())
    first = re.split(r"(?<=[.?!])\s", flat, maxsplit=1)[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def parts(text: str) -> list[str]:
    """Independent parts: list items, else two or more questions, else compared items."""
    items = [m.group(1) for m in _ITEM.finditer(text)]
    if len(items) >= 2:
        return items[:MAX_SECTIONS]
    questions = [q.strip() for q in re.findall(r"[^.?!\n]+\?", text)]
    if len(questions) >= 2:
        return questions[:MAX_SECTIONS]
    m = _COMPARED.search(text)
    if m:
        compared = [
            p.strip(" ,")
            for p in re.split(r",|\band\b|\bwith\b|\bvs\.?|\bversus\b", m.group(1))
            if p.strip(" ,")
        ]
        if len(compared) >= 2:
            return compared[:MAX_SECTIONS]
    return []


def rounds(text: str, default: int = 3) -> int:
    m = _ROUNDS.search(text)
    return max(1, min(10, number(m.group(1)))) if m else default


def choose(
    text: str, analysis: ComplexityAnalysis, constraints: Constraints, agents: int | None
) -> Choice:
    """The pattern for `text`, first rule that matches wins (most specific first)."""
    bar = constraints.min_quality
    if _WRITE.search(text) and _REFINE.search(text):
        return Choice(Pattern.OPTIMIZE, "asks to write something and refine it")
    if bar is not None and bar >= QUALITY_BAR_FOR_OPTIMIZE:
        return Choice(Pattern.OPTIMIZE, f"sets a quality bar of {bar:.2f}: draft, score, improve")
    ensemble = _ENSEMBLE.search(text)
    if ensemble:
        word = ensemble.group(1) or ""
        n = number(word) if word.isdigit() or word.lower() in _NUMBERS else 3
        return Choice(Pattern.PARALLEL, "asks for several models' answers", ensemble=n)
    found = parts(text)
    if len(found) >= 2:
        kind = "items to compare" if _COMPARE.search(text) else "independent parts"
        sections = [(one_line(p, 60), p) for p in found]
        return Choice(Pattern.PARALLEL, f"has {len(found)} {kind}", sections=sections)
    listed = _LIST_N.search(text)
    if listed and 2 <= number(listed.group(2)) <= MAX_SECTIONS:
        n = number(listed.group(2))
        sections = [
            (f"Candidate {i} of {n}", f"Propose candidate #{i} of {n} for: {text}")
            for i in range(1, n + 1)
        ]
        return Choice(Pattern.PARALLEL, f"asks for {n} items, one sub-agent each", sections)
    if _COMPARE.search(text):
        return Choice(Pattern.PARALLEL, "asks for a comparison; each side is worked apart")
    complex_enough = analysis.score >= 0.5 or len(text.split()) > 25
    if _DECOMPOSE.search(text) and complex_enough:
        return Choice(Pattern.WORKERS, f"a task to decompose ({analysis.reason})")
    if analysis.score >= 0.8:
        return Choice(Pattern.WORKERS, f"complex enough to split ({analysis.reason})")
    if agents is not None and agents > 1:
        return Choice(Pattern.PARALLEL, f"asks for {agents} sub-agents on the same task")
    return Choice(Pattern.SMART, f"a single question: one routed call ({analysis.reason})")
