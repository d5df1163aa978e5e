"""What a call cost, and what it would have cost on the flagship model.

Prices are the catalog's (USD per 1M tokens); token counts are the provider's own
usage figures. The saving is reported against the catalog's `flagship_reference`, the
model a caller would have used without routing, so it is negative when a pinned model
costs more than the reference.
"""

from __future__ import annotations

from ..catalog import Catalog
from ..errors import ValidationFailed
from ..schemas import Attempt, Completion, ModelRequest, ModelSpec, RoutingDecision

# Rough characters per token for English text, used only before a call, to estimate.
CHARS_PER_TOKEN = 4
# Chat formatting overhead per message (role markers), as the OpenAI tokenisers count it.
TOKENS_PER_MESSAGE = 4


def price(
    spec: ModelSpec, input_tokens: int, output_tokens: int, catalog: Catalog
) -> tuple[float, float, float]:
    """(cost, flagship_cost, saving) in USD for these token counts on `spec`."""
    if input_tokens < 0 or output_tokens < 0:
        raise ValidationFailed(
            f"token counts must be >= 0, got input={input_tokens} output={output_tokens}",
            param="input_tokens" if input_tokens < 0 else "output_tokens",
        )
    cost = spec.cost(input_tokens, output_tokens)
    flagship_cost = catalog.flagship.cost(input_tokens, output_tokens)
    return cost, flagship_cost, flagship_cost - cost


def estimate_input_tokens(request: ModelRequest) -> int:
    """A pre-call estimate of the prompt's tokens, for choosing a model within budget."""
    chars = sum(len(m.content) for m in request.messages)
    return -(-chars // CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(request.messages)


def estimate_output_tokens(text: str) -> int:
    """Tokens of an answer whose provider reported no usage (a cut stream)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def priced_completion(
    catalog: Catalog,
    spec: ModelSpec,
    decision: RoutingDecision,
    attempts: list[Attempt],
    *,
    text: str,
    tokens: tuple[int, int],
    ttft_s: float,
    latency_s: float,
    finish_reason: str,
    simulated: bool,
) -> Completion:
    """The routed answer with its price, the flagship's and the saving."""
    cost, flagship_cost, saving = price(spec, tokens[0], tokens[1], catalog)
    return Completion(
        text=text,
        model=spec.id,
        provider=spec.provider,
        tier=spec.tier,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_usd=cost,
        flagship_model=catalog.flagship.id,
        flagship_cost_usd=flagship_cost,
        saving_usd=saving,
        ttft_s=max(0.0, ttft_s),
        latency_s=max(0.0, latency_s),
        finish_reason=finish_reason,
        simulated=simulated,
        attempts=list(attempts),
        routing=decision,
    )
