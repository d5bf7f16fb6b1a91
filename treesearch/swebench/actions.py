"""What the repository agent can do, one action per step, and what it observes.

==========  =============================  ====================================================
action      fields                         effect
==========  =============================  ====================================================
search      pattern, path (optional)       the lines holding ``pattern`` (literal text), at most 50
view        path, start, end (optional)    a file's lines ``start..end`` numbered (at most 200),
                                           or a directory's entries
edit        path, old, new                 replace the one occurrence of ``old`` by ``new``
create      path, content                  a new file
run         command                        a shell command in the sandbox (exit code, output)
reproduce   script                         a Python script that should fail while the issue is
                                           there and pass once it is fixed; run in the sandbox,
                                           and kept as the path's reproduction for the checks
submit      (none)                         the current patch is the answer of this attempt
==========  =============================  ====================================================

Edits and new files never touch the repository's tests (:func:`~treesearch.swebench.patches.is_test_path`):
the answer is judged by tests the agent does not see, and a patch that rewrote them would be
rejected. Search, view, edit and create work on the worktree directly (the engine's own code);
``run`` and ``reproduce`` execute in the sandbox.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from treesearch.sandbox.command import CommandResult
from treesearch.swebench.environment import REPRODUCE, REPRODUCTION, SCRATCH, PathRefused, Worktree
from treesearch.swebench.patches import is_test_path
from treesearch.swebench.repos import GitError, git

# kind -> (required fields, optional fields); every field is a string except view's start/end.
ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "search": (("pattern",), ("path",)),
    "view": (("path",), ("start", "end")),
    "edit": (("path", "old", "new"), ()),
    "create": (("path", "content"), ()),
    "run": (("command",), ()),
    "reproduce": (("script",), ()),
    "submit": ((), ()),
}
MAX_MATCHES = 50
VIEW_LINES = 100
MAX_VIEW_LINES = 200
OBSERVATION_CHARS = 6000


class ActionError(ValueError):
    """An action that is not one of :data:`ACTIONS` with its fields."""


@dataclass(frozen=True)
class Action:
    kind: str
    args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> Action:
        """``{"action": kind, field: value, ...}``; :class:`ActionError` names what is wrong."""
        if not isinstance(data, dict):
            raise ActionError("an action must be a JSON object with an 'action' field")
        kind = data.get("action")
        if kind not in ACTIONS:
            raise ActionError(f"unknown action {kind!r}; choose one of {', '.join(ACTIONS)}")
        required, optional = ACTIONS[kind]
        unknown = sorted(set(data) - {"action", *required, *optional})
        if unknown:
            raise ActionError(f"action {kind!r} has no field(s) {', '.join(map(repr, unknown))}")
        args: dict[str, Any] = {}
        for name in (*required, *optional):
            if name not in data:
                if name in required:
                    raise ActionError(f"action {kind!r} needs the field {name!r}")
                continue
            value = data[name]
            if name in ("start", "end"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ActionError(f"field {name!r} must be a line number (an integer >= 1)")
            elif not isinstance(value, str):
                raise ActionError(f"field {name!r} of action {kind!r} must be a string")
            args[name] = value
        if kind in ("search", "run") and not args[required[0]].strip():
            raise ActionError(f"field {required[0]!r} must not be empty")
        return cls(kind, args)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.kind, **self.args}

    def describe(self) -> str:
        """One line for the tree and the trajectory."""
        a = self.args
        if self.kind == "search":
            return f"search {a['pattern']!r} in {a.get('path') or 'the repository'}"
        if self.kind == "view":
            return f"view {a['path']}" + (f":{a.get('start', 1)}-{a['end']}" if "end" in a else "")
        if self.kind == "edit":
            return f"edit {a['path']} ({_count_lines(a['old'])} lines -> {_count_lines(a['new'])})"
        if self.kind == "create":
            return f"create {a['path']} ({_count_lines(a['content'])} lines)"
        if self.kind == "run":
            return f"run: {a['command']}"
        if self.kind == "reproduce":
            return f"reproduce ({_count_lines(a['script'])}-line script)"
        return "submit"


@dataclass
class Observation:
    """What the agent sees after an action. ``reproduction``: the script a ``reproduce`` action wrote;
    ``command``: the sandbox's result for ``run`` and ``reproduce``."""

    text: str
    ok: bool = True
    reproduction: str | None = None
    command: CommandResult | None = None


async def execute(action: Action, tree: Worktree) -> Observation:
    """Carry out ``action`` in ``tree``. Mistakes (a missing file, an ambiguous edit, a test file)
    are observations that say what went wrong, not exceptions: the agent reads them and tries again."""
    try:
        if action.kind == "search":
            return await asyncio.to_thread(_search, tree, action.args["pattern"], action.args.get("path") or ".")
        if action.kind == "view":
            return _view(tree, action.args["path"], action.args.get("start", 1), action.args.get("end"))
        if action.kind == "edit":
            return _edit(tree, action.args["path"], action.args["old"], action.args["new"])
        if action.kind == "create":
            return _create(tree, action.args["path"], action.args["content"])
        if action.kind == "run":
            result = await tree.run(action.args["command"])
            return Observation(_command_text(result), ok=result.ok, command=result)
        if action.kind == "reproduce":
            tree.write(REPRODUCTION, action.args["script"])
            result = await tree.run(REPRODUCE)
            return Observation(_command_text(result), ok=True, reproduction=action.args["script"], command=result)
        return Observation("submitted")
    except PathRefused as e:
        return Observation(f"refused: {e}", ok=False)


