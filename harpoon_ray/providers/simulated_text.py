"""What the simulated provider says: text shaped by the request's purpose and topic.

Pure functions of (prompt, purpose, random source), so the provider is deterministic for
a seed. A planner gets a JSON plan, an evaluator a JSON score and critique whose score
rises with the round number found in the prompt (so evaluator-optimizer loops converge),
everything else plausible prose about the prompt's topic.
"""

from __future__ import annotations

import json
import random
import re

_STOP_WORDS = """a an the and or but if then else of to in on at by for with about from into over
    under is are was were be been being do does did have has had i you he she it we they
    me my your our their this that these those what which who whom how why when where can
    could should would will shall may might must please write give make tell explain
    describe list show find one two three four five six seven eight nine ten step steps
    subtask subtasks part parts round iteration revision attempt draft score critique
    task answer question using use as so not no yes all any each some more most very
    just also than too into out up down evaluate plan improve synthesize vote essay"""
_STOP = frozenset(_STOP_WORDS.split())
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_STEP_COUNT = re.compile(
    r"\b(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)\s+"
    r"(?:\w+\s+)?(?:steps|subtasks|sub-tasks|parts|tasks|sections|workers)\b",
    re.IGNORECASE,
)
_ROUND = re.compile(r"\b(?:round|iteration|revision|attempt|version)\s*#?\s*(\d{1,3})\b", re.I)
_IMPROVED = re.compile(r"\b(?:improved|revised|refined)\b", re.IGNORECASE)
MAX_PLAN_STEPS = 20

_OPENERS = (
    "Here is a considered take on {topic}.",
    "Looking at {topic}, a few points stand out.",
    "On {topic}, the short answer comes first and the reasoning after.",
    "{Topic} is best approached in a few stages.",
)
_BODY = (
    "The key consideration is how {a} interacts with {b}, since that drives most of the outcome.",
    "In practice, {a} matters more than it first appears, especially once {b} is involved.",
    "A common mistake is to treat {a} in isolation; it depends on {b}.",
    "Start with {a}, check the assumptions about {b}, then iterate.",
    "Evidence on {a} is fairly consistent, while {b} varies more from case to case.",
    "The trade-off between {a} and {b} should be made explicit rather than left implicit.",
    "Measuring {a} directly is cheaper than estimating it from {b}.",
    "A small, concrete example of {a} usually clarifies what {b} means here.",
)
_CLOSERS = (
    "In summary, focus on {a} first and revisit {b} once the basics hold.",
    "Overall, {a} and {b} together give a sound basis for the next step.",
    "That should cover {topic} well enough to act on.",
)
_STEP_VERBS = ("Research", "Outline", "Analyse", "Draft", "Compare", "Verify", "Summarise")


def topic_words(prompt: str, limit: int = 6) -> list[str]:
    """The prompt's content words, most frequent and longest first."""
    words = re.findall(r"[A-Za-z][A-Za-z\-']{2,}", prompt)
    counts: dict[str, int] = {}
    for w in words:
        lw = w.lower()
        if lw not in _STOP:
            counts[lw] = counts.get(lw, 0) + 1
    ranked = sorted(counts, key=lambda w: (-counts[w], -len(w), w))
    return ranked[:limit] or ["the question"]


def requested_steps(prompt: str) -> int | None:
    """The step count a prompt asks for ("4 steps", "three subtasks"), if any."""
    match = _STEP_COUNT.search(prompt)
    if not match:
        return None
    raw = match.group(1).lower()
    n = _NUMBER_WORDS.get(raw) or int(raw)
    return max(1, min(n, MAX_PLAN_STEPS))


def improvement_round(prompt: str) -> int:
    """How far an evaluator-optimizer loop has got: the highest round number mentioned,
    else the number of times the prompt says the text was improved."""
    rounds = [int(n) for n in _ROUND.findall(prompt)]
    return max(rounds) if rounds else len(_IMPROVED.findall(prompt))


def prose(prompt: str, rng: random.Random, sentences: int) -> str:
    words = topic_words(prompt)
    topic = " ".join(words[:2])

    def fill(template: str) -> str:
        a, b = rng.choice(words), rng.choice(words)
        return template.format(topic=topic, Topic=topic[:1].upper() + topic[1:], a=a, b=b)

    out = [fill(rng.choice(_OPENERS))]
    out += [fill(rng.choice(_BODY)) for _ in range(max(0, sentences - 2))]
    out.append(fill(rng.choice(_CLOSERS)))
    return " ".join(out)


def plan(prompt: str, rng: random.Random) -> str:
    words = topic_words(prompt, limit=8)
    n = requested_steps(prompt) or rng.randint(2, 5)
    steps = []
    for i in range(n):
        verb = _STEP_VERBS[(i + rng.randrange(len(_STEP_VERBS))) % len(_STEP_VERBS)]
        focus = words[i % len(words)]
        steps.append(
            {
                "id": f"step-{i + 1}",
                "title": f"{verb} {focus}",
                "instruction": f"{verb} {focus} as part of: {' '.join(words[:4])}. "
                f"Report findings in a short paragraph (part {i + 1} of {n}).",
            }
        )
    return json.dumps({"steps": steps})


def evaluate(prompt: str, rng: random.Random) -> str:
    rounds = improvement_round(prompt)
    base = 0.45 + rng.random() * 0.15
    score = round(min(1.0, base + 0.2 * rounds), 3)
    words = topic_words(prompt)
    if score >= 0.8:
        critique = f"Strong answer; the treatment of {words[0]} is clear and complete."
    else:
        critique = (
            f"Adequate, but expand on {rng.choice(words)} and tighten the argument "
            f"about {rng.choice(words)}."
        )
    return json.dumps({"score": score, "critique": critique})


def vote(prompt: str, rng: random.Random) -> str:
    options = re.findall(r"^\s*(?:option\s*)?([A-Z]|\d{1,2})[.):]", prompt, re.M | re.I)
    choice = rng.choice(options) if options else "1"
    return f"I vote for option {choice}. " + prose(prompt, rng, 2)


def generate(prompt: str, purpose: str, rng: random.Random, json_mode: bool) -> str:
    """The whole answer for one request (the provider trims it to `max_tokens`)."""
    if purpose == "plan":
        return plan(prompt, rng)
    if purpose == "evaluate":
        return evaluate(prompt, rng)
    if purpose == "vote":
        return vote(prompt, rng)
    sentences = {"synthesize": 6, "improve": 5, "work": 4}.get(purpose, 3) + rng.randint(0, 3)
    text = prose(prompt, rng, sentences)
    if json_mode:
        return json.dumps({"answer": text})
    return text
