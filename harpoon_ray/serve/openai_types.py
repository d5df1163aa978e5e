"""OpenAI's chat-completions wire format, in and out, and its mapping to Harpoon's types.

Only what Harpoon honours is declared; other OpenAI fields a client sends (top_p, user,
logprobs ...) are accepted and ignored, as OpenAI-compatible servers commonly do, so an
unchanged SDK call never fails on them.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..providers.fastjson import dumps
from ..schemas import Completion, Constraints, Message, ModelRequest

AUTO_MODEL = "harpoon/auto"


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None

    def to_message(self) -> Message:
        if isinstance(self.content, list):
            text = "".join(p.text for p in self.content)
        else:
            text = self.content or ""
        role = "system" if self.role == "developer" else self.role
        return Message(role=role, content=text)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "json_object", "json_schema"] = "text"


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(
        default=AUTO_MODEL,
        min_length=1,
        description="A catalog id, a tier name (edge/primary/flagship) or 'harpoon/auto'.",
    )
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, gt=0, le=32_768)
    max_completion_tokens: int | None = Field(default=None, gt=0, le=32_768)
    temperature: float | None = Field(default=None, ge=0, le=2)
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1, description="Only one choice is supported.")
    response_format: ResponseFormat | None = None
    constraints: Constraints | None = Field(
        default=None, description="Harpoon extension: max cost, max latency, min quality."
    )

    @field_validator("model")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()

    def routed_model(self) -> str | None:
        """None lets the router choose; everything else is a catalog id or a tier."""
        return None if self.model == AUTO_MODEL else self.model

    def to_request(self) -> ModelRequest:
        return ModelRequest(
            messages=[m.to_message() for m in self.messages],
            max_tokens=self.max_completion_tokens or self.max_tokens or 512,
            temperature=0.7 if self.temperature is None else self.temperature,
            json_mode=bool(self.response_format and self.response_format.type != "text"),
            seed=self.seed,
        )


def usage(c: Completion) -> dict[str, int]:
    return {
        "prompt_tokens": c.input_tokens,
        "completion_tokens": c.output_tokens,
        "total_tokens": c.input_tokens + c.output_tokens,
    }


def harpoon_extra(c: Completion) -> dict[str, Any]:
    """What Harpoon adds to an OpenAI response: the model it chose, cost and saving."""
    return {
        "model": c.model,
        "provider": c.provider,
        "tier": str(c.tier),
        "cost_usd": c.cost_usd,
        "flagship_model": c.flagship_model,
        "flagship_cost_usd": c.flagship_cost_usd,
        "saving_usd": c.saving_usd,
        "ttft_s": c.ttft_s,
        "latency_s": c.latency_s,
        "simulated": c.simulated,
        "attempts": [a.model_dump() for a in c.attempts],
        "routing_reason": c.routing.reason if c.routing else None,
    }


def harpoon_headers(c: Completion) -> dict[str, str]:
    return {
        "x-harpoon-model": c.model,
        "x-harpoon-tier": str(c.tier),
        "x-harpoon-cost-usd": f"{c.cost_usd:.8f}",
        "x-harpoon-saving-usd": f"{c.saving_usd:.8f}",
        "x-harpoon-simulated": "true" if c.simulated else "false",
    }


def completion_response(c: Completion) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The JSON body and raw ASGI headers of a non-streamed answer, built once."""
    body = dumps(completion_body(c))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.encode(), v.encode()) for k, v in harpoon_headers(c).items()]
    return body, headers


def completion_body(c: Completion) -> dict[str, Any]:
    return {
        "id": "chatcmpl-" + c.id.removeprefix("cmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": c.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": c.text},
                "finish_reason": c.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage(c),
        "system_fingerprint": None,
        "harpoon": harpoon_extra(c),
    }


class ChunkWriter:
    """Serialises one stream's `chat.completion.chunk` events as SSE lines."""

    def __init__(self, stream_id: str, model: str) -> None:
        self.id = stream_id
        self.model = model
        self.created = int(time.time())
        self._prefix = (
            b'data: {"id":' + dumps(stream_id) + b',"object":"chat.completion.chunk",'
            b'"created":' + str(self.created).encode() + b',"model":' + dumps(model) + b","
        )

    def delta(self, content: str, role: bool = False) -> bytes:
        delta = {"role": "assistant", "content": content} if role else {"content": content}
        choices = [{"index": 0, "delta": delta, "finish_reason": None}]
        return self._prefix + b'"choices":' + dumps(choices) + b"}\n\n"

    def finish(self, c: Completion) -> bytes:
        choices = [{"index": 0, "delta": {}, "finish_reason": c.finish_reason}]
        body = {"choices": choices, "usage": usage(c), "harpoon": harpoon_extra(c)}
        return self._prefix + dumps(body)[1:] + b"\n\n"

    def usage_chunk(self, c: Completion) -> bytes:
        return self._prefix + b'"choices":[],"usage":' + dumps(usage(c)) + b"}\n\n"

    @staticmethod
    def error(body: dict[str, Any]) -> bytes:
        return b"data: " + dumps(body) + b"\n\n"

    @staticmethod
    def done() -> bytes:
        return b"data: [DONE]\n\n"
