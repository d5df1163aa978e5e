"""Prepared frames, read back by the `websockets` library's own client-side parser."""

from __future__ import annotations

import json
import pickle

import pytest
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from harpoon_ray.serve.ws_frames import MIN_DEFLATE_BYTES, PreparedText


def read_frame(data: bytes, window_bits: int = 0) -> Frame:
    """Parse one server frame as a client that negotiated what the socket did."""
    extensions = []
    if window_bits:
        extensions.append(PerMessageDeflate(True, True, window_bits, window_bits))
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False, max_size=None, extensions=extensions)
    with pytest.raises(StopIteration) as done:
        next(parser)
    assert reader.at_eof(), "bytes left after the frame"
    return done.value.value


def events_text(n: int) -> str:
    return json.dumps(
        [{"seq": i, "type": "agent.thought", "payload": {"text": f"step {i}"}} for i in range(n)]
    )


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 200_000])
def test_a_plain_frame_carries_the_whole_text_at_every_length_encoding(size: int) -> None:
    """Payload lengths on both sides of the 7-bit, 16-bit and 64-bit encodings read back."""
    text = "x" * size
    frame = read_frame(PreparedText(text).frame())
    assert frame.opcode is Opcode.TEXT and frame.fin and not frame.rsv1
    assert frame.data.decode() == text


@pytest.mark.parametrize("window_bits", [9, 12, 15])
def test_a_deflated_frame_inflates_to_the_text_for_its_window(window_bits: int) -> None:
    """A socket that negotiated deflate gets a compressed frame a client of that window
    size decodes to the same text."""
    text = events_text(500)
    wire = PreparedText(text).frame(window_bits)
    assert len(wire) < len(text) // 4
    frame = read_frame(wire, window_bits)
    assert frame.data.decode() == text and not frame.rsv1  # the decoder cleared it


def test_a_short_message_is_never_compressed() -> None:
    """A heartbeat-sized message goes out plain, and as the same bytes for every kind."""
    message = PreparedText('{"type":"heartbeat","ts":1.5}')
    assert message.frame(15) is message.frame(0)
    assert len(message.data) < MIN_DEFLATE_BYTES


def test_frames_are_built_once_per_kind() -> None:
    """The second socket of a kind gets the very bytes object the first one got."""
    message = PreparedText(events_text(50))
    assert message.frame(15) is message.frame(15)
    assert message.frame(0) is message.frame(0)
    assert message.frame(15) is not message.frame(0)


def test_a_pickled_message_carries_its_text_and_no_frames() -> None:
    """Across a process (Serve's proxy ingress) only the text travels."""
    message = PreparedText(events_text(50))
    message.frame(15)
    copy = pickle.loads(pickle.dumps(message))
    assert copy.text == message.text and copy._frames == {}
