"""A covenant's live state for the terminal, rebuilt from its events.

Holds only what the events say, so `harpoon ask` (live) and `harpoon show` (replayed
from the log) draw the same tree. Large fan-outs are summarised: the tree shows the
running and failed agents and a count of the rest, so 10,000 agents stay readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..schemas import Covenant, Event, EventType

_STATUS_STYLE = {
    "pending": "dim",
    "running": "cyan",
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
    "skipped": "dim",
}
_SHOWN_PER_STATUS = 8


@dataclass
class _Agent:
    agent_id: str
    role: str = "worker"
    title: str = ""
    status: str = "pending"
    progress: float = 0.0
    model: str | None = None
    cost_usd: float = 0.0


@dataclass
class CovenantView:
    covenant: Covenant
    status: str = ""
    agents: dict[str, _Agent] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    spent_usd: float = 0.0

    def __post_init__(self) -> None:
        self.status = self.covenant.status.value

    def apply(self, event: Event) -> None:
        p = event.payload
        if event.type in (EventType.COVENANT_CREATED, EventType.COVENANT_UPDATED):
            self.status = p.get("status", self.status)
        elif event.type is EventType.BUDGET:
            self.notes.append(str(p.get("message") or p.get("decision") or p))
        elif event.agent_id:
            agent = self.agents.setdefault(event.agent_id, _Agent(event.agent_id))
            self._apply_agent(agent, event)

    def _apply_agent(self, agent: _Agent, event: Event) -> None:
        p = event.payload
        if event.type is EventType.AGENT_SPAWNED:
            agent.role = p.get("role", agent.role)
            agent.title = p.get("title", agent.title)
            agent.status = "running"
        elif event.type is EventType.PROGRESS:
            agent.progress = float(p.get("progress", agent.progress))
        elif event.type is EventType.ACTION:
            agent.model = p.get("model", agent.model)
            cost = float(p.get("cost_usd", 0.0))
            agent.cost_usd += cost
            self.spent_usd += cost
        elif event.type is EventType.COMPLETED:
            agent.status, agent.progress = "completed", 1.0
        elif event.type is EventType.FAILED:
            agent.status = p.get("status", "failed")

    def render(self) -> Group:
        c = self.covenant
        head = Text.assemble(
            ("mediator", "bold"),
            f" → covenant {c.id} [{self.status}] · {c.pattern.value} · ",
            (c.intent[:70], "italic"),
        )
        root = Tree(head)
        orch = root.add(Text("orchestrator", style="bold"))
        by_status: dict[str, list[_Agent]] = {}
        for agent in self.agents.values():
            by_status.setdefault(agent.status, []).append(agent)
        for status in ("running", "failed", "completed", "pending", "cancelled", "skipped"):
            group = by_status.get(status, [])
            for agent in group[:_SHOWN_PER_STATUS]:
                orch.add(self._agent_line(agent))
            if len(group) > _SHOWN_PER_STATUS:
                orch.add(Text(f"… {len(group) - _SHOWN_PER_STATUS} more {status}", style="dim"))
        done = sum(1 for a in self.agents.values() if a.status in ("completed", "failed"))
        total = max(len(self.agents), 1)
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            ProgressBar(total=total, completed=done, width=40),
            f"{done}/{len(self.agents)} agents · spent ${self.spent_usd:.6f}",
        )
        parts: list = [root, bar]
        parts += [Text(f"budget: {n}", style="yellow") for n in self.notes[-3:]]
        return Group(*parts)

    def _agent_line(self, agent: _Agent) -> Table:
        line = Table.grid(padding=(0, 1))
        style = _STATUS_STYLE.get(agent.status, "")
        label = f"{agent.role}:{agent.title or agent.agent_id}"[:48]
        line.add_row(
            Text(f"{label:<48}", style=style),
            ProgressBar(total=1.0, completed=agent.progress, width=16),
            Text(agent.model or "", style="dim"),
        )
        return line
