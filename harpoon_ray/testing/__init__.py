"""Helpers for testing code that calls LLMs: an OpenAI-compatible server with scripted faults.

See `harpoon_ray.testing.server` for the endpoints and the scripting steps.
"""

from .scripts import ScriptBook, Step
from .server import RunningServer, create_app, serve_in_thread

__all__ = ["RunningServer", "ScriptBook", "Step", "create_app", "serve_in_thread"]
