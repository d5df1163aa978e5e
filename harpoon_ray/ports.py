"""A loopback port for a server about to start: a test's, a benchmark's, or one of the
listeners of the HAProxy that `harpoon run` starts (its stats and metrics ports).

Picked below the kernel's ephemeral range: Ray's workers bind port 0 while Serve starts,
and once one of them was given a port just picked from that range (bind 0, close)
before Serve's proxy could bind it. Ports below the range are never handed out for 0.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20_000


def _ephemeral_low() -> int:
    try:
        return int(_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; elsewhere a guess


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 right now, below the ephemeral range when it can."""
    low = _ephemeral_low()
    pick = random.Random()
    for _ in range(100):
        port = pick.randrange(min(_LOWEST, low - 1000), low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
