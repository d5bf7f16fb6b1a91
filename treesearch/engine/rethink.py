"""Rethink: rewrite the thought that execution proved wrong, then write the code again.

After a program fails its visible tests, the policy is shown the feedback (failing inputs, expected
and actual outputs, exceptions with the traceback lines inside the candidate, optionally a line trace)
and the thoughts it was written from, and asked which thought is wrong — or whether the plan is right
and only the code is wrong, which a later debug expansion repairs. A wrong thought is rewritten *in
place* (the old version stays on the node, superseded with the feedback that disproved it), and a new
program is written from the corrected path. The failed program is marked superseded and is never
backed up: only the value of the last version counts. Rethinks are capped per failing program and per
thought, and each one is scored: it *helped* when the new program is valued above the one it replaced.
"""

from __future__ import annotations

from treesearch.engine.nodes import CodeNode, ThoughtNode
from treesearch.engine.state import SearchState
from treesearch.tree import TreeError


async def rethink(state: SearchState, code_id: int) -> int:
    """Rethink a failing program up to ``rethink_cap`` times; returns the id of its last version."""
    cfg = state.config
    for _ in range(cfg.rethink_cap):
        failed: CodeNode = state.node(code_id)
        if failed.passed_all:
            break
        path = state.thought_path(code_id)
        if not path:
            break  # nothing to rethink: the program was written without thoughts
        blamed = await state.blamed_thought(code_id, path)
        if blamed is None:
            break
        thought_id, rewrite = blamed
        thought: ThoughtNode = state.node(thought_id)
        parent = state.tree.parent(code_id)
        thought.rewrite(rewrite.content, rewrite.metadata, because=_summary(failed))
        state.stats.rethinks_tried += 1
        rewritten = await state.propose(parent, "code", 1)
        if not rewritten:
            break
        try:
            (new_id,) = state.add_code(parent, rewritten[:1], kind="rethink")
        except TreeError:
            break  # no reserved slot left beside the failed program
        state.tree.mark_superseded(code_id)
        failed.superseded_by = new_id
        state.events.emit("supersede", node=code_id, by=new_id, thought=thought_id,
                          version=len(thought.versions) - 1)
        evaluation = await state.evaluate(new_id)
        helped = evaluation.value > (failed.value or 0.0)
        state.stats.rethinks_helped += int(helped)
        state.events.emit(
            "rethink", node=code_id, verdict="thought", thought=thought_id, version=len(thought.versions) - 1,
            new_node=new_id, old_value=failed.value, new_value=evaluation.value, helped=helped,
        )
        code_id = new_id
    return code_id


def _summary(node: CodeNode) -> str:
    fb = node.feedback
    if fb is None:
        return "not run"
    return f"{fb.passed}/{fb.total} visible tests passed ({fb.status})"
