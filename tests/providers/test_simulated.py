"""The simulated provider: role-shaped, deterministic, paced by the catalog, faultable."""

from __future__ import annotations

import json
import time

import pytest

from harpoon_ray.errors import ConfigError, ProviderUnavailable, StreamInterrupted
from harpoon_ray.providers import SimulatedProvider, tokens
from harpoon_ray.providers.simulated_text import improvement_round, requested_steps
from harpoon_ray.schemas import PlanStep
from harpoon_ray.settings import Settings

from .helpers import local_spec, request

SPEC = local_spec(ttft_s=0.5, tokens_per_s=200)


def sim(speed: float = 0.001, **overrides) -> SimulatedProvider:
    return SimulatedProvider(Settings(simulated_speed=speed, simulated_seed=7), **overrides)


async def test_same_seed_same_answer():
    """Two providers with the same seeds give the same text for the same request."""
    a = await sim().complete(request(seed=3), SPEC)
    b = await sim().complete(request(seed=3), SPEC)
    assert a.text == b.text and a.simulated and b.simulated


async def test_seed_changes_the_answer():
    """A different request seed gives different text for the same prompt."""
    texts = {(await sim().complete(request(seed=s), SPEC)).text for s in range(5)}
    assert len(texts) > 1


async def test_plan_is_json_of_valid_plan_steps():
    """A planner gets JSON whose steps validate as the shared PlanStep type."""
    reply = await sim().complete(request("Organise a product launch", purpose="plan"), SPEC)
    steps = [PlanStep.model_validate(s) for s in json.loads(reply.text)["steps"]]
    assert 2 <= len(steps) <= 5
    assert len({s.id for s in steps}) == len(steps)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [("Split this into 7 subtasks: audit the code", 7), ("Do it in three parts", 3)],
)
async def test_plan_honours_the_step_count_asked_for(prompt, expected):
    """ "N steps/subtasks/parts" in the prompt sets how many steps the plan has."""
    reply = await sim().complete(request(prompt, purpose="plan"), SPEC)
    assert len(json.loads(reply.text)["steps"]) == expected


def test_step_count_and_round_parsing():
    """The prompt cues the simulator reads are found in plain wording."""
    assert requested_steps("write a plan with 4 research steps") == 4
    assert requested_steps("no count here") is None
    assert improvement_round("Draft, round 3 of the loop") == 3
    assert improvement_round("This is the improved, revised draft") == 2


async def test_evaluation_is_a_score_and_critique_that_rises_with_rounds():
    """Evaluator scores are in [0, 1] and grow with the round, so loops converge."""
    scores = []
    for n in range(4):
        prompt = f"Evaluate this essay about glaciers. Round {n}."
        reply = await sim().complete(request(prompt, purpose="evaluate"), SPEC)
        verdict = json.loads(reply.text)
        assert isinstance(verdict["critique"], str) and verdict["critique"]
        scores.append(verdict["score"])
    assert all(0 <= s <= 1 for s in scores)
    assert scores == sorted(scores) and scores[-1] >= 0.8 > scores[0]


async def test_prose_is_about_the_prompt_topic():
    """Work and chat answers are prose that names the prompt's content words."""
    reply = await sim().complete(request("Compare photosynthesis in algae", purpose="work"), SPEC)
    assert "photosynthesis" in reply.text or "algae" in reply.text
    assert not reply.text.startswith("{")


async def test_json_mode_gets_a_json_object():
    """json_mode makes even a chat answer a JSON object."""
    reply = await sim().complete(request("Name a colour", json_mode=True), SPEC)
    assert isinstance(json.loads(reply.text), dict)


async def test_usage_counts_match_the_text():
    """Output tokens are the count of the text returned; input tokens of the prompt."""
    req = request("Describe the water cycle in detail")
    reply = await sim().complete(req, SPEC)
    assert reply.output_tokens == tokens.count(reply.text)
    assert reply.input_tokens == tokens.count_messages(req.messages)


async def test_max_tokens_cuts_prose_with_length_finish():
    """Prose longer than max_tokens is cut there and says so in finish_reason."""
    reply = await sim().complete(request("Explain compilers", max_tokens=5), SPEC)
    assert reply.output_tokens == 5 and reply.finish_reason == "length"


async def test_stream_joins_to_the_completion_and_ends_with_usage():
    """Stream deltas join to the same text as complete(); the last chunk has the usage."""
    req = request("Summarise the history of chess", seed=1)
    chunks = [c async for c in sim().stream(req, SPEC)]
    assert all(c.simulated for c in chunks)
    *deltas, last = chunks
    assert last.done and not any(c.done for c in deltas)
    text = "".join(c.delta for c in deltas)
    assert text == (await sim().complete(req, SPEC)).text
    assert last.output_tokens == tokens.count(text)


async def test_timing_scales_with_the_speed_factor():
    """Latency is the catalog's ttft plus tokens/s, times the speed factor."""
    req = request("Explain sorting algorithms")
    fast = await sim(speed=0.002).complete(req, SPEC)
    slow = await sim(speed=0.1).complete(req, SPEC)
    expected_slow = (SPEC.ttft_s + slow.output_tokens / SPEC.tokens_per_s) * 0.1
    assert slow.latency_s >= expected_slow * 0.95
    assert slow.ttft_s >= SPEC.ttft_s * 0.1 * 0.95
    assert fast.latency_s < slow.latency_s


async def test_error_rate_one_always_fails_typed():
    """With error_rate=1 every call raises ProviderUnavailable naming the model."""
    with pytest.raises(ProviderUnavailable) as info:
        await sim(error_rate=1.0).complete(request(), SPEC)
    assert info.value.model == SPEC.id and info.value.retryable


async def test_cut_rate_one_interrupts_streams_after_content():
    """With cut_rate=1 a stream yields some content, then raises StreamInterrupted."""
    seen = []
    with pytest.raises(StreamInterrupted):
        async for chunk in sim(cut_rate=1.0).stream(request("Explain tides at length"), SPEC):
            seen.append(chunk)
    assert seen and not any(c.done for c in seen)


async def test_spikes_add_latency():
    """With spike_rate=1 each call waits the spike on top of the catalog timing."""
    started = time.perf_counter()
    await sim(speed=0.01, spike_rate=1.0, spike_s=5.0).complete(request(), SPEC)
    assert time.perf_counter() - started >= 5.0 * 0.01 * 0.95


def test_bad_override_is_a_config_error():
    """An out-of-range override names the setting instead of failing later."""
    with pytest.raises(ConfigError, match="error_rate"):
        sim(error_rate=2.0)
