"""Rethink: rewrite the thought that a failed attempt disproves, then attempt again from it.

After an attempt fails its checks, the policy is shown the feedback (for a program: failing inputs,
expected and actual outputs, exceptions with the traceback lines inside the candidate, optionally a
line trace; for a patch: what its checks found) and the thoughts it was made from, and asked which
thought is wrong — or whether the plan is right and only the attempt is wrong: then (and when no
verdict can be read from the reply) the attempt is repaired at once, a debug step. A wrong thought is rewritten *in place* (the old version stays on the node,
superseded with the failure that disproved it), and the domain makes a new attempt from the corrected
path (:meth:`~treesearch.contracts.Domain.redo`). The failed attempt is superseded and never backed
up: only the value of the last version counts. Rethinks are capped per failed attempt and per
thought; an attempt made from a thought that another expansion has rewritten since is not rethought
(its failure says nothing about the new version). Each rethink is scored: it *helped* when the new attempt is valued above the one it replaced.
"""

from __future__ import annotations

from contextlib import aclosing

from treesearch.engine.state import SearchState


async def rethink(state: SearchState, end: int) -> int:
    """Rethink a failed attempt up to ``rethink_cap`` times; returns the end of its last version."""
    for _ in range(state.config.rethink_cap):
        failed = state.node(end)
        path = state.thought_path(end)
        if failed.passed_all or not path:
            break  # nothing to rethink: it passed, or it was made without thoughts
        if failed.thought_versions != state.versions(end):
            break  # another expansion has rewritten a thought it was made from: the failure is stale
        # Counted in flight until its verdict is in (and its repair written): an expansion selecting
        # it meanwhile keeps room beside its own repair for this one's (children stay contiguous).
        state.tree.hold(end)
        try:
            blamed = await state.blamed_thought(end, path)
            if blamed in ("code", "unusable"):
                # The plan stands (or no verdict could be read): the call still bought a look at the
                # failure, so the attempt is repaired at once rather than left for a later selection.
                return await _repaired(state, end)
        finally:
            state.tree.release([end])
        if isinstance(blamed, str) or failed.thought_versions != state.versions(end):  # (or did while we asked)
            break
        thought_id, rewrite = blamed
        thought = state.node(thought_id)
        thought.rewrite(rewrite.content, rewrite.metadata, because=state.domain.failure(failed))
        state.stats.rethinks_tried += 1
        new_end = await state.domain.redo(state, end, thought_id)
        if new_end is None:
            break
        new_value = state.node(new_end).value
        helped = new_value > (failed.value or 0.0)
        state.stats.rethinks_helped += int(helped)
        state.events.emit(
            "rethink", node=end, verdict="thought", thought=thought_id, version=len(thought.versions) - 1,
            new_node=new_end, old_value=failed.value, new_value=new_value, helped=helped,
        )
        end = new_end
    return end


async def _repaired(state: SearchState, end: int) -> int:
    """A repair of the failed attempt at ``end`` (the domain's attempt below it); its end, or
    ``end`` when the policy proposed none."""
    async with aclosing(state.domain.attempts(state, end)) as repairs:
        async for repaired in repairs:
            end = repaired
    return end
