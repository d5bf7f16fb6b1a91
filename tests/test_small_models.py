"""What small real models need from the engine: the problem's prelude, samples that differ on a
server with a fixed seed, room per call kind, a critic in one call, a rethink that is not a copy of
its instructions, and S*'s pick grounded in running the candidates."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from policies.llm_policy import MAX_TOKENS, LLMPolicy
from tests.llm_server import LLMServer
from treesearch.api import search
from treesearch.contracts import ExpansionContext
from treesearch.engine.baselines import s_star_plan
from treesearch.judgement import judge
from treesearch.llm import LLMClient
from treesearch.problems import CodeProblem, prompt_prelude
from treesearch.sandbox import Sandbox
from value_models.critic import LLMCritic
from value_models.distinguishing import DistinguishingPick

pytestmark = pytest.mark.timeout(120)

BELOW_ZERO = CodeProblem.from_dict({
    "id": "small/below_zero",
    "kind": "function",
    "prompt": 'from typing import List\n\nLIMIT = 0\n\n\ndef below_zero(operations: List[int]) -> bool:\n'
              '    """Whether the running balance ever drops below LIMIT.\n    >>> below_zero([1, -2])\n    True\n    """\n',
    "entry_point": "below_zero",
    "visible_tests": [{"input": [[1, -2]], "output": True}],
    "hidden_tests": [{"input": [[1, 2, -3]], "output": False}, {"input": [[]], "output": False}],
})
# The program a small model writes: the prompt's signature, without the import the prompt carries.
NO_IMPORT = ("def below_zero(operations: List[int]) -> bool:\n    balance = 0\n    for op in operations:\n"
             "        balance += op\n        if balance < LIMIT:\n            return True\n    return False\n")


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox("auto") as box:
        yield box


def test_the_prelude_is_the_prompt_without_the_stub():
    assert BELOW_ZERO.prelude == "from typing import List\nLIMIT = 0"
    assert prompt_prelude("Write a function that adds two numbers.", "add") == ""  # MBPP-style prose
    helper = 'def is_palindrome(s):\n    return s == s[::-1]\n\n\ndef make(s):\n    """Doc."""\n'
    assert prompt_prelude(helper, "make") == "def is_palindrome(s):\n    return s == s[::-1]"
    stdio = CodeProblem.from_dict({"id": "s", "kind": "stdio", "prompt": "import sys", "visible_tests": [
        {"input": "1\n", "output": "1\n"}]})
    assert stdio.prelude == ""


def test_programs_run_after_the_prelude_in_the_search_and_the_judgement(sandbox):
    visible = sandbox.run_sync(NO_IMPORT, "function", BELOW_ZERO.visible_tests, "below_zero", prelude=BELOW_ZERO.prelude)
    assert visible.all_passed
    alone = sandbox.run_sync(NO_IMPORT, "function", BELOW_ZERO.visible_tests, "below_zero")
    assert not alone.all_passed and alone.status == "load_error"  # NameError: List
    verdict = asyncio.run(judge(BELOW_ZERO, NO_IMPORT, sandbox))
    assert verdict.passed_base is True
    # the program's own line numbers in tracebacks: the prelude does not shift them
    crash = "def below_zero(operations):\n    return operations[5]\n"
    result = sandbox.run_sync(crash, "function", BELOW_ZERO.visible_tests, "below_zero", prelude=BELOW_ZERO.prelude)
    assert any("line 2" in line for line in result.outcomes[0].traceback), result.outcomes[0].traceback
    # a prelude that fails (a module this machine lacks) leaves the program to stand alone
    broken = sandbox.run_sync("def below_zero(o):\n    return True\n", "function", BELOW_ZERO.visible_tests,
                              "below_zero", prelude="import no_such_module_here")
    assert broken.all_passed


def test_samples_carry_their_own_seed_and_get_it_again():
    with LLMServer() as server:
        def seeds() -> list[int]:
            client = LLMClient("openai/local", **server.client_kwargs(), cache=None, sample_seeds=True)
            asyncio.run(client.complete([{"role": "user", "content": "hi"}], n=3, temperature=0.8))
            return sorted(r.body["seed"] for r in server.requests[-3:])  # parallel requests: any order

        server.n_mode = "refuse"  # as llama.cpp: one choice per request
        first = seeds()
        assert len(set(first)) == 3  # three samples, three seeds: they differ on a fixed-seed server
        assert seeds() == first  # sample i of this request is asked with the same seed again
        plain = LLMClient("openai/local", **server.client_kwargs(), cache=None)
        asyncio.run(plain.complete([{"role": "user", "content": "hi"}], n=1))
        assert "seed" not in server.requests[-1].body


def test_each_call_kind_gets_its_own_room_and_the_critic_one_call():
    reply = {"Propose": '[{"strategy": "Track the balance.", "confidence": 0.8}]'}

    def answer(request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        if "Score: N" in prompt:
            return "Score: 8\nIt tracks the running balance."
        return reply["Propose"] if "Propose" in prompt else f"```python\n{NO_IMPORT}```"

    with LLMServer(reply=answer) as server:
        client = LLMClient("openai/local", **server.client_kwargs(), cache=None)
        policy = LLMPolicy(client)
        ctx = ExpansionContext(problem=BELOW_ZERO, thoughts=[], seed=0)
        asyncio.run(policy.propose(ctx, "thought", 1))
        asyncio.run(policy.propose(ctx, "code", 1))
        assert [r.body["max_tokens"] for r in server.requests] == [MAX_TOKENS["thought"], MAX_TOKENS["code"]]
        with Sandbox("auto") as box:
            feedback = box.run_sync(NO_IMPORT, "function", BELOW_ZERO.visible_tests, "below_zero",
                                    prelude=BELOW_ZERO.prelude)
        from treesearch.contracts import Candidate

        before = server.request_count
        evaluation = asyncio.run(LLMCritic(client).evaluate(BELOW_ZERO, Candidate(NO_IMPORT, []), feedback))
        assert evaluation.value == pytest.approx(0.8) and server.request_count == before + 1
        server.reply = "It looks fine to me."  # no score: neutral, and still one call
        evaluation = asyncio.run(LLMCritic(client).evaluate(BELOW_ZERO, Candidate(NO_IMPORT, []), feedback))
        assert evaluation.value == 0.5 and server.request_count == before + 2


def test_a_rethink_that_copies_its_instructions_is_unusable():
    copied = ("Wrong step: 1\nCorrected step: If a step of the plan is wrong, give its number and write that step "
              "again, correctly, in your own words\nReason: the feedback shows it")
    unchanged = "Wrong step: 1\nCorrected step: Track the balance.\nReason: it fails"
    with LLMServer(reply=[copied, unchanged]) as server:
        policy = LLMPolicy(LLMClient("openai/local", **server.client_kwargs(), cache=None))
        ctx = ExpansionContext(problem=BELOW_ZERO, thoughts=["Track the balance."], seed=0, code=NO_IMPORT,
                               feedback_text="below_zero([1, -2]) returned False, expected True")
        assert asyncio.run(policy.propose(ctx, "rethink", 1)) == []  # a copy of the instructions
        assert asyncio.run(policy.propose(ctx, "rethink", 1)) == []  # the step unchanged
        assert policy.parse_failures["rethink"] == 2
        assert server.request_count == 2  # not asked again: the engine repairs instead


def test_an_unusable_rethink_becomes_a_repair_of_the_program(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    wrong = "def below_zero(operations):\n    return False\n"

    def answer(request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        if "Propose" in prompt:
            return '[{"strategy": "Track the balance.", "confidence": 0.9}]'
        if "Wrong step:" in prompt:
            return "The program is not right, sorry."  # no verdict to read
        return f"```python\n{NO_IMPORT if 'Execution feedback' in prompt else wrong}```"

    with LLMServer(reply=answer) as server:
        result = search(BELOW_ZERO, model="openai/local", api_base=server.url, budget=8, concurrency=1,
                        cache=None, config={"width": 1, "oracle": False, "plain_first": False})
        kinds = [("rethink" if "Wrong step:" in p else "debug" if "Execution feedback" in p else "other")
                 for p in (r.body["messages"][-1]["content"] for r in server.requests)]
    assert result.solved and result.stats["llm_calls"] == 4  # thought, program, rethink, repair
    assert kinds[2:] == ["rethink", "debug"]
    assert result.stats["parse_failures"] == {"rethink": 1}


def test_extract_calls_takes_literal_calls_from_any_line():
    from treesearch.parsing import extract_calls

    text = ("Inputs:\n1. f([], 0)\nassert f([1, 2], 3) == 4\n>>> f('a', x)\nf([1, (2, 3)], -1)  # edge\nf([], 0)\n"
            "f(k=1)\nself.f(9)\ng.f(8)")
    assert extract_calls(text, "f").value == [[[], 0], [[1, 2], 3], [[1, (2, 3)], -1]]
    assert not extract_calls("I cannot write inputs.", "f").ok


RIGHT_SUM = "def total(xs):\n    return sum(xs)\n"
WRONG_SUM = "def total(xs):\n    return xs[0] + sum(xs[1:]) if xs else None\n"  # wrong on []
ALIKE_SUM = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
TOTAL = CodeProblem.from_dict({"id": "small/total", "kind": "function", "prompt": "def total(xs):\n    \"\"\"Sum.\"\"\"\n",
                               "entry_point": "total", "visible_tests": [{"input": [[1, 2]], "output": 3}]})


def test_the_distinguishing_pick_runs_the_candidates_and_asks_only_where_they_differ(sandbox):
    def answer(request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        if "disagree" in prompt:
            a, b = re.search(r"Output A: (.*)\nOutput B: (.*)", prompt).groups()
            return "The sum of an empty list is 0.\nCorrect: " + ("A" if a == "0" else "B")
        return "total([])\ntotal([5])\ntotal([-1, 1])"

    with LLMServer(reply=answer) as server:
        pick = DistinguishingPick(LLMClient("openai/local", **server.client_kwargs(), cache=None), sandbox)
        index, why = asyncio.run(pick.choose(TOTAL, [WRONG_SUM, RIGHT_SUM]))
        assert index == 1 and server.request_count == 2, why  # the inputs, then one comparison on total([])
        assert "total([])" in why
        server.reset()
        index, why = asyncio.run(pick.choose(TOTAL, [RIGHT_SUM, ALIKE_SUM]))
        assert index == 0 and server.request_count == 1, why  # alike on every input: no comparison
        server.reset()
        server.reply = "I cannot think of inputs."
        assert asyncio.run(pick.choose(TOTAL, [WRONG_SUM, RIGHT_SUM]))[0] == 0  # keeps the value ranking


@pytest.mark.parametrize("budget, plan", [(1, (1, 1)), (4, (1, 4)), (8, (2, 3)), (16, (4, 3))])
def test_s_star_shares_the_budget_between_chains_and_the_pick(budget, plan):
    chains, length = plan
    assert s_star_plan(budget) == plan
    assert chains * length + (chains if chains > 1 else 0) <= budget


def test_s_star_debugs_each_sample_and_picks_by_running_them(tmp_path, monkeypatch):
    """Two chains at budget 8: the first writes the wrong program, is shown its failure and repairs
    it; the second is right at once; their pick runs both on the model's inputs."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    fix = "```python\n" + ALIKE_SUM + "```"

    def answer(request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        if "new test inputs" in prompt:
            return "total([])\ntotal([2, 2])"
        if "Execution feedback" in prompt:
            return fix
        return "```python\n" + ("def total(xs):\n    return len(xs)\n" if answer.first else RIGHT_SUM) + "```"

    answer.first = True

    def script(request: dict) -> str:
        text = answer(request)
        if "Write the complete solution" in request["messages"][-1]["content"]:
            answer.first = False
        return text

    problem = CodeProblem.from_dict({**TOTAL.to_dict(), "visible_tests": [{"input": [[1, 2]], "output": 3}],
                                     "hidden_tests": [{"input": [[]], "output": 0}]})
    with LLMServer(reply=script) as server:
        result = search(problem, model="openai/local", api_base=server.url, strategy="s_star", budget=8,
                        concurrency=1, cache=None, out=tmp_path / "run")
    assert result.solved and result.stats["llm_calls"] == 4  # 2 programs, 1 repair, 1 input list; alike: no judge
    codes = [p.code for p in result.tree.payload.values() if hasattr(p, "code")]
    assert len(codes) == 3 and sum("len(xs)" in c for c in codes) == 1
    assert result.best.code.strip() in (RIGHT_SUM.strip(), ALIKE_SUM.strip())


def test_code_replies_lose_the_tests_and_demos_models_append():
    from treesearch.parsing import extract_code

    reply = ("```python\nimport math\n\ndef f(x):\n    return math.floor(x)\n\n# Test cases\nassert f(1.5) == 2\n"
             "print(f(3))\nif __name__ == \"__main__\":\n    print(f(2))\n```")
    code = extract_code(reply, "f").value
    assert code == "import math\n\ndef f(x):\n    return math.floor(x)\n\n# Test cases\n"
    stdio = "```python\nn = int(input())\nprint(n * 2)\n```"
    assert extract_code(stdio).value == "n = int(input())\nprint(n * 2)"  # a program's own top level stays
    shared = "```python\ndef f(x):\n    return x\nassert f(1) == 1; y = 2\n```"
    assert "assert" in extract_code(shared, "f").value  # a line shared with kept code is left alone


def total_search(tmp_path, plans: dict[str, str], inputs: str, config: dict, oracle: str = "") -> tuple:
    """MCTS on ``total`` (hidden test: ``[]``) against a fake server: the thoughts ``plans`` in order
    (confidences 0.9, 0.5, 0.2), each plan's program, ``inputs`` as the model's inputs and ``oracle``
    as its oracle. Returns the problem, the result, the prompts sent and the events logged."""
    names = list(plans)

    def answer(request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        if "Propose" in prompt:
            return json.dumps([{"strategy": p, "confidence": c} for p, c in zip(names, (0.9, 0.5, 0.2))])
        if "new test inputs" in prompt:
            return inputs
        if "brute force" in prompt:
            return f"```python\n{oracle}```"
        return f"```python\n{plans[next(p for p in names if p in prompt)]}```"

    problem = CodeProblem.from_dict({**TOTAL.to_dict(), "hidden_tests": [{"input": [[]], "output": 0}]})
    with LLMServer(reply=answer) as server:
        result = search(problem, model="openai/local", api_base=server.url, strategy="mcts", budget=12,
                        concurrency=1, cache=None, out=tmp_path / "run",
                        config={"rethink": False, "plain_first": False, "root_widening": 0.0, **config})
        prompts = [r.body["messages"][-1]["content"] for r in server.requests]
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    return problem, result, prompts, events


def test_mcts_confirms_a_solved_program_on_the_models_inputs_before_it_stops(tmp_path, monkeypatch):
    """With ``confirm`` 2, a program that passes the docstring's example but is wrong elsewhere
    does not end the search: it waits for a second solved program, and when the two disagree on the
    model's inputs, for a third that agrees with one of them; the final pick is of the pair."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    plans = {"Take the first and add the rest.": WRONG_SUM, "Loop and add.": ALIKE_SUM, "Use sum.": RIGHT_SUM}
    problem, result, prompts, events = total_search(tmp_path, plans, "total([])\ntotal([4, 5])",
                                                    {"confirm": 2, "oracle": False, "width": 3})
    assert result.stopped_because == "solved"
    assert sum("new test inputs" in p for p in prompts) == 1  # the inputs are asked for once
    assert result.best.code.strip() in (RIGHT_SUM.strip(), ALIKE_SUM.strip())  # not the first solved program
    confirms = [e for e in events if e["type"] == "confirm"]
    assert [len(e["groups"][0]) for e in confirms] == [1, 1, 2]
    assert asyncio.run(judge(problem, result.best.code, Sandbox("auto"))).passed_base


@pytest.mark.parametrize("oracle, stops_at", [
    # the oracle (right; it raises on a list with a string, which says nothing) tells the first solved
    # program, wrong on [], from the right one: the search goes on to the right one
    ("def total(xs):\n    s = 0\n    for x in xs:\n        s = s + int(x)\n    return s\n", RIGHT_SUM),
    # an oracle that fails the visible test is not trusted: the first solved program stops the search
    ("def total(xs):\n    return 0\n", WRONG_SUM),
])
def test_mcts_with_an_oracle_stops_only_at_a_program_that_behaves_like_it(tmp_path, monkeypatch, oracle, stops_at):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    plans = {"Take the first and add the rest.": WRONG_SUM, "Use sum.": RIGHT_SUM}
    _, result, prompts, events = total_search(tmp_path, plans, "total([])\ntotal([4, 5])\ntotal(['a'])",
                                              {"width": 2}, oracle)
    assert result.stopped_because == "solved"
    assert result.best.code.strip() == stops_at.strip()
    assert sum("brute force" in p for p in prompts) == 1 and sum("new test inputs" in p for p in prompts) == 1
    (checked,) = [e for e in events if e["type"] == "oracle"]
    if stops_at is RIGHT_SUM:
        assert checked["behaviour"] == ["0", "9", "<ValueError>"]
        assert [e["agree"] for e in events if e["type"] == "confirm"] == [[False], [True, False]]
    else:
        assert checked["behaviour"] is None and checked["passed"] == 0


def test_without_inputs_the_first_solved_program_stops_as_before(tmp_path):
    problem = CodeProblem.from_dict({**BELOW_ZERO.to_dict(), "reference": BELOW_ZERO.prompt + "    return any(\n"
                                     "        sum(operations[:i + 1]) < LIMIT for i in range(len(operations)))\n"})
    result = search(problem, model="sim", strategy="mcts", budget=12, concurrency=1, config={"confirm": 2})
    assert result.solved and result.stopped_because == "solved"


def test_behaviours_of_several_programs_come_back_in_their_order(sandbox):
    from types import SimpleNamespace

    from treesearch.contracts import Proposal
    from treesearch.engine.code import CodeDomain

    codes = {7: WRONG_SUM, 8: RIGHT_SUM, 9: ALIKE_SUM, 10: "def total(xs):\n    raise KeyError\n"}
    search_state = SimpleNamespace(node=lambda a: SimpleNamespace(code=codes[a]))
    inputs = Proposal("", metadata={"inputs": [[[]], [[4, 5]]]})
    behaviours = asyncio.run(CodeDomain(TOTAL, sandbox).behaviours(search_state, list(codes), inputs))
    assert behaviours == [("None", "9"), ("0", "9"), ("0", "9"), ("<KeyError>", "<KeyError>")]
