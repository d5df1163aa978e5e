"""An OpenAI-compatible HTTP server with scripted faults, for Harpoon's tests and yours.

Point any OpenAI-compatible client at it (the `openai` and `groq` SDKs, Cloudflare's
Workers AI path) and script what each request gets: a delay, a 429 with Retry-After, a
500/503/400/401, a hang, a stream dropped after N chunks, a malformed body, a fixed text.
Unscripted requests get a deterministic answer echoing the prompt, with token usage.

    from harpoon_ray.testing import serve_in_thread

    with serve_in_thread() as server:
        server.script("gpt-4o", [{"status": 429, "retry_after": 1}, {}])
        client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="test")
        ...                          # first call gets a 429, the second an answer
        assert server.calls()["gpt-4o"] == 2

Endpoints, under each of the prefixes `/v1` (OpenAI and compatible servers), `/openai/v1`
(Groq), `/client/v4/accounts/{account}/ai/v1` (Cloudflare Workers AI) and
`/v1/{account}/{gateway}/workers-ai/v1` (Cloudflare AI Gateway):

- `POST .../chat/completions`: with or without `stream` (SSE chunks in OpenAI's format,
  a usage chunk when `stream_options.include_usage` is set, then `data: [DONE]`).
- `GET .../models`.

Scripting, on the bare server: `POST /_script` with `{"model": ..., "steps": [...]}`
queues steps (each request for that model consumes one), `DELETE /_script` forgets queues
and counts, `GET /_calls` returns calls per model. A request's `x-harpoon-script` header
(one step as JSON) overrides the queue. Steps are `harpoon_ray.testing.scripts.Step`.

It binds to loopback only. Run it alone with `python -m harpoon_ray.testing.server`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import ConfigError, ValidationFailed
from ..schemas import Message
from .replies import Reply, error_body, models_body, sse
from .scripts import ScriptBook, Step, parse_step

LOOPBACK = ("127.0.0.1", "::1", "localhost")
PREFIXES = (
    "/v1",
    "/openai/v1",
    "/client/v4/accounts/{account}/ai/v1",
    "/v1/{account}/{gateway}/workers-ai/v1",
)


class ScriptedCut(Exception):
    """Raised inside a stream to drop the connection on purpose (never logged)."""


class _QuietCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ScriptedCut))


_QUIET_CUTS = _QuietCuts()


def _error(status: int, message: str, param: str | None = None, **headers: str) -> Response:
    return JSONResponse(error_body(status, message, param), status_code=status, headers=headers)


async def _read_json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"request body is not valid JSON: {exc}", param="body") from None


def _parse_chat(body: Any) -> tuple[str, list[Message], int, bool, bool]:
    if not isinstance(body, dict):
        raise ValidationFailed("request body must be a JSON object", param="body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ValidationFailed("`model` is required and must be a string", param="model")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed("`messages` must be a non-empty list", param="messages")
    try:
        messages = [
            Message(role=m.get("role"), content=str(m.get("content") or ""))
            for m in raw
            if isinstance(m, dict)
        ]
    except ValidationError as exc:
        raise ValidationFailed(f"messages: {exc.errors()[0]['msg']}", param="messages") from None
    if len(messages) != len(raw):
        raise ValidationFailed("every message must be an object", param="messages")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 512
    if not isinstance(max_tokens, int) or max_tokens <= 0:
        raise ValidationFailed("`max_tokens` must be a positive integer", param="max_tokens")
    options = body.get("stream_options") or {}
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    return model, messages, max_tokens, bool(body.get("stream")), include_usage


async def _hang(request: Request) -> Response:
    """Wait until the client gives up (the body is read, so only a disconnect arrives)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    return Response(status_code=499)


