"""Search trees for the export tests, grown by the real tree (selection, reserved slots, backprop,
superseding) with the engine's payloads and the engine's event vocabulary, but with random programs
and random test outcomes instead of a policy and a sandbox. No tests here: builders only."""

from __future__ import annotations

import random
from typing import Any

from treesearch.contracts import Evaluation
from treesearch.engine.nodes import CodeNode, RootNode, ThoughtNode, ThoughtVersion
from treesearch.export.events import EventLog
from treesearch.tree import SearchTree, SelectionConfig

PROBLEM_ID = "examples/two_sum"
TESTS = [([[2, 7, 11, 15], 9], [0, 1]), ([[3, 2, 4], 6], [1, 2]), ([[3, 3], 6], [0, 1]), ([[1, 5, 9], 14], [1, 2])]
PROGRAM = '''def two_sum(nums, target):
    """Indices of the two numbers that add up to target (attempt {attempt})."""
    seen = {{}}
    for i, x in enumerate(nums):
        if target - x in seen and i {op} 0:  # compare with <, </script> and <b>: the page must not break
            return [seen[target - x], i]
        seen[x] = i
    return []
'''
DEBUG_DEPTH = 3
RETHINK_CAP = 2


class FakeExecution:
    """Shaped like the sandbox's ExecutionResult: per-test outcomes and ``to_dict``."""

    def __init__(self, outcomes: list[dict[str, Any]]) -> None:
        self.outcomes = outcomes
        self.passed = sum(t["passed"] for t in outcomes)
        self.total = len(outcomes)
        self.all_passed = self.passed == self.total
        self.status = "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"backend": "fake", "status": self.status, "error": None, "passed": self.passed, "total": self.total,
                "stdout": "", "stderr": "", "outcomes": self.outcomes}


def run_tests(rng: random.Random, quality: float) -> FakeExecution:
    outcomes = []
    for args, expected in TESTS:
        passed = rng.random() < quality
        crashed = not passed and rng.random() < 0.4
        outcomes.append({
            "input": ", ".join(map(repr, args)), "expected": repr(expected), "passed": passed,
            "actual": repr(expected) if passed else (None if crashed else repr([expected[1], expected[0]])),
            "status": "passed" if passed else "error" if crashed else "failed",
            "exception_type": "IndexError" if crashed else None,
            "exception_message": "list index out of range" if crashed else None,
            "traceback": ["line 5, in two_sum: return [seen[target - x], i]"] if crashed else [],
            "stdout": "", "stderr": "", "time_s": round(rng.uniform(0.0001, 0.003), 5),
        })
    return FakeExecution(outcomes)


