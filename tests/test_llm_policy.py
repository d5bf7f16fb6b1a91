"""LLMPolicy and RepoPolicy against what models write: end to end through a real LLMClient over HTTP
to the local test server (tests/llm_server.py), and the rethink and action readers on their own."""

from __future__ import annotations

import asyncio
import collections
import json
from types import SimpleNamespace

import pytest

from policies.llm_policy import RETRY_TEMPERATURE, LLMPolicy, _parse_rethink
from policies.repo_policy import RepoPolicy, parse_action_reply
from tests.llm_server import LLMServer
from treesearch.contracts import ExpansionContext
from treesearch.llm import LLMCache, LLMClient
from treesearch.problems import CodeProblem

pytestmark = pytest.mark.timeout(120)

PROBLEM = CodeProblem.from_dict({
    "id": "policy/add_positive",
    "kind": "function",
    "prompt": "def add_positive(xs: list) -> int:\n    \"\"\"Sum of the positive numbers in xs.\"\"\"\n",
    "entry_point": "add_positive",
    "visible_tests": [{"input": [[1, -2, 3]], "output": 4}],
    "hidden_tests": [{"input": [[5, 0, -5, 7]], "output": 12}],
})
FILTER, LOOP, REDUCE = ("Filter the positive numbers, then add them up.", "Loop once and add each number above zero.",
                        "Reduce the list with a function that skips negatives.")
RIGHT = "def add_positive(xs):\n    return sum(x for x in xs if x > 0)"

# The thought prompt answered the ways models answer it, none of them the JSON list it asks for.
OBJECT_WITH_LIST = json.dumps({
    "thoughts": [{"thought": FILTER, "confidence": 0.9}, {"thought": LOOP, "confidence": "0.6"},
                 {"thought": REDUCE, "confidence": "30%"}],
    "reasoning": "Three ways to skip the negatives.",
})
NUMBERED_PROSE = f"""To solve the problem of summing the positive numbers, we can consider several strategies. Here are three different approaches:

1. **Filter and Sum**:
   - **Description**: {FILTER}
   - **Confidence**: 0.9

2. **Single Loop**:
   - **Description**: {LOOP}
   - **Confidence**: 0.6

3. **Functional Reduce**:
   - **Description**: {REDUCE}
   - **Confidence**: 0.3

Each of these strategies has its own trade-offs in readability and speed. The first is the most idiomatic in Python.
"""
REFUSAL = "I'm sorry, but I can't help with that."


def last_prompt(request: dict) -> str:
    return request["messages"][-1]["content"]


@pytest.fixture
def server():
    with LLMServer() as s:
        yield s


def make_policy(server: LLMServer, temperature: float = 0.8, cache=None, cls=LLMPolicy) -> LLMPolicy:
    client = LLMClient("openai/gpt-4o-mini", **server.client_kwargs(), cache=cache, max_attempts=1)
    return cls(client, temperature=temperature)


def propose(policy: LLMPolicy, kind: str, n: int = 3, ctx: ExpansionContext | None = None):
    return asyncio.run(policy.propose(ctx or ExpansionContext(problem=PROBLEM), kind, n))


# ------------------------------------------------------------------ thoughts


@pytest.mark.parametrize("reply", [OBJECT_WITH_LIST, NUMBERED_PROSE], ids=["object-with-list", "numbered-prose"])
def test_a_model_that_never_writes_the_requested_list_still_gets_its_thoughts_read(server, reply):
    server.reply = lambda request: reply if "Propose" in last_prompt(request) else "unexpected"
    policy = make_policy(server)
    proposals = propose(policy, "thought", n=3)
    assert [(p.content.split(": ", 1)[-1], p.prior) for p in proposals] == [(FILTER, 0.9), (LOOP, 0.6), (REDUCE, 0.3)]
    assert proposals[0].metadata["raw"] == reply and proposals[0].metadata["confidence"] == 0.9
    assert server.request_count == 1  # read the first time: no retry
    assert policy.parse_failures == collections.Counter()


def test_thoughts_beyond_n_are_dropped(server):
    server.reply = NUMBERED_PROSE
    assert [p.prior for p in propose(make_policy(server), "thought", n=2)] == [0.9, 0.6]