class _SSEStream:
    """A streamed reply as a bare ASGI response, so a scripted cut can drop the socket."""

    def __init__(self, reply: Reply, step: Step, include_usage: bool, groq: bool) -> None:
        self.reply, self.step, self.include_usage, self.groq = reply, step, include_usage, groq

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        async def emit(text: str) -> None:
            await send({"type": "http.response.body", "body": text.encode(), "more_body": True})

        if self.step.malformed:
            await emit("data: {not json\n\n")
        reply, usage = self.reply, self.include_usage
        await emit(reply.chunk({"role": "assistant", "content": ""}, None, usage))
        for n, group in enumerate(reply.content_groups()):
            if self.step.cut_after is not None and n >= self.step.cut_after:
                raise ScriptedCut(f"cut after {n} chunks")
            if self.step.chunk_delay_s:
                await asyncio.sleep(self.step.chunk_delay_s)
            await emit(reply.chunk({"content": group}, None, usage))
        if self.step.cut_after is not None:
            raise ScriptedCut("cut before the final chunk")
        await emit(reply.chunk({}, reply.finish_reason, usage, groq=self.groq))
        if usage:
            await emit(reply.usage_chunk())
        await emit(sse("[DONE]"))
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def create_app(book: ScriptBook | None = None) -> Starlette:
    """The server as an ASGI app; `book` holds its scripts (a new one when not given)."""
    book = book or ScriptBook()
    logging.getLogger("uvicorn.error").addFilter(_QUIET_CUTS)

    async def chat_completions(request: Request) -> Response | _SSEStream:
        try:
            body = await _read_json(request)
            model, messages, max_tokens, stream, include_usage = _parse_chat(body)
            header = request.headers.get("x-harpoon-script")
            step = parse_step(json.loads(header), "x-harpoon-script") if header else None
        except json.JSONDecodeError:
            return _error(400, "x-harpoon-script is not valid JSON", "x-harpoon-script")
        except ValidationFailed as exc:
            return _error(400, exc.message, exc.param)
        queued = book.next_for(model, from_queue=step is None)
        step = step or queued or Step()
        if step.latency_s:
            await asyncio.sleep(step.latency_s)
        if step.hang:
            return await _hang(request)
        if step.status is not None:
            headers = {"retry-after": f"{step.retry_after:g}"} if step.retry_after else {}
            return _error(step.status, f"scripted {step.status} for {model}", **headers)
        reply = Reply(model, messages, max_tokens, step.text)
        if stream:
            groq = request.url.path.startswith("/openai/v1/")
            return _SSEStream(reply, step, include_usage, groq)
        if step.malformed:
            return Response('{"id": "chatcmpl-broken", "choices": [', media_type="application/json")
        return JSONResponse(reply.body())

    async def list_models(request: Request) -> Response:
        from ..catalog import load_catalog

        ids = {m.provider_model for m in load_catalog().models} | set(book.calls())
        return JSONResponse(models_body(sorted(ids)))

    async def script(request: Request) -> Response:
        try:
            body = await _read_json(request)
            if not isinstance(body, dict) or not isinstance(body.get("model"), str):
                raise ValidationFailed("`model` must be a string", param="model")
            raw_steps = body.get("steps")
            if not isinstance(raw_steps, list):
                raise ValidationFailed("`steps` must be a list", param="steps")
            steps = [parse_step(s, f"steps[{i}]") for i, s in enumerate(raw_steps)]
        except ValidationFailed as exc:
            return _error(400, exc.message, exc.param)
        book.add(body["model"], steps)
        return JSONResponse({"model": body["model"], "pending": book.pending()})

    async def reset(request: Request) -> Response:
        book.reset()
        return JSONResponse({"reset": True})

    async def calls(request: Request) -> Response:
        return JSONResponse(book.calls())

    routes = [Route("/_script", script, methods=["POST"])]
    routes += [Route("/_script", reset, methods=["DELETE"]), Route("/_calls", calls)]
    for prefix in PREFIXES:
        routes.append(Route(f"{prefix}/chat/completions", chat_completions, methods=["POST"]))
        routes.append(Route(f"{prefix}/models", list_models, methods=["GET"]))
    app = Starlette(routes=routes)
    app.state.book = book
    return app


class RunningServer:
    """A test server running in a background thread: where it is, and its scripts."""

    def __init__(self, base_url: str, book: ScriptBook) -> None:
        self.base_url = base_url
        self._book = book

    @property
    def openai_base_url(self) -> str:
        """For `openai.AsyncOpenAI(base_url=...)` and other OpenAI-compatible clients."""
        return self.base_url + "/v1"

    def cloudflare_base_url(self, account: str = "test-account") -> str:
        """Workers AI's OpenAI-compatible path for `account`."""
        return f"{self.base_url}/client/v4/accounts/{account}/ai/v1"

    def script(self, model: str, steps: list[Step | dict[str, Any]]) -> None:
        """Queue `steps` for `model`: each request for it consumes the next one."""
        parsed = [s if isinstance(s, Step) else parse_step(s, "steps") for s in steps]
        self._book.add(model, parsed)

    def calls(self) -> dict[str, int]:
        """Requests received per model since the last reset."""
        return self._book.calls()

    def reset(self) -> None:
        """Forget queued steps and call counts."""
        self._book.reset()


def _check_loopback(host: str) -> None:
    if host not in LOOPBACK:
        raise ConfigError(
            f"the test server binds to loopback only ({', '.join(LOOPBACK)}), not {host!r}",
            param="host",
        )


@contextmanager
def asgi_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    name: str = "harpoon-test-server",
    lifespan: str = "off",
    startup_timeout_s: float = 10.0,
) -> Iterator[str]:
    """Serve any ASGI `app` with uvicorn on a loopback `host:port` (0 = a free port) in a
    daemon thread until the block exits; yields its base URL. Binding the socket first
    makes the port known before uvicorn starts, so nothing races for it."""
    _check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan=lifespan,
        timeout_graceful_shutdown=1,
        backlog=4096,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"{name} did not start on {host}:{bound}")
        time.sleep(0.01)
    url_host = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{url_host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def serve_in_thread(
    host: str = "127.0.0.1", port: int = 0, *, startup_timeout_s: float = 10.0
) -> Iterator[RunningServer]:
    """Run the test server on `host:port` (0 = a free port) until the block exits."""
    book = ScriptBook()
    app = create_app(book)
    with asgi_in_thread(app, host, port, startup_timeout_s=startup_timeout_s) as url:
        yield RunningServer(url, book)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m harpoon_ray.testing.server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    _check_loopback(args.host)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
