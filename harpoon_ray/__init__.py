"""Harpoon: a multi-provider LLM gateway and multi-agent orchestrator on Ray."""

__version__ = "0.1.0"