def test_an_unusable_reply_is_asked_again_with_its_error_and_a_temperature_that_samples(server):
    server.reply = [REFUSAL, OBJECT_WITH_LIST]
    policy = make_policy(server, temperature=0.0)  # greedy: asked again the same way, it would say the same
    proposals = propose(policy, "thought")
    assert [p.prior for p in proposals] == [0.9, 0.6, 0.3]
    first, retry = (r.body for r in server.requests)
    assert first["temperature"] == 0.0 and retry["temperature"] >= RETRY_TEMPERATURE > 0
    assert retry["messages"][:-2] == first["messages"]
    assert retry["messages"][-2] == {"role": "assistant", "content": REFUSAL}
    assert "could not be used: the reply holds no strategies" in retry["messages"][-1]["content"]
    assert policy.parse_failures == {"thought": 1} and policy.replies == {"thought": 2}  # 1 of 2 unusable


def test_greedy_first_writes_the_first_program_at_temperature_0_and_samples_after_it(server):
    server.reply = f"```python\n{RIGHT}\n```"
    policy = LLMPolicy(LLMClient("openai/gpt-4o-mini", **server.client_kwargs(), cache=None, max_attempts=1),
                       temperature=0.8, greedy_first=True)
    assert len(propose(policy, "code", n=3)) == 3  # one greedy program, then two samples in one request
    assert len(propose(policy, "code", n=1)) == 1
    assert [(r.body["temperature"], r.body.get("n", 1)) for r in server.requests] == [(0.0, 1), (0.8, 2), (0.8, 1)]
    propose(make_policy(server), "code", n=1)  # without greedy_first, the first is sampled too
    assert server.requests[-1].body["temperature"] == 0.8


def test_a_prompts_directory_replaces_the_templates_it_has_and_keeps_the_others(server, tmp_path):
    (tmp_path / "system.txt").write_text("You write Python.\n")
    (tmp_path / "code.txt").write_text("Solve this:\n```\n$statement\n```\n")
    server.reply = lambda request: f"```python\n{RIGHT}\n```" if "Solve" in last_prompt(request) else NUMBERED_PROSE
    client = LLMClient("openai/gpt-4o-mini", **server.client_kwargs(), cache=None, max_attempts=1)
    policy = LLMPolicy(client, prompts=tmp_path)
    assert [p.content for p in propose(policy, "code", n=1)] == [RIGHT]
    assert [p.prior for p in propose(policy, "thought", n=3)] == [0.9, 0.6, 0.3]
    code, thought = (r.body["messages"] for r in server.requests)
    system = {"role": "system", "content": "You write Python.\n"}
    assert code == [system, {"role": "user", "content": f"Solve this:\n```\n{PROBLEM.prompt.rstrip()}\n```\n"}]
    assert thought[0] == system  # the shipped thought template, under the directory's system message
    assert thought[1]["content"].startswith("## Problem\n") and "Propose 3 different strategies" in thought[1]["content"]
    # the shipped system template is empty: the model's own default (the chat template's) stays
    assert [m["role"] for m in make_policy(server)._messages("code", ExpansionContext(PROBLEM), follow_plan="")] == [
        "user"]


def test_a_prompts_directory_that_is_missing_or_misspells_a_template_is_refused(tmp_path):
    client = SimpleNamespace(model="m")
    with pytest.raises(ValueError, match="is not a directory"):
        LLMPolicy(client, prompts=tmp_path / "absent")
    (tmp_path / "cod.txt").write_text("$problem")
    with pytest.raises(ValueError, match=r"templates the policy does not use \(cod.txt\)"):
        LLMPolicy(client, prompts=tmp_path)


def test_a_hotter_policy_keeps_its_temperature_for_the_retry(server):
    server.reply = [REFUSAL, OBJECT_WITH_LIST]
    propose(make_policy(server, temperature=1.1), "thought")
    assert [r.body["temperature"] for r in server.requests] == [1.1, 1.1]


def test_no_readable_thought_even_after_the_retry_gives_none_and_counts_both_replies(server):
    server.reply = REFUSAL
    policy = make_policy(server)
    assert propose(policy, "thought") == []  # the engine then writes code from the problem itself
    assert server.request_count == 2
    assert policy.parse_failures == {"thought": 2}
    assert propose(policy, "thought") == [] and policy.parse_failures == {"thought": 4}  # it only grows