class TreeGrower:
    """Grows a tree as the MCTS loop does — expand a leaf (thoughts at the root and below
    ``thought_depth`` thoughts, then a program per thought, a debug child per failing program),
    evaluate, sometimes rethink a failing program, back up, log every step — except that the leaf is
    drawn at random among the expandable ones rather than by the selection rule, so that trees of
    any size grow quickly."""

    def __init__(self, seed: int, thought_depth: int, width: int) -> None:
        self.rng = random.Random(seed)
        self.thought_depth_limit = thought_depth
        self.width = width
        self.log = EventLog()
        self.tree = SearchTree(selection=SelectionConfig(), root_payload=RootNode(PROBLEM_ID))
        self.tree.events = self.log.events
        self.attempts = 0
        self.quality: dict[int, float] = {}
        self.leaves = [0]  # expandable: childless, not terminal, not superseded
        self.log.emit("start", problem_id=PROBLEM_ID, model="fake", strategy="mcts", seed=seed)

    def grow(self, nodes: int) -> SearchTree:
        step = 0
        while len(self.tree.nodes()) < nodes and self.leaves:
            leaf = self.leaves.pop(self.rng.randrange(len(self.leaves)))
            self.log.emit("select", step=step, leaves=[leaf], collisions=0, in_flight=0)
            programs = self.expand(leaf)
            values = [self.tree.payload[p].value for p in programs]
            self.tree.backprop(programs, values)
            self.log.emit("backprop", step=step, nodes=programs, values=values, selected=[leaf])
            step += 1
        best = max((n for n, p in self.tree.payload.items() if isinstance(p, CodeNode)),
                   key=lambda n: (self.tree.payload[n].value, -n))
        self.log.emit("stop", reason="budget: max_calls", best=best)
        return self.tree

    def added(self, ids: list[int]) -> None:
        self.leaves.extend(n for n in ids if not self.tree.stats(n)["terminal"])

    def expand(self, leaf: int) -> list[int]:
        payload = self.tree.payload[leaf]
        if isinstance(payload, RootNode) or (isinstance(payload, ThoughtNode) and self.thought_depth(leaf) < self.thought_depth_limit):
            thoughts = self.add_thoughts(leaf)
            rollout = max(thoughts, key=lambda t: self.quality[t])
            self.added([t for t in thoughts if t != rollout])
            return self.write_code(rollout, "code")
        if isinstance(payload, ThoughtNode):
            return self.write_code(leaf, "code")
        return self.write_code(leaf, "debug")

    def thought_depth(self, node: int) -> int:
        return sum(isinstance(self.tree.payload.get(n), ThoughtNode) for n in self.tree.path_to(node))

    def add_thoughts(self, parent: int) -> list[int]:
        qualities = [self.rng.random() for _ in range(self.width)]
        payloads = [ThoughtNode([ThoughtVersion(f"strategy {self.rng.randrange(1000)}: use a dictionary of seen values, "
                                                f"quality {q:.2f}", {"model": "fake"})]) for q in qualities]
        priors = [q / sum(qualities) for q in qualities]
        self.log.emit("propose", node=parent, kind="thought", asked=self.width, got=self.width)
        ids = self.tree.add_children(parent, priors, payloads)
        self.quality.update(zip(ids, qualities))
        self.log.emit("add", parent=parent, kind="thought", nodes=ids, priors=priors)
        return ids

    def write_code(self, parent: int, kind: str) -> list[int]:
        self.log.emit("propose", node=parent, kind=kind, asked=1, got=1)
        (program,) = self.tree.add_children(parent, [1.0], [self.program(kind, parent)], reserve=RETHINK_CAP)
        self.log.emit("add", parent=parent, kind=kind, nodes=[program])
        self.evaluate(program, self.quality.get(parent, 0.6))
        if not self.tree.payload[program].passed_all and self.rng.random() < 0.3:
            program = self.rethink(program)
        self.added([program])
        return [program]

    def program(self, kind: str, parent: int) -> CodeNode:
        self.attempts += 1
        code = PROGRAM.format(attempt=self.attempts, op=self.rng.choice([">=", ">", "<"]))
        versions = [len(self.tree.payload[t].versions) - 1 for t in self.tree.path_to(parent)
                    if isinstance(self.tree.payload.get(t), ThoughtNode)]
        return CodeNode(code, kind, {"model": "fake"}, thought_versions=versions)

    def evaluate(self, program: int, quality: float) -> None:
        node: CodeNode = self.tree.payload[program]
        node.feedback = run_tests(self.rng, quality)
        critique = self.rng.random()
        value = 0.8 * node.feedback.passed / node.feedback.total + (0.2 * critique if node.feedback.all_passed else 0.0)
        node.evaluation = Evaluation(value, {"pass_fraction": node.feedback.passed / node.feedback.total,
                                             "critique": critique}, f"critique: the loop looks {'right' if critique > 0.5 else 'wrong'}")
        depth = sum(isinstance(self.tree.payload.get(n), CodeNode) for n in self.tree.path_to(program)[:-1])
        if node.passed_all or depth >= DEBUG_DEPTH:
            self.tree.mark_terminal(program)
        self.log.emit("evaluate", node=program, value=value, passed=node.feedback.passed, total=node.feedback.total,
                      status=node.feedback.status, components=node.evaluation.components)

    def rethink(self, program: int) -> int:
        thoughts = [n for n in self.tree.path_to(program) if isinstance(self.tree.payload.get(n), ThoughtNode)]
        failed: CodeNode = self.tree.payload[program]
        if not thoughts:
            return program
        thought_id = thoughts[-1]
        thought: ThoughtNode = self.tree.payload[thought_id]
        if thought.rethinks >= RETHINK_CAP:
            return program
        self.log.emit("propose", node=program, kind="rethink", asked=1, got=1)
        thought.rewrite(thought.text + " (rethought: check the index order)", {"model": "fake"},
                        because=f"{failed.feedback.passed}/{failed.feedback.total} visible tests passed (failed)")
        self.quality[thought_id] = min(1.0, self.quality.get(thought_id, 0.5) + 0.3)
        parent = self.tree.parent(program)
        self.log.emit("propose", node=parent, kind="code", asked=1, got=1)
        (new,) = self.tree.add_children(parent, [1.0], [self.program("rethink", parent)])
        self.log.emit("add", parent=parent, kind="rethink", nodes=[new])
        self.tree.mark_superseded(program)
        failed.superseded_by = new
        self.evaluate(new, self.quality[thought_id])
        new_value = self.tree.payload[new].value
        self.log.emit("rethink", node=program, verdict="thought", thought=thought_id, version=len(thought.versions) - 1,
                      new_node=new, old_value=failed.value, new_value=new_value, helped=new_value > failed.value)
        return new


def grow_tree(nodes: int, seed: int = 0, thought_depth: int = 2, width: int = 3) -> SearchTree:
    """A tree of ``nodes`` nodes (the last step may add a few more; a small ``thought_depth`` and
    ``width`` bound the tree below that) with its event log."""
    return TreeGrower(seed, thought_depth, width).grow(nodes)


def generic_doc() -> dict:
    """A tree from elsewhere (an archive, a trajectory): children lists only, no statistics,
    kinds and payload fields the engine does not have."""
    return {"nodes": [
        {"id": 10, "children": [11, 12], "kind": "agent", "payload": {"name": "seed agent", "score": 0.2}},
        {"id": 11, "children": [13], "kind": "agent", "payload": {"name": "child", "patch": "--- a/x\n+++ b/x\n-a\n+b\n"}},
        {"id": 12, "payload": "plain text payload"},
        {"id": 13, "kind": "step", "payload": {"action": "edit", "observation": {"ok": True}}},
    ]}
