"""Every prompt the patterns send, built in one place so the roles stay consistent.

Each builder returns a `ModelRequest` whose `purpose` tells the simulated provider what
shape of answer to produce; real models get the same instructions in the text. Earlier
turns of the conversation (`covenant.history`) go in front of the task, bounded, so a
follow-up query is answered in context.
"""

from __future__ import annotations

from ..schemas import Covenant, Message, ModelRequest, Purpose

HISTORY_MESSAGES = 12
HISTORY_CHARS = 2_000
QUERY_CHARS = 8_000

WORK_TOKENS = 400
PLAN_TOKENS = 600
EVALUATE_TOKENS = 200
IMPROVE_TOKENS = 600
SYNTHESIZE_TOKENS = 700
VOTE_TOKENS = 120
SMART_TOKENS = 700


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _request(
    cov: Covenant,
    role: str,
    user: str,
    purpose: Purpose,
    max_tokens: int,
    *,
    json_mode: bool = False,
    seed: int | None = None,
    temperature: float = 0.7,
) -> ModelRequest:
    system = f"You are the {role} of a Harpoon multi-agent task. The user's intent: {cov.intent}"
    history = [
        Message(role=m.role, content=clip(m.content, HISTORY_CHARS))
        for m in cov.history[-HISTORY_MESSAGES:]
        if m.role != "system"
    ]
    return ModelRequest(
        messages=[
            Message(role="system", content=system),
            *history,
            Message(role="user", content=user),
        ],
        max_tokens=max_tokens,
        json_mode=json_mode,
        purpose=purpose,
        seed=seed,
        temperature=temperature,
    )


def query_text(cov: Covenant) -> str:
    return clip(cov.query, QUERY_CHARS)


def answer(cov: Covenant) -> ModelRequest:
    """The smart pattern's single call: the query itself, in context."""
    return _request(cov, "assistant", query_text(cov), "chat", SMART_TOKENS)


def work(cov: Covenant, title: str, instruction: str, *, take: int = 0) -> ModelRequest:
    """A worker's part of the task. `take` > 0 asks for another independent attempt."""
    again = f"\nThis is independent attempt #{take + 1}; think it through afresh." if take else ""
    user = (
        f"Overall task: {query_text(cov)}\n\nYour part ({title}): {instruction}\n"
        f"Do your part only, thoroughly and concisely.{again}"
    )
    return _request(cov, "worker", user, "work", WORK_TOKENS, seed=take or None)


def plan(cov: Covenant, max_steps: int) -> ModelRequest:
    user = (
        f"Break this task into at most {max_steps} independent subtasks that workers can do "
        f"in parallel.\nTask: {query_text(cov)}\n\n"
        'Reply with JSON only: {"steps": [{"id": "s1", "title": "short title", '
        '"instruction": "what the worker must do"}]}'
    )
    return _request(cov, "planner", user, "plan", PLAN_TOKENS, json_mode=True, temperature=0.2)


def evaluate(cov: Covenant, draft: str, bar: float, *, rnd: int = 1) -> ModelRequest:
    user = (
        f"Task: {query_text(cov)}\n\nDraft of round {rnd}:\n{draft}\n\n"
        f"Score the draft from 0 to 1 against the task (the bar is {bar:.2f}) and say what "
        'to improve. Reply with JSON only: {"score": 0.0, "critique": "..."}'
    )
    return _request(
        cov, "evaluator", user, "evaluate", EVALUATE_TOKENS, json_mode=True, temperature=0.0
    )


def improve(cov: Covenant, draft: str, critique: str, *, take: int = 0) -> ModelRequest:
    user = (
        f"Task: {query_text(cov)}\n\nCurrent draft:\n{draft}\n\nCritique:\n{critique}\n\n"
        "Rewrite the draft so it answers the critique. Reply with the new draft only."
    )
    return _request(cov, "optimizer", user, "improve", IMPROVE_TOKENS, seed=take or None)


def synthesize(cov: Covenant, digest: str) -> ModelRequest:
    user = (
        f"Task: {query_text(cov)}\n\nThe sub-agents' results:\n{digest}\n\n"
        "Combine them into one complete answer to the task. Keep what is right, resolve "
        "contradictions, drop repetition."
    )
    return _request(cov, "synthesizer", user, "synthesize", SYNTHESIZE_TOKENS)


def vote(cov: Covenant, candidates: list[str]) -> ModelRequest:
    listing = "\n\n".join(f"Option {i}: {c}" for i, c in enumerate(candidates, 1))
    user = (
        f"Task: {query_text(cov)}\n\nCandidate answers:\n{listing}\n\n"
        f"Pick the best of the {len(candidates)} options. Reply with JSON only: "
        '{"choice": <option number>, "reason": "..."}'
    )
    return _request(cov, "judge", user, "vote", VOTE_TOKENS, json_mode=True, temperature=0.0)


def reask(request: ModelRequest, reply: str, error: str) -> ModelRequest:
    """The same request again, with the invalid reply and what was wrong with it."""
    fix = f"That reply was not valid: {error}. Reply again with valid JSON only, nothing else."
    return request.model_copy(
        update={
            "messages": [
                *request.messages,
                Message(role="assistant", content=clip(reply, HISTORY_CHARS)),
                Message(role="user", content=fix),
            ]
        }
    )
