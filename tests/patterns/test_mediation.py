"""Drafting covenants: the pattern chosen and why, the plan, the models, bad input."""

from __future__ import annotations

import pytest

from harpoon_ray.errors import ConstraintUnsatisfiable, ValidationFailed
from harpoon_ray.patterns import draft_covenant
from harpoon_ray.schemas import Constraints, Message, ModelRequest, Pattern, QueryRequest


def draft(router, query: str, **fields):
    return draft_covenant(
        QueryRequest(query=query, **fields), user_id="u1", tenant_id="t1", router=router
    )


def test_a_simple_question_gets_one_smart_step(router):
    """A short factual question is routed as one call, with the router's models listed."""
    cov = draft(router, "What is the capital of France?")
    assert cov.pattern == Pattern.SMART
    assert len(cov.plan.steps) == 1
    asked = ModelRequest(messages=[Message(role="user", content="What is the capital of France?")])
    assert cov.models[0] == router.decide(asked).model
    assert cov.intent == "What is the capital of France?"
    assert (cov.tenant_id, cov.user_id) == ("t1", "u1")


def test_compare_several_items_runs_them_in_parallel_sections(router):
    """ "Compare A, B and C" becomes one parallel section per item, then a synthesis."""
    cov = draft(router, "Compare PostgreSQL, MySQL and SQLite for a small web shop")
    assert cov.pattern == Pattern.PARALLEL
    assert [s.instruction for s in cov.plan.steps] == ["PostgreSQL", "MySQL", "SQLite"]
    assert cov.plan.aggregation == "synthesize"
    assert "3 items to compare" in cov.pattern_reason


def test_numbered_parts_become_sections(router):
    """A query listing independent parts gets one sub-agent per part."""
    cov = draft(router, "Answer these:\n1. Why is the sea salty?\n2. Why is the sky blue?")
    assert cov.pattern == Pattern.PARALLEL
    assert [s.instruction for s in cov.plan.steps] == [
        "Why is the sea salty?",
        "Why is the sky blue?",
    ]


def test_list_n_asks_for_n_sub_agents(router):
    """ "List 5 ..." plans five parallel candidates."""
    cov = draft(router, "List 5 names for a coffee shop on a harbour")
    assert cov.pattern == Pattern.PARALLEL
    assert len(cov.plan.steps) == 5


def test_several_models_means_the_same_task_on_distinct_models_then_a_vote(router):
    """Asking for several models' answers plans one step per distinct model and a vote."""
    cov = draft(router, "Ask three models whether this proof sketch holds")
    assert cov.pattern == Pattern.PARALLEL
    assert cov.plan.aggregation == "vote"
    models = [s.model for s in cov.plan.steps]
    assert len(models) == 3 and len(set(models)) == 3
    assert cov.models == models


def test_a_task_needing_decomposition_goes_to_workers_planned_at_run_time(router):
    """A design task is orchestrator-workers; the plan is left to the planner, and noted."""
    cov = draft(
        router,
        "Design a migration plan for moving our billing monolith to services, with a "
        "rollout strategy, data migration steps and a rollback procedure",
    )
    assert cov.pattern == Pattern.WORKERS
    assert cov.plan.steps == []
    assert any("planner" in n for n in cov.notes)


def test_draft_and_polish_is_evaluator_optimizer(router):
    """ "Write ... and polish it" loops; the bar defaults to 0.8 and rounds come from the query."""
    cov = draft(router, "Write a cover letter for a data job and polish it over 4 rounds")
    assert cov.pattern == Pattern.OPTIMIZE
    assert cov.plan.max_rounds == 4
    assert cov.plan.quality_bar == 0.8


def test_a_quality_bar_alone_chooses_optimize_with_that_bar(router):
    """A high min_quality makes the covenant draft, score and improve up to that bar."""
    cov = draft(router, "Explain TCP slow start", constraints=Constraints(min_quality=0.85))
    assert cov.pattern == Pattern.OPTIMIZE
    assert cov.plan.quality_bar == 0.85


def test_an_explicit_pattern_is_honoured(router):
    """The pattern asked for wins over what the query suggests, and the reason says so."""
    cov = draft(router, "Compare cats and dogs", pattern=Pattern.SMART)
    assert cov.pattern == Pattern.SMART
    assert "asked for" in cov.pattern_reason


def test_agents_sets_the_width(router):
    """The width asked for is carried on the plan for the runtime."""
    cov = draft(router, "Summarise the causes of inflation", agents=10_000)
    assert cov.pattern == Pattern.PARALLEL
    assert cov.plan.width == 10_000
    assert len(cov.plan.steps) == 1  # the width is not expanded into 10,000 steps


def test_a_follow_up_carries_the_earlier_turns(router):
    """History goes into the covenant (and so into every prompt), and the intent says so."""
    history = [
        Message(role="user", content="Tell me about the Rhine."),
        Message(role="assistant", content="The Rhine flows from the Alps to the North Sea."),
    ]
    cov = draft_covenant(
        QueryRequest(query="How long is it?"), user_id="u", router=router, history=history
    )
    assert cov.history == history
    assert "follow-up" in cov.intent


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "hi", "pattern": "telepathy"}, "pattern"),
        ({"query": "hi", "constraints": {"max_cost_usd": -1}}, "constraints.max_cost_usd"),
        ({"query": "hi", "constraints": {"max_latency_s": -2}}, "constraints.max_latency_s"),
        ({"query": "hi", "agents": 0}, "agents"),
        ({"query": "hi", "agents": 100_001}, "agents"),
        ({"query": "hi", "colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_a_validation_error_naming_the_field(router, query, param):
    """Malformed queries raise ValidationFailed with the offending field as `param`."""
    with pytest.raises(ValidationFailed) as info:
        draft_covenant(query, user_id="u", router=router)
    assert info.value.param == param
    assert info.value.http_status == 422


def test_an_empty_user_id_is_refused(router):
    """Covenants belong to someone: a blank user id is a validation error."""
    with pytest.raises(ValidationFailed) as info:
        draft_covenant({"query": "hi"}, user_id=" ", router=router)
    assert info.value.param == "user_id"


def test_malformed_history_is_refused(router):
    """A history message with an unknown role is named in the error."""
    with pytest.raises(ValidationFailed) as info:
        draft_covenant({"query": "hi"}, user_id="u", router=router, history=[{"role": "robot"}])
    assert info.value.param.startswith("history.0")


def test_constraints_no_model_meets_are_refused_at_drafting(router):
    """A max cost below any model's price fails before anything runs."""
    with pytest.raises(ConstraintUnsatisfiable):
        draft(router, "Explain monads", constraints=Constraints(max_cost_usd=1e-12))
