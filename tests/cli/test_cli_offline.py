"""The `harpoon` command works offline with no keys, labelling simulated output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_KEYS = ("OPENAI_API_KEY", "GROQ_API_KEY", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID")


def harpoon(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _KEYS}
    env["HARPOON_SIMULATED_SPEED"] = "0.01"
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "harpoon_ray.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_models_json_lists_three_tiers_all_simulated_without_keys():
    """`harpoon models --json` lists the catalog, every model marked simulated."""
    proc = harpoon("models", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {m["tier"] for m in data["models"]} == {"edge", "primary", "flagship"}
    assert len(data["models"]) >= 10
    assert all(m["simulated"] for m in data["models"])


def test_models_table_names_the_flagship_reference():
    """The human table shows every model and says which model savings compare against."""
    proc = harpoon("models")
    assert proc.returncode == 0, proc.stderr
    assert "openai/gpt-4o" in proc.stdout
    assert "flagship reference" in proc.stdout


def test_route_json_explains_its_choice():
    """`harpoon route --json` returns score, signals, tier, model and reason."""
    proc = harpoon("route", "What is the capital of France?", "--json")
    assert proc.returncode == 0, proc.stderr
    decision = json.loads(proc.stdout)
    assert 0 <= decision["analysis"]["score"] <= 1
    assert decision["analysis"]["signals"]
    assert decision["tier"] == "edge"
    assert decision["model"].startswith("cloudflare/")
    assert decision["reason"]


def test_route_sends_hard_reasoning_to_a_higher_tier():
    """A multi-step technical prompt does not go to the edge tier."""
    prompt = (
        "Design a distributed rate limiter for a multi-region API gateway. Compare token "
        "bucket and sliding window approaches, analyse consistency trade-offs under network "
        "partitions, and give a step-by-step implementation plan with code in Python."
    )
    proc = harpoon("route", prompt, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tier"] != "edge"


def test_chat_streams_a_simulated_answer_with_cost():
    """`harpoon chat` prints the answer, then model, tokens, cost and the simulated label."""
    proc = harpoon("chat", "Say hello to the team")
    assert proc.returncode == 0, proc.stderr
    assert "simulated" in proc.stdout
    assert "tokens" in proc.stdout
    assert "saved" in proc.stdout


def test_chat_json_reports_priced_completion():
    """`harpoon chat --json` returns a Completion whose cost matches its tokens."""
    proc = harpoon("chat", "Give me a haiku about the sea", "--json")
    assert proc.returncode == 0, proc.stderr
    c = json.loads(proc.stdout)
    assert c["simulated"] is True
    assert c["output_tokens"] > 0 and c["input_tokens"] > 0
    assert c["cost_usd"] > 0
    assert c["saving_usd"] == pytest.approx(c["flagship_cost_usd"] - c["cost_usd"])


def test_impossible_constraint_is_a_clear_error():
    """A max cost no model can meet exits non-zero with an error naming the constraint."""
    proc = harpoon("route", "Hello", "--max-cost", "0.0000000001", "--json")
    assert proc.returncode == 2
    err = json.loads(proc.stdout)["error"]
    assert err["type"] == "constraint_unsatisfiable"
    assert "cost" in err["message"]
