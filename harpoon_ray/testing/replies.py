"""OpenAI's wire format, built by hand: completion bodies, stream chunks, error bodies.

Kept apart from the server so the shapes can be read (and checked against OpenAI's API
reference) in one place.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from ..providers import tokens
from ..schemas import Message

FINGERPRINT = "fp_harpoon_test"
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    422: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    502: "server_error",
    503: "service_unavailable",
}


class Reply:
    """The answer to one chat request: its text, split in pieces, with usage counted."""

    def __init__(self, model: str, messages: list[Message], max_tokens: int, text: str | None):
        self.model = model
        self.created = int(time.time())
        digest = hashlib.blake2b(
            json.dumps([model, [m.model_dump() for m in messages]]).encode(), digest_size=12
        ).hexdigest()
        self.id = "chatcmpl-" + digest
        last = next((m.content for m in reversed(messages) if m.role == "user"), "")
        answer = text if text is not None else _echo(last)
        self.pieces = tokens.pieces(answer)
        self.finish_reason = "stop"
        if len(self.pieces) > max_tokens:
            self.pieces = self.pieces[:max_tokens]
            self.finish_reason = "length"
        self.text = "".join(self.pieces)
        self.prompt_tokens = tokens.count_messages(messages)
        self.completion_tokens = len(self.pieces)

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }

    def body(self) -> dict[str, Any]:
        """A `chat.completion` object."""
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": self.usage(),
        }

    def chunk(
        self, delta: dict[str, Any], finish: str | None, with_usage: bool, groq: bool = False
    ) -> str:
        """One `chat.completion.chunk`, as an SSE `data:` event. Groq's last chunk also
        carries the usage in `x_groq`, whatever the request asked."""
        data: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if with_usage:
            data["usage"] = None
        if groq and finish:
            data["x_groq"] = {"id": "req_" + self.id[-12:], "usage": self.usage()}
        return sse(data)

    def usage_chunk(self) -> str:
        """The extra last chunk sent when `stream_options.include_usage` is set."""
        data = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [],
            "usage": self.usage(),
        }
        return sse(data)

    def content_groups(self, per_chunk: int = 3) -> list[str]:
        """The answer's text in stream-sized groups of a few tokens."""
        return [
            "".join(self.pieces[i : i + per_chunk]) for i in range(0, len(self.pieces), per_chunk)
        ]


def _echo(prompt: str) -> str:
    words = prompt.split()
    topic = " ".join(words[:24]) if words else "nothing in particular"
    return (
        f"Test server answer about: {topic}. "
        f"The prompt had {len(words)} words; this reply is deterministic."
    )


def sse(data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {payload}\n\n"


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error object for `status`."""
    kind = _ERROR_TYPES.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": kind}}


def models_body(model_ids: list[str]) -> dict[str, Any]:
    """A `list` of `model` objects."""
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "harpoon-test"}
            for m in model_ids
        ],
    }