def test_a_cached_identical_junk_reply_is_not_replayed_as_the_retry(server, tmp_path):
    """With a cache and temperature 0, the retry is a different request (it carries the reply and the
    error, and its own temperature): it is fetched, not served from the first call's cache entry."""
    server.reply = [REFUSAL, REFUSAL, OBJECT_WITH_LIST]
    policy = make_policy(server, temperature=0.0, cache=LLMCache(tmp_path / "cache.sqlite"))
    assert propose(policy, "thought") == [] and server.request_count == 2
    # a new run on the same cache replays the first call and its retry: the same outcome, no request
    assert propose(make_policy(server, temperature=0.0, cache=LLMCache(tmp_path / "cache.sqlite")), "thought") == []
    assert server.request_count == 2


# ------------------------------------------------------------------ code, debug, rethink


def test_code_without_fences_after_prose_is_used(server):
    server.reply = f"Here is my solution.\nIt keeps the positive numbers only.\n\n{RIGHT}\n\nThis runs in O(n)."
    policy = make_policy(server)
    proposals = propose(policy, "code", n=2)
    assert [p.content for p in proposals] == [RIGHT, RIGHT] and server.request_count == 1
    assert policy.parse_failures == collections.Counter()


def test_every_unusable_program_is_counted_under_its_kind(server):
    # two samples: the first has no code, and neither has its retry; the second is fine
    server.reply = ["There is no way to do this.", f"```python\n{RIGHT}\n```", "I give up."]
    policy = make_policy(server)
    assert [p.content for p in propose(policy, "code", n=2)] == [RIGHT]
    assert policy.parse_failures == {"code": 2}
    server.reply = "```python\ndef something_else():\n    return 0\n```"  # no add_positive
    ctx = ExpansionContext(problem=PROBLEM, code="def add_positive(xs):\n    return sum(xs)", feedback_text="expected 4, got 2")
    assert propose(policy, "debug", n=1, ctx=ctx) == []
    assert policy.parse_failures == {"code": 2, "debug": 2}


def test_a_rethink_written_as_prose_is_read(server):
    server.reply = ("Looking at the feedback, step 1 is wrong: it adds the negative numbers too.\n\n"
                    "**Corrected step:** Add up only the elements greater than zero.\n")
    policy = make_policy(server)
    ctx = ExpansionContext(problem=PROBLEM, thoughts=["Add up every element.", "Return the total."],
                           code="def add_positive(xs):\n    return sum(xs)", feedback_text="expected 4, got 2")
    (proposal,) = propose(policy, "rethink", n=1, ctx=ctx)
    assert proposal.target == 0 and proposal.content == "Add up only the elements greater than zero."
    assert "step 1 is wrong" in proposal.metadata["reason"]
    assert policy.parse_failures == collections.Counter()


def test_other_prompts_asked_through_the_policy_count_as_other(server):
    server.reply = "no"
    policy = make_policy(server)
    messages = [{"role": "user", "content": "Reply with JSON."}]
    from treesearch.parsing import extract_json

    assert asyncio.run(policy._ask(messages, 1, extract_json)) == []
    assert policy.parse_failures == {"other": 2}


# ------------------------------------------------------------------ the repository policy


def repo_ctx(**values) -> SimpleNamespace:
    problem = SimpleNamespace(repo="calc/calc", base_commit="0123456789abcdef", prompt="mean([]) divides by zero")
    defaults = {"problem": problem, "thoughts": ["mean() needs a guard"], "code": None, "attempts": [], "steps": [],
                "steps_left": 5, "feedback_text": ""}
    return SimpleNamespace(**{**defaults, **values})


def test_repo_policy_reads_hypotheses_in_any_shape_and_counts_unusable_actions(server):
    hypotheses = json.dumps({"hypotheses": [{"hypothesis": "mean() divides by len(values) unguarded", "probability": 0.8},
                                            {"hypothesis": "total() returns an int", "probability": 0.2}]})

    def reply(request: dict) -> str:
        prompt = last_prompt(request)
        if "different hypotheses" in prompt:
            return hypotheses
        return "Let me look at the code first." if "could not be used" not in prompt else \
            'I will view it.\n```json\n{"tool": "view", "arguments": {"path": "calc/core.py"}}\n```'

    server.reply = reply
    policy = make_policy(server, cls=RepoPolicy)
    assert isinstance(policy.parse_failures, collections.Counter)
    assert [p.prior for p in asyncio.run(policy.propose(repo_ctx(thoughts=[]), "thought", 2))] == [0.8, 0.2]
    (action,) = asyncio.run(policy.propose(repo_ctx(), "action", 1))
    assert action.metadata["action"] == {"action": "view", "path": "calc/core.py"}
    assert policy.parse_failures == {"action": 1}


