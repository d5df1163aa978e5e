"""Both WebSockets over real sockets: replay, resume, heartbeats, bad frames, drops.

The server-side drop goes through `testing.cutting_proxy`, which ends a socket at a frame
boundary as a server going away does (close 1001), like a restarting replica or a load
balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from harpoon_ray.testing.cutting_proxy import cutting_proxy

pytestmark = pytest.mark.serve

QUERY = "Write a short guide to brewing tea, section by section."


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://", 1) + path


async def start(base: str, agents: int = 4, pattern: str = "parallel") -> str:
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.post(
            f"{base}/api/orchestrate/{pattern}", json={"query": QUERY, "agents": agents}
        )
        r.raise_for_status()
        return r.json()["covenant_id"]


async def log_seqs(base: str, cid: str) -> list[int]:
    async with httpx.AsyncClient(timeout=60) as c:
        seqs: list[int] = []
        while True:
            page = (
                await c.get(f"{base}/api/covenants/{cid}/events", params={"after": len(seqs)})
            ).json()
            if not page["events"]:
                return seqs
            seqs += [e["seq"] for e in page["events"]]


def unpack(raw: str | bytes) -> list[dict]:
    """A server frame as the list of objects it carries: an array frame is a batch."""
    frame = json.loads(raw)
    return frame if isinstance(frame, list) else [frame]


async def read_until_close(ws) -> tuple[list[dict], int | None]:
    frames = []
    try:
        async for raw in ws:
            frames += unpack(raw)
    except ConnectionClosed:
        pass
    return frames, ws.close_code


async def test_orchestrator_socket_streams_the_whole_log_then_ends(serve_app: str) -> None:
    """From after=0 the socket gives every event of the covenant in order, then `end`."""
    cid = await start(serve_app)
    async with connect(ws_url(serve_app, f"/api/agents/orchestrator/{cid}/ws")) as ws:
        frames, code = await asyncio.wait_for(read_until_close(ws), 60)
    events = [f for f in frames if "seq" in f]
    assert [e["seq"] for e in events] == await log_seqs(serve_app, cid)
    assert frames[-1]["type"] == "end" and frames[-1]["last_seq"] == events[-1]["seq"]
    assert code == 1000


async def test_replay_of_a_finished_covenant_comes_in_array_frames(serve_app: str) -> None:
    """A log read back from the store goes out a page per frame (a JSON array), not an
    event per frame, and still in order."""
    async with httpx.AsyncClient(timeout=120) as c:
        r = await c.post(
            f"{serve_app}/api/orchestrate/parallel",
            params={"wait": "true"},
            json={"query": QUERY, "agents": 6},
        )
    r.raise_for_status()
    cid = r.json()["covenant"]["id"]
    full = await log_seqs(serve_app, cid)
    raw_frames = []
    async with connect(ws_url(serve_app, f"/api/agents/orchestrator/{cid}/ws")) as ws:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                raw_frames.append(json.loads(raw))
    batches = [f for f in raw_frames if isinstance(f, list)]
    events = [e for f in raw_frames for e in (f if isinstance(f, list) else [f]) if "seq" in e]
    assert [e["seq"] for e in events] == full
    assert batches and len(raw_frames) < len(full)


async def test_resume_after_a_seq_starts_right_after_it(serve_app: str) -> None:
    """?after=K replays from K+1: nothing before it, nothing missing."""
    cid = await start(serve_app)
    path = f"/api/agents/orchestrator/{cid}/ws"
    async with connect(ws_url(serve_app, path)) as ws:
        await asyncio.wait_for(read_until_close(ws), 60)
    full = await log_seqs(serve_app, cid)
    async with connect(ws_url(serve_app, f"{path}?after=3")) as ws:
        frames, _ = await asyncio.wait_for(read_until_close(ws), 60)
    assert [f["seq"] for f in frames if "seq" in f] == full[3:]


async def test_socket_closed_mid_run_and_resumed_ends_with_the_exact_log(
    serve_app: str,
) -> None:
    """A socket opened on a running covenant, closed after a few frames and resumed from
    its last seq again and again, ends with exactly the log: no gap, no duplicate."""
    cid = await start(serve_app, agents=40)
    seen: list[int] = []
    ended = False
    for _ in range(1000):
        url = ws_url(
            serve_app, f"/api/agents/orchestrator/{cid}/ws?after={seen[-1] if seen else 0}"
        )
        async with connect(url) as ws:
            for _ in range(2):
                frames = unpack(await asyncio.wait_for(ws.recv(), 30))
                seen += [f["seq"] for f in frames if "seq" in f]
                if any(f["type"] == "end" for f in frames):
                    ended = True
                    break
        if ended:
            break
    assert ended
    assert seen == await log_seqs(serve_app, cid)


async def test_heartbeats_arrive_when_idle(tuned_app: str) -> None:
    """An idle mediator socket receives heartbeat frames."""
    async with connect(ws_url(tuned_app, "/api/agents/mediator/idle-user/ws")) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert frame["type"] == "heartbeat"


async def test_bad_frames_get_error_events_and_the_socket_survives(serve_app: str) -> None:
    """Malformed, unknown and binary frames each get an `error`; a ping still gets a pong."""
    async with connect(ws_url(serve_app, "/api/agents/mediator/carol/ws")) as ws:
        await ws.send("{not json")
        first = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "dance"}))
        second = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "query", "query": ""}))
        third = json.loads(await ws.recv())
        await ws.send(b"\x00\x01")
        fourth = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "ping"}))
        pong = json.loads(await ws.recv())
    assert all(f["type"] == "error" for f in (first, second, third, fourth))
    assert third["error"]["param"] == "query"
    assert pong["type"] == "pong"


async def test_mediator_socket_submits_and_streams_the_covenant(serve_app: str) -> None:
    """A query frame makes a covenant; its events follow on the same socket, then `end`."""
    async with connect(ws_url(serve_app, "/api/agents/mediator/dave/ws")) as ws:
        await ws.send(json.dumps({"type": "query", "query": QUERY, "pattern": "smart"}))
        submitted = json.loads(await asyncio.wait_for(ws.recv(), 30))
        cid = submitted["covenant"]["id"]
        events = []
        ended = False
        while not ended:
            for frame in unpack(await asyncio.wait_for(ws.recv(), 30)):
                ended = ended or frame["type"] == "end"
                if "seq" in frame:
                    events.append(frame)
    assert submitted["type"] == "submitted"
    assert {e["covenant_id"] for e in events} == {cid}
    assert [e["seq"] for e in events] == await log_seqs(serve_app, cid)


async def test_unknown_covenant_socket_is_told_and_closed(serve_app: str) -> None:
    """Following a covenant that does not exist gets an error frame and close code 4404."""
    url = ws_url(serve_app, "/api/agents/orchestrator/cov_nothinghere0000/ws")
    async with connect(url) as ws:
        frames, code = await asyncio.wait_for(read_until_close(ws), 30)
    assert frames[0]["error"]["type"] == "not_found_error"
    assert code == 4404


async def gateway_counters(base: str) -> dict:
    async with httpx.AsyncClient(timeout=30) as c:
        return (await c.get(f"{base}/api/agents/status")).json()["gateway"]


async def test_many_sockets_on_one_covenant_share_one_feed(serve_app: str) -> None:
    """Twenty sockets following one running covenant share the gateway's feed (one, or a
    couple if some arrive after the run ended), and each still gets the whole log. The
    covenant is big enough to outlast twenty handshakes on a loaded machine: sockets that
    arrive after a feed has ended start a new one, which is right but not what is tested."""
    before = await gateway_counters(serve_app)
    cid = await start(serve_app, agents=1000)
    url = ws_url(serve_app, f"/api/agents/orchestrator/{cid}/ws")
    sockets = await asyncio.gather(*(connect(url) for _ in range(20)))
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(read_until_close(ws) for ws in sockets)), 120
        )
    finally:
        for ws in sockets:
            await ws.close()
    after = await gateway_counters(serve_app)
    assert after["subscriptions"] - before["subscriptions"] == 20
    assert after["feeds_started"] - before["feeds_started"] <= 2, after
    expected = await log_seqs(serve_app, cid)
    for frames, _ in results:
        assert [f["seq"] for f in frames if "seq" in f] == expected


CLOSE_GOING_AWAY = 1001


async def status_of(base: str, cid: str) -> str:
    async with httpx.AsyncClient(timeout=30) as c:
        return (await c.get(f"{base}/api/covenants/{cid}")).json()["covenant"]["status"]


async def cut_mid_run(base: str, agents: int) -> tuple[str, list[int], float]:
    """Start a covenant and follow it through the cutting proxy until the server side
    drops the socket after two frames: the covenant id, the seqs seen and when the cut
    came (epoch seconds, the clock events are stamped with)."""
    cid = await start(base, agents=agents)
    path = f"/api/agents/orchestrator/{cid}/ws"
    with cutting_proxy(base, cut_after_frames=2) as proxy:
        async with connect(ws_url(proxy.base_url, path)) as ws:
            first = [unpack(await asyncio.wait_for(ws.recv(), 30)) for _ in range(2)]
            after_cut, code = await asyncio.wait_for(read_until_close(ws), 30)
            cut_at = time.time()
        assert proxy.cuts == 1
    assert code == CLOSE_GOING_AWAY
    assert after_cut == []  # nothing past the cut point reached the client
    return cid, [f["seq"] for frame in first for f in frame if "seq" in f], cut_at


async def test_socket_dropped_by_the_server_mid_run_resumes_with_the_exact_log(
    serve_app: str,
) -> None:
    """Dropped by the server side while the covenant still runs, the client resumes with
    `?after=<last seq>` and ends with exactly the log: no gap, no duplicate."""
    path = "/api/agents/orchestrator/{}/ws?after={}"
    for agents in (300, 1000, 3000):  # bigger until the cut lands mid-run
        cid, before, cut_at = await cut_mid_run(serve_app, agents)
        assert before
        async with connect(ws_url(serve_app, path.format(cid, before[-1]))) as ws:
            rest, _ = await asyncio.wait_for(read_until_close(ws), 120)
        assert any(f["type"] == "end" for f in rest)
        assert before + [f["seq"] for f in rest if "seq" in f] == await log_seqs(serve_app, cid)
        # Mid-run: the covenant was still logging events after the cut.
        if any(f.get("ts", 0) > cut_at for f in rest):
            return
    pytest.fail("every covenant had ended before its socket was cut")
