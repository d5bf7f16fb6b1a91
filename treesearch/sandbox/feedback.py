"""Verbal feedback for prompts: what failed and why, in a few lines an LLM can act on."""

from __future__ import annotations

from treesearch.sandbox.result import ExecutionResult, TestOutcome
from treesearch.sandbox.values import excerpt

FAILURE_CHARS = 600  # one failing test's block, at most
TRACE_SHARE = 0.4  # of max_chars, at most, for the execution trace


def render_feedback(result: ExecutionResult, max_chars: int = 2000) -> str:
    """Failing tests first (input, expected, actual or the exception with the candidate's traceback
    lines), then the execution trace of the first failure if there is one, then a pass summary;
    at most ``max_chars`` characters."""
    if result.error:  # set only when the program failed before any test ran
        head = {"syntax_error": "The program does not compile.",
                "load_error": "The program failed while loading, before any test ran."}.get(
            result.status, f"The program failed before any test ran ({result.status}).")
        parts = [head, result.error]
        if result.stderr:
            parts.append("stderr: " + result.stderr)
        return excerpt("\n".join(p for p in parts if p), max_chars)

    failing = [(i, o) for i, o in enumerate(result.outcomes) if not o.passed]
    if not failing:
        return f"All {result.total} tests passed."
    header = f"{len(failing)} of {result.total} tests failed" + (
        f" (run status: {result.status})." if result.status != "ok" else ".")
    passed = [str(i + 1) for i, o in enumerate(result.outcomes) if o.passed]
    summary = f"Passed: test{'s' if len(passed) > 1 else ''} {', '.join(passed)}." if passed else "No test passed."
    traced = next((o for _, o in failing if o.trace), None)
    trace = _trace_block(traced, int(max_chars * TRACE_SHARE)) if traced else ""

    budget = max_chars - len(header) - len(summary) - len(trace) - 4
    blocks: list[str] = []
    not_run = [i for i, o in failing if o.status == "not_run"]
    for shown, (i, outcome) in enumerate((i, o) for i, o in failing if o.status != "not_run"):
        block = excerpt(_failure_block(i, outcome), min(FAILURE_CHARS, max(budget, 200)))
        if blocks and len(block) > budget:
            rest = sum(1 for _, o in failing if o.status != "not_run") - shown
            blocks.append(f"... and {rest} more failing test{'s' if rest > 1 else ''}.")
            break
        blocks.append(block)
        budget -= len(block) + 1
    if not_run:
        reason = (result.outcomes[not_run[0]].error or "not run").rstrip(".")
        blocks.append(f"Test{'s' if len(not_run) > 1 else ''} {_ranges(not_run)}: {reason}.")
    text = "\n".join([header, *blocks, *([trace] if trace else []), summary])
    return excerpt(text, max_chars)


def _failure_block(index: int, o: TestOutcome) -> str:
    lines = [f"Test {index + 1} ({o.status}):"]
    if o.expected is None:  # a general assert: the code is the expectation
        lines.append(f"  check: {o.input}")
        if o.actual is not None:
            lines.append(f"  the function returned: {o.actual}")
    else:
        lines.append(f"  input: {o.input}")
        lines.append(f"  expected: {o.expected}")
        if o.actual is not None and o.exception_type is None:
            lines.append(f"  got: {o.actual}")
    if o.exception_type and not (o.exception_type == "AssertionError" and not o.traceback):
        lines.append(f"  raised {o.exception_type}: {o.exception_message}".rstrip(": "))
        lines.extend(f"    {line}" for line in o.traceback[-5:])
    if o.error:
        lines.append(f"  {o.error}")
    if o.stdout and o.expected is not None and o.stdout != o.actual:
        lines.append(f"  printed: {excerpt(o.stdout, 200)}")
    if o.stderr and not o.exception_type:
        lines.append(f"  stderr: {excerpt(o.stderr, 300)}")
    return "\n".join(lines)


def _trace_block(outcome: TestOutcome, limit: int) -> str:
    lines = ["Execution trace of the first failing test (line, then the variables it changed):"]
    used = len(lines[0])
    for line in outcome.trace or []:
        if used + len(line) + 3 > limit:
            lines.append("  ...")
            break
        lines.append("  " + line)
        used += len(line) + 3
    return "\n".join(lines)


def _ranges(numbers: list[int]) -> str:
    """[4, 5, 6, 9] (0-based) -> "5-7, 10"."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a + 1}" if a == b else f"{a + 1}-{b + 1}" for a, b in spans)
