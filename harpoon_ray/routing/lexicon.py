"""The vocabulary the complexity analyser counts, as data: stems and phrases per signal.

Words are matched by stem (a word counts when it starts with a listed stem of four or
more letters, or equals a listed short word), phrases as exact word pairs. Looking words
up in dicts after one tokenising pass is what keeps the analyser in the tens of
microseconds; one big alternation regex per signal cost ten times more.

The lists are general: words that mark a kind of request in any field, not words taken
from a set of known prompts.
"""

from __future__ import annotations

from functools import lru_cache

# signal -> stems (prefix match, >= 4 letters) and short words (exact match)
_STEMS: dict[str, str] = {
    "reasoning": (
        "analys analyz analyt compar contrast evaluat assess critiqu critic justif reason argu"
        " implicat design architect strateg recommend diagnos investigat propos optimis"
        " optimiz prioritis prioritiz deriv prove proof weigh formalis formaliz synthes"
        " reconcil hypothes counterargu tradeoff rigor rigour generalis generaliz"
    ),
    "task": (
        "write create draft build implement generat compos produc develop plan explain"
        " describ summar outlin convert calculat comput estimat solve review improv"
        " rewrit refactor translat"
    ),
    "steps": "first second third then next final afterward also additional each",
    "code": (
        "function method endpoint regex schema database compil runtime thread mutex deadlock"
        " concurren recurs algorithm refactor debug exception python javascript typescript"
        " golang java bash kubernetes docker script async await lambda const struct impl"
        " query cache kernel"
    ),
    "maths": (
        "equation integral derivativ differentia theorem lemma matrix matric eigen probab"
        " variance bayes regression optimum convex gradient polynomial logarithm"
        " modulo prime induction asymptot statistic converge diverge"
    ),
    "domain": (
        "latenc throughput consisten idempoten partition replica shard consensus distribut"
        " microservice encrypt cryptograph authenticat vulnerab complian regulat liabil"
        " jurisdict contract statut gdpr hipaa clinic pharmac dosage patholog symptom"
        " epidemiolog genom protein enzyme molecul quantum thermodynam entropy relativ"
        " portfolio hedg arbitrage valuation amortis amortiz liquidit macroeconom monetar"
        " fiscal inflation elastic equilibri econometric actuar neural transformer embedding"
        " finetun inference overfit hyperparam ontolog epistemolog phenomenolog hermeneut"
        " metaphysic dialectic procurement logistic stakeholder governance migration scalab"
        " benchmark methodolog causal confound"
    ),
    "constraints": (
        "must should shall ensure without exactly only within limit constraint assum budget"
        " deadline requirement format table cite citation source"
    ),
}

# short words that only count as a whole word
_WORDS: dict[str, str] = {
    "api": "code",
    "sql": "code",
    "bug": "code",
    "def": "code",
    "let": "code",
    "var": "code",
    "fn": "code",
    "func": "code",
    "rust": "code",
    "c++": "code",
    "json": "code",
    "why": "reasoning",
    "and": "joint",
    "or": "joint",
    "while": "joint",
}

_PHRASES: dict[str, str] = {
    "trade off": "reasoning",
    "pros and": "reasoning",
    "explain why": "reasoning",
    "root cause": "reasoning",
    "edge case": "reasoning",
    "edge cases": "reasoning",
    "failure modes": "reasoning",
    "what would": "reasoning",
    "under what": "reasoning",
    "step by": "steps",
    "for each": "steps",
    "after that": "steps",
    "in addition": "steps",
    "as well": "steps",
    "race condition": "code",
    "unit test": "code",
    "unit tests": "code",
    "stack trace": "code",
    "expected value": "maths",
    "confidence interval": "maths",
    "big o": "maths",
    "supply chain": "domain",
    "peer review": "domain",
    "at least": "constraints",
    "at most": "constraints",
    "no more": "constraints",
    "need to": "constraints",
    "given that": "constraints",
}

# Plainly simple asks: the first words of a lookup, a greeting, a rewording.
_OPENERS = "hi hello hey thanks thank who when where which define spell translate rephrase reword"
SIMPLE_OPENERS: frozenset[str] = frozenset((_OPENERS + " correct").split())
SIMPLE_PHRASES: frozenset[str] = frozenset(
    {
        "one word",
        "one sentence",
        "one line",
        "yes or",
        "true or",
        "good morning",
        "good evening",
        "good night",
        "what is",
        "whats the",
        "how many",
        "how much",
        "how old",
        "how tall",
        "how far",
        "the capital",
        "the plural",
        "the opposite",
        "a synonym",
        "the typo",
        "the spelling",
        "the grammar",
    }
)

MIN_STEM = 4
MAX_STEM = max(len(s) for group in _STEMS.values() for s in group.split())

STEMS: dict[str, str] = {s: signal for signal, group in _STEMS.items() for s in group.split()}
WORDS: dict[str, str] = _WORDS
PHRASES: dict[str, str] = _PHRASES
# First words of the phrases: most words start none, and a set test is cheaper than
# building the pair to look it up.
PHRASE_STARTS: frozenset[str] = frozenset(p.split()[0] for p in PHRASES)
SIMPLE_STARTS: frozenset[str] = frozenset(p.split()[0] for p in SIMPLE_PHRASES)


@lru_cache(maxsize=65_536)
def classify(word: str) -> str | None:
    """The signal a lowercase word counts towards, or None."""
    hit = WORDS.get(word)
    if hit is not None:
        return hit
    for n in range(min(len(word), MAX_STEM), MIN_STEM - 1, -1):
        hit = STEMS.get(word[:n])
        if hit is not None:
            return hit
    return None
