"""A frame holding a chunk's whole report (thousands of events) is handed to the page in
slices: nothing is lost or reordered, and the page gets its turn between slices."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.serve]

# A fake socket that delivers one frame of `n` events, then an `end` frame, and a page
# hook costing ~50 us an event (about what the tree's bookkeeping costs): handed on in
# one go, the frame would hold the page for n x 50 us.
DELIVER_ONE_BIG_FRAME = """async n => {
    const {CovenantStream} = await import('/js/stream.js');
    const seen = [];
    let sync = -1, ticks = 0;
    const tick = () => { ticks++; if (seen.length < n) setTimeout(tick, 0); };
    class FakeSocket {
        constructor() {
            setTimeout(() => {
                this.onopen();
                const frame = JSON.stringify(Array.from({length: n}, (_, i) => (
                    {seq: i + 1, type: 'agent.progress', payload: {}})));
                setTimeout(tick, 0);
                this.onmessage({data: frame});
                sync = seen.length;  // handed on before the page got its turn back
                this.onmessage({data: '{"type":"end"}'});
            }, 0);
        }
        close() {}
    }
    const real = window.WebSocket;
    window.WebSocket = FakeSocket;
    try {
        await new Promise((resolve, reject) => {
            const stream = new CovenantStream('cov_slices', {
                lastSeq: () => seen.length ? seen[seen.length - 1] : 0,
                done: () => seen.length === n,
                onEvent: ev => {
                    const until = performance.now() + 0.05;
                    while (performance.now() < until) {}
                    seen.push(ev.seq);
                    if (seen.length === n) { stream.stop(); resolve(); }
                },
                onState: () => {},
            });
            stream.start();
            setTimeout(() => reject(new Error(`only ${seen.length} of ${n}`)), 30000);
        });
    } finally {
        window.WebSocket = real;
    }
    return {sync, ticks, inOrder: seen.every((s, i) => s === i + 1), count: seen.length};
}"""


def test_a_big_frame_is_applied_in_order_in_slices_the_page_runs_between(page: Any) -> None:
    got = page.evaluate(DELIVER_ONE_BIG_FRAME, 4000)
    assert got["count"] == 4000 and got["inOrder"]
    assert 0 < got["sync"] < 4000, got  # the first slice only, in the message's own task
    assert got["ticks"] >= 3, got  # other tasks ran while the frame was being applied
