"""Repository-level search: resolving a GitHub issue in a real repository (SWE-bench).

Modules, in the order data flows through them:

* ``problem``: :class:`RepoProblem`, an SWE-bench instance, and the instance-file loader;
* ``repos``: finding a repository's local clone (``--repos-dir``) or cloning it, and running git;
* ``environment``: a private checkout at the base commit and git worktrees where node states (a
  diff against the base commit) are materialised;
* ``actions``: what the agent can do (search, view, edit, create, run, reproduce, submit);
* ``checks``: execution feedback on a patch (applies, compiles, keeps the related tests, fixes the
  reproduction); ``patches``: unified diffs;
* ``nodes``, ``agent``: the agent as a tree search (hypotheses and actions as nodes, rethink);
* ``search``: the MCTS loop, the final pick and the run directory of one instance;
* ``specs``: what the official harness (the ``swebench`` package) says about an instance: environment
  specification, test files, test command, log parser; ``venvs``: per-instance environments built
  from it, and each checkout's editable overlay;
* ``judge``: one patch judged with the instance's own tests as the harness runs them;
  ``local_eval``: that, after the search; ``evaluate``, ``eval_cli``: ``treesearch swebench-eval``;
* ``runner``, ``cli``: many instances, resumable ``predictions.jsonl``, ``treesearch swebench``.
"""