# ------------------------------------------------------------------ the rethink reader


@pytest.mark.parametrize(
    ("reply", "result"),
    [
        ('{"wrong_step": 1, "rewrite": "Only positives.", "reason": "negatives"}', (0, "Only positives.", "negatives")),
        ('```json\n{"wrong_step": "2", "rewrite": "Use a set.", "reason": "dups"}\n```', (1, "Use a set.", "dups")),
        ('{"step": "Step 2", "corrected_step": "Use a set.", "explanation": "dups"}', (1, "Use a set.", "dups")),
        ('{"incorrect_step": "step #3", "new_step": "Use a set.", "why": "dups"}', (2, "Use a set.", "dups")),
        ('{"wrong_step": "the second step", "revised_step": "Use a set.", "rationale": "dups"}', (1, "Use a set.", "dups")),
        ('{"wrong_step": null, "rewrite": "", "reason": "an off-by-one in the code"}', (None, "", "an off-by-one in the code")),
        ('{"wrong_step": "none", "reason": "only the code"}', (None, "", "only the code")),
        ('{"analysis": {"wrong_step": 2, "rewrite": "Use a set.", "reason": "dups"}}', (1, "Use a set.", "dups")),
        ("wrong_step: 2\nrewrite: Use a set.\nreason: dups", (1, "Use a set.", "dups")),
        ("Step 2 is wrong because it keeps duplicates.\nCorrected step: Use a set to drop duplicates first.",
         (1, "Use a set to drop duplicates first.", "Step 2 is wrong because it keeps duplicates.")),
        ("Step 1 is not wrong, but the second step is incorrect.\n**Rewrite:** Sort descending.\nReason: order matters.",
         (1, "Sort descending.", "order matters.")),
        ("The plan is correct; only the code is wrong: it stops one element early.",
         (None, "", "The plan is correct; only the code is wrong: it stops one element early.")),
    ],
)
def test_rethink_replies_in_the_shapes_models_write(reply, result):
    assert _parse_rethink(reply, 3).value == result


def test_a_lone_step_is_the_one_a_rewrite_without_a_number_replaces():
    assert _parse_rethink('{"rewrite": "Only positives.", "reason": "negatives"}', 1).value == (0, "Only positives.", "negatives")


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("I think step 2 is wrong.", "needs its rewrite"),
        ('{"wrong_step": 2, "reason": "dups"}', "needs its rewrite"),
        ('{"wrong_step": 5, "rewrite": "x", "reason": "r"}', "between 0 and 3"),
        ('{"wrong_step": "maybe", "rewrite": "x"}', "step number or 0"),
        ('{"rewrite": "Use a set.", "reason": "dups"}', "say which step is wrong"),
        ("Hello there.", "name the wrong step"),
        ("", "name the wrong step"),
    ],
)
def test_rethink_replies_that_cannot_be_used(reply, error):
    parsed = _parse_rethink(reply, 3)
    assert not parsed.ok and error in parsed.error


# ------------------------------------------------------------------ the action reader


@pytest.mark.parametrize(
    ("reply", "action"),
    [
        ('I will look at {the core}.\n```json\n{"action": "view", "path": "calc/core.py"}\n```',
         {"action": "view", "path": "calc/core.py"}),
        ('{"tool": "search", "arguments": {"pattern": "def mean"}}', {"action": "search", "pattern": "def mean"}),
        ('{"type": "run", "command": "pytest -q"}', {"action": "run", "command": "pytest -q"}),
        ('{"action": "submit", "reasoning": "the fix is in place"}', {"action": "submit"}),
        ('[{"action": "view", "path": "calc"}]', {"action": "view", "path": "calc"}),
    ],
)
def test_action_replies_in_the_shapes_models_write(reply, action):
    assert parse_action_reply(reply).value[1] == action


@pytest.mark.parametrize(
    ("reply", "error"),
    [('{"action": "fly"}', "unknown action 'fly'"), ('{"action": "edit", "path": "a.py"}', "needs the field 'old'"),
     ("Let me think.", "no JSON")],
)
def test_action_replies_that_cannot_be_used(reply, error):
    parsed = parse_action_reply(reply)
    assert not parsed.ok and error in parsed.error
