"""What the local Ray's processes use, for `bench_agents.py`: peak memory and CPU time.

Both walk this process and its descendants (the Ray started by the benchmark), so other
engineers' Ray instances on the machine are not counted.
"""

from __future__ import annotations

import os
import threading

import psutil


class MemorySampler:
    """Peak summed RSS of this process and all its descendants (the local Ray)."""

    def __init__(self, every_s: float = 0.2) -> None:
        self.every_s = every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total(self) -> int:
        me = psutil.Process()
        total = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._total())
            self._stop.wait(self.every_s)

    def __enter__(self) -> MemorySampler:
        self.peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop.clear()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _kind(p: psutil.Process) -> str:
    if p.pid == os.getpid():
        return "driver"
    try:
        cmd = p.cmdline()
    except psutil.Error:
        return "other"
    first = cmd[0] if cmd else p.name()
    for kind in ("Mediator", "Orchestrator", "raylet", "gcs_server"):
        if kind in first:
            return kind.lower()
    return "other"


class CpuMeter:
    """CPU seconds (user + system) spent by this process and the local Ray's, by kind:
    where a covenant's cost goes, independent of how busy the rest of the machine is."""

    def _snapshot(self) -> dict[int, tuple[str, float]]:
        me = psutil.Process()
        out = {}
        for p in [me, *me.children(recursive=True)]:
            try:
                t = p.cpu_times()
                out[p.pid] = (_kind(p), t.user + t.system)
            except psutil.Error:
                continue
        return out

    def __enter__(self) -> CpuMeter:
        self.start = self._snapshot()
        self.by_kind: dict[str, float] = {}
        return self

    def __exit__(self, *exc: object) -> None:
        for pid, (kind, cpu) in self._snapshot().items():
            before = self.start.get(pid, (kind, 0.0))[1]
            self.by_kind[kind] = self.by_kind.get(kind, 0.0) + max(0.0, cpu - before)