def _search(tree: Worktree, pattern: str, path: str) -> Observation:
    tree.resolve(path)
    try:
        found = git("grep", "-n", "-I", "-F", "--untracked", "-e", pattern, "--", path, cwd=tree.path)
    except GitError:
        return Observation(f"no matches for {pattern!r} in {path}")
    lines = [line for line in found.splitlines() if not line.startswith(f"{SCRATCH}/")]
    shown = "\n".join(_cut(line, 300) for line in lines[:MAX_MATCHES])
    more = f"\n... and {len(lines) - MAX_MATCHES} more matches" if len(lines) > MAX_MATCHES else ""
    return Observation(_cut(f"{len(lines)} matches for {pattern!r} in {path}:\n{shown}{more}", OBSERVATION_CHARS))


def _view(tree: Worktree, path: str, start: int, end: int | None) -> Observation:
    target = tree.resolve(path)
    if target.is_dir():
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in target.iterdir() if p.name != ".git")
        return Observation(f"{path}/ holds:\n" + "\n".join(entries[:300]))
    if not target.is_file():
        return Observation(f"{path} does not exist", ok=False)
    lines = tree.read(path).splitlines()
    end = min(len(lines), end if end is not None else start + VIEW_LINES - 1, start + MAX_VIEW_LINES - 1)
    if start > len(lines):
        return Observation(f"{path} has only {len(lines)} lines", ok=False)
    body = "\n".join(f"{n:>6}  {lines[n - 1]}" for n in range(start, end + 1))
    return Observation(_cut(f"{path} lines {start}-{end} of {len(lines)}:\n{body}", OBSERVATION_CHARS))


def _refuse_write(path: str) -> str | None:
    if is_test_path(path):
        return (f"refused: {path} is one of the repository's tests; the fix must not change tests "
                "(use a reproduce action to check the behaviour instead)")
    if PurePosixPath(path.strip()).parts[:1] == (SCRATCH,):
        return f"refused: {SCRATCH}/ is the engine's scratch directory"
    return None


def _edit(tree: Worktree, path: str, old: str, new: str) -> Observation:
    if (refusal := _refuse_write(path)) is not None:
        return Observation(refusal, ok=False)
    target = tree.resolve(path)
    if not target.is_file():
        return Observation(f"{path} does not exist (create it instead)", ok=False)
    text = tree.read(path)
    count = text.count(old) if old else 0
    if count != 1:
        why = "old text is empty" if not old else ("old text not found" if count == 0 else f"old text occurs {count} times")
        return Observation(f"edit not made: {why} in {path}; view the file and copy the exact lines "
                           "(with enough context to be unique)", ok=False)
    tree.write(path, text.replace(old, new, 1))
    first = text[: text.index(old)].count("\n") + 1
    lines = (text.replace(old, new, 1)).splitlines()
    shown = "\n".join(f"{n:>6}  {lines[n - 1]}" for n in range(max(1, first - 2),
                                                               min(len(lines), first + _count_lines(new) + 1) + 1))
    return Observation(f"edited {path}; the lines around the change now read:\n{_cut(shown, 3000)}"
                       + _syntax_warning(path, tree))


def _create(tree: Worktree, path: str, content: str) -> Observation:
    if (refusal := _refuse_write(path)) is not None:
        return Observation(refusal, ok=False)
    if tree.resolve(path).exists():
        return Observation(f"{path} already exists (edit it instead)", ok=False)
    tree.write(path, content)
    return Observation(f"created {path} ({_count_lines(content)} lines)" + _syntax_warning(path, tree))


def _syntax_warning(path: str, tree: Worktree) -> str:
    if not path.endswith(".py"):
        return ""
    try:
        compile(tree.read(path), path, "exec", dont_inherit=True)
    except SyntaxError as e:
        return f"\nwarning: {path} no longer parses: {e.msg} (line {e.lineno})"
    except ValueError as e:
        return f"\nwarning: {path} no longer parses: {e}"
    return ""


def _command_text(result: CommandResult) -> str:
    return _cut(f"{result.summary()}\n{result.output}", OBSERVATION_CHARS, keep_end=True)


def _count_lines(text: str) -> int:
    return len(text.splitlines()) or (1 if text else 0)


def _cut(text: str, limit: int, keep_end: bool = False) -> str:
    """``text`` within ``limit`` characters; command output keeps its end (where errors are)."""
    if len(text) <= limit:
        return text
    if keep_end:
        return text[: limit // 4] + "\n[...]\n" + text[-(limit * 3 // 4):]
    return text[:limit] + "\n[...]"
