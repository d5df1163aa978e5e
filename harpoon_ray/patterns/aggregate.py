"""Turning many sub-agents' outputs into one answer: synthesis, a vote, or a plain join.

All three read a bounded digest, never every output, so their cost does not grow with
the fan-out width. When the budget stops the aggregating call, or it fails, the answer
falls back to the joined digest, and a note says so: the work already paid for is kept.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from ..errors import AllModelsFailed, MalformedOutput
from ..schemas import EventType
from . import prompts
from .budget import estimate
from .runtime import Runtime, SubAgentResult
from .steps import DIGEST_ITEM_CHARS, DIGEST_ITEMS, Task, ask_json, digest, run_one

_OPTION = re.compile(r"\boption\s*#?\s*(\d{1,3})\b", re.I)
SYNTHESIS_PROBE = "x" * (DIGEST_ITEMS * DIGEST_ITEM_CHARS)


class Vote(BaseModel):
    """A judge's pick: the 1-based option number and why."""

    choice: int = Field(ge=1)
    reason: str = ""

    @classmethod
    def from_text(cls, text: str) -> dict[str, Any] | None:
        """Judges often answer in words ("I vote for option 2 because ...")."""
        m = _OPTION.search(text)
        return {"choice": int(m.group(1)), "reason": text} if m else None


def synthesis_reserve(rt: Runtime, aggregation: str) -> float:
    """What to keep back during a fan-out so the aggregating call can still run."""
    if aggregation == "synthesize":
        return estimate(rt, prompts.synthesize(rt.covenant, SYNTHESIS_PROBE))
    if aggregation == "vote":
        return estimate(rt, prompts.vote(rt.covenant, [SYNTHESIS_PROBE]))
    return 0.0


async def aggregate(
    rt: Runtime, titled: Sequence[tuple[str, SubAgentResult]], aggregation: str
) -> str:
    """One answer from the sub-agents' results (`titled`: section title, result)."""
    ok = [r for _, r in titled if r.ok and r.output]
    if not ok:
        raise AllModelsFailed(
            f"all {len(titled)} sub-agents failed; nothing to aggregate",
            attempts=[
                {"model": None, "error_type": r.error_type, "message": r.error}
                for _, r in list(titled)[:20]
            ],
        )
    if len(ok) == 1:
        return ok[0].output
    if aggregation == "vote":
        return await _vote(rt, ok)
    if aggregation == "synthesize":
        return await _synthesize(rt, titled)
    return joined(titled)


def joined(titled: Sequence[tuple[str, SubAgentResult]]) -> str:
    """The sections' outputs one after another, bounded like the digest."""
    seen: dict[str, str] = {}
    for title, r in titled:
        if r.ok and r.output and title not in seen and len(seen) < DIGEST_ITEMS:
            seen[title] = prompts.clip(r.output.strip(), DIGEST_ITEM_CHARS * 2)
    return "\n\n".join(f"## {t}\n{text}" for t, text in seen.items())


async def _synthesize(rt: Runtime, titled: Sequence[tuple[str, SubAgentResult]]) -> str:
    task = Task(
        name="synthesizer",
        role="synthesizer",
        title="Synthesis",
        thought=f"Combining {len(titled)} sub-agents' results into one answer.",
        request=prompts.synthesize(rt.covenant, digest(titled)),
        stream=True,
    )
    result = await run_one(rt, task)
    if result is not None and result.ok:
        return result.output
    why = "the budget stopped it" if result is None else f"it failed ({result.error})"
    rt.covenant.notes.append(f"synthesis skipped: {why}; the sections are joined as they are")
    return joined(titled)


async def _vote(rt: Runtime, ok: Sequence[SubAgentResult]) -> str:
    candidates = _distinct(ok)
    if len(candidates) == 1:
        return candidates[0]
    task = Task(
        name="judge",
        role="judge",
        title="Vote",
        thought=f"Choosing the best of {len(candidates)} candidate answers.",
        request=prompts.vote(rt.covenant, [prompts.clip(c, DIGEST_ITEM_CHARS) for c in candidates]),
    )
    try:
        vote = await ask_json(rt, task, Vote)
    except (AllModelsFailed, MalformedOutput) as exc:
        vote, reason = None, f"the judge gave no usable vote ({exc.message})"
    else:
        reason = "the budget stopped the judge"
    if vote is not None and vote.choice <= len(candidates):
        await rt.emit(EventType.PROGRESS, None, {"vote": vote.choice, "of": len(candidates)})
        return candidates[vote.choice - 1]
    if vote is not None:
        reason = f"the judge chose {vote.choice}, out of range"
    rt.covenant.notes.append(f"vote: {reason}; the most common answer wins")
    return Counter(r.output.strip() for r in ok).most_common(1)[0][0]


def _distinct(ok: Sequence[SubAgentResult]) -> list[str]:
    seen: dict[str, None] = {}
    for r in ok:
        text = r.output.strip()
        if text not in seen:
            seen[text] = None
            if len(seen) >= DIGEST_ITEMS:
                break
    return list(seen)
