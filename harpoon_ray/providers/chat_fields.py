"""The fields of an OpenAI-style chat request that every OpenAI-shaped client sends.

Shared by the wire client (`wire.py`) and the SDK adapters (`openai_sdk.py`), so both ask
the provider for the same thing; each adds what only it needs (streaming options, the
SDK's per-call timeout).
"""

from __future__ import annotations

from typing import Any

from ..schemas import ModelRequest, ModelSpec


def chat_fields(request: ModelRequest, model: ModelSpec, max_tokens_param: str) -> dict[str, Any]:
    """Model, messages, the token cap (under the provider's name for it), temperature,
    and the seed and JSON mode when asked for."""
    fields: dict[str, Any] = {
        "model": model.provider_model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        max_tokens_param: request.max_tokens,
        "temperature": request.temperature,
    }
    if request.seed is not None:
        fields["seed"] = request.seed
    if request.json_mode:
        fields["response_format"] = {"type": "json_object"}
    return fields
