"""Benchmark loaders: HumanEval, HumanEval+ and MBPP as :class:`CodeProblem` lists.

The split between visible and hidden tests follows "Honest evaluation" in DESIGN.md:

* **HumanEval**: the visible tests are the examples in the docstring — what a model is shown anyway.
  :func:`docstring_examples` reads the styles HumanEval uses (``>>> f(x)`` followed by the output;
  ``f(x) == y``, ``f(x) ➞ y``, ``f(x) => y``, ``f(x) returns y``, ``f(x) should return y``;
  ``For x = ..., the output should be y``; ``Input: ... Output: ...`` blocks). A few docstring
  examples contradict the canonical solution or are not calls at all; :data:`HUMANEVAL_BAD_EXAMPLES`
  lists those, found by running every extracted example against the canonical solution in the
  sandbox (``tests/test_datasets.py`` repeats that check). A problem whose docstring yields no usable
  example gets the first assert of the official test as its visible test instead
  (``metadata["visible_from"]`` says which). The hidden tests are the official ``check`` function,
  split into one test per assert; ``plus=True`` adds HumanEval+'s extra tests as ``plus_tests``.
* **MBPP** (sanitized, 427 tasks): the first assert is visible, all asserts are hidden; the prompt
  is the task text with the reference's signature and the visible assert, as in the usual MBPP prompt.

Data files are never bundled: :func:`find_data_file` looks in ``data_dir`` (``--data-dir``), then
``$TREESEARCH_DATA``, then the user cache directory, and :func:`fetch_data_file` downloads a missing
file there, checking its pinned sha256.
"""

from __future__ import annotations

import ast
import builtins
import gzip
import hashlib
import inspect
import io
import json
import os
import re
import tokenize
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from treesearch.problems import CodeProblem, TestCase, split_test_code

ENV_VAR = "TREESEARCH_DATA"

# name -> (sha256, download URL). The hashes are those in the shared data's SOURCES.md, where each
# file's provenance is recorded.
DATA_FILES: dict[str, tuple[str, str]] = {
    "HumanEval.jsonl.gz": (
        "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
        "https://raw.githubusercontent.com/openai/human-eval/6d43fb980f9fee3c892a914eda09951f772ad10d/data/HumanEval.jsonl.gz",
    ),
    "HumanEvalPlus-OriginFmt-v0.1.10.jsonl.gz": (
        "daa7661c8189924068069b0872a440b491edb60f8bdf431d5957adc88d18bae5",
        "https://raw.githubusercontent.com/evalplus/humanevalplus_release/200defce9e3429d28ca215b6dd061c0f7f31c18b/HumanEvalPlus-OriginFmt.jsonl.gz",
    ),
    "sanitized-mbpp.json": (
        "ca95deaa9a01ef0a6f439f88bcf0dd3db3563d22f22aad6cae04ebb9a8d8c8e9",
        # The copy whose bytes were hashed; its content matches google-research's mbpp/sanitized-mbpp.json.
        "https://raw.githubusercontent.com/mrigankpawagi/PropertyEval/b2be813dcff867cc350c61b8d3ea57ec088ce1ac/sanitized-mbpp.json",
    ),
}


class DatasetError(RuntimeError):
    """A data file is missing, corrupt or cannot be fetched; the message says what to do."""


# ---------------------------------------------------------------------------------------------------
# Finding the files


def user_data_dir() -> Path:
    """Where data files are looked for last and downloaded to: ``$XDG_CACHE_HOME/treesearch/data``
    (``~/.cache/treesearch/data`` when XDG_CACHE_HOME is unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "treesearch" / "data"


def find_data_file(name: str, data_dir: str | Path | None = None) -> Path:
    """The path of data file ``name``: in ``data_dir`` if given, else ``$TREESEARCH_DATA``, else the
    user data directory. A missing file is a :class:`DatasetError` naming every place looked in."""
    places = _search_dirs(data_dir)
    for place in places:
        if (place / name).is_file():
            return place / name
    hint = f" or run fetch_data_file({name!r}) when online" if name in DATA_FILES else ""
    raise DatasetError(
        f"data file {name!r} not found; looked in: {', '.join(str(p) for p in places)}. "
        f"Put it in one of them (--data-dir DIR or {ENV_VAR}=DIR){hint}."
    )


def data_file(name: str, data_dir: str | Path | None = None) -> Path:
    """:func:`find_data_file`, downloading a known file that is missing (when online)."""
    try:
        return find_data_file(name, data_dir)
    except DatasetError as missing:
        if name not in DATA_FILES:
            raise
        try:
            return fetch_data_file(name, data_dir)
        except DatasetError as failed:
            raise DatasetError(f"{missing} Downloading it failed too: {failed}") from failed


def fetch_data_file(name: str, data_dir: str | Path | None = None, timeout_s: float = 60.0) -> Path:
    """Download ``name`` into ``data_dir`` (default: the user data directory), checking its pinned
    sha256; returns the path. Offline or on a hash mismatch: a :class:`DatasetError` saying so."""
    if name not in DATA_FILES:
        raise DatasetError(f"no download known for {name!r}; known files: {', '.join(DATA_FILES)}")
    sha256, url = DATA_FILES[name]
    target_dir = Path(data_dir) if data_dir is not None else user_data_dir()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            content = response.read()
    except (urllib.error.URLError, OSError) as e:
        raise DatasetError(
            f"cannot download {name} from {url} ({getattr(e, 'reason', e)}); are you offline? "
            f"Copy the file into {target_dir} by hand (sha256 {sha256})."
        ) from e
    digest = hashlib.sha256(content).hexdigest()
    if digest != sha256:
        raise DatasetError(f"downloaded {name} has sha256 {digest}, expected {sha256}; not saved")
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / name
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content)
    partial.replace(path)
    return path


def _search_dirs(data_dir: str | Path | None) -> list[Path]:
    if data_dir is not None:
        return [Path(data_dir)]
    env = os.environ.get(ENV_VAR)
    return ([Path(env)] if env else []) + [user_data_dir()]


def _read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, EOFError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: not a readable gzipped JSON-lines file ({e})") from e


# ---------------------------------------------------------------------------------------------------
# Docstring examples


def docstring_examples(prompt: str, entry_point: str) -> list[TestCase]:
    """The examples in ``entry_point``'s docstring in ``prompt``, as tests, in order, without repeats.

    A plain call with literal arguments and a literal result becomes an input/output test; a doctest
    whose expression does more than call the function (``round(f(x), 2)``) becomes an assert-style
    test over ``candidate``. Examples that are not literal (``f(a) => False``, prose) are skipped.
    """
    function = _function(prompt, entry_point)
    if function is None:
        return []
    # The first string in the body, even after an import (HumanEval/115 puts `import math` first).
    strings = [s.value.value for s in function.body
               if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str)]
    docstring = inspect.cleandoc(strings[0]) if strings else ""
    params = [a.arg for a in function.args.posonlyargs + function.args.args]
    tests: list[TestCase] = []
    seen: set[str] = set()
    for test in _doctest_examples(docstring, entry_point):
        _add_unique(tests, seen, test)
    for test in _inline_examples(docstring, entry_point):
        _add_unique(tests, seen, test)
    for test in _named_examples(docstring, params):
        _add_unique(tests, seen, test)
    return tests


def _function(prompt: str, name: str) -> ast.FunctionDef | None:
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return None
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return found[-1] if found else None


def _add_unique(tests: list[TestCase], seen: set[str], test: TestCase) -> None:
    key = repr((test.input, test.output, test.code))
    if key not in seen:
        seen.add(key)
        tests.append(test)


def _doctest_examples(docstring: str, entry_point: str) -> Iterator[TestCase]:
    """``>>> expression`` (with ``...`` continuation lines) followed by the expected output."""
    lines = docstring.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line.startswith(">>>"):
            i += 1
            continue
        source = [line[3:].strip()]
        i += 1
        while i < len(lines) and lines[i].strip().startswith("..."):
            source.append(lines[i].strip()[3:].strip())
            i += 1
        expected = []
        while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(">>>"):
            expected.append(lines[i].strip())
            i += 1
        test = _doctest(" ".join(source), " ".join(expected), entry_point)
        if test is not None:
            yield test


def _doctest(source: str, expected_text: str, entry_point: str) -> TestCase | None:
    try:
        expr = ast.parse(source, mode="eval").body
    except SyntaxError:
        return None
    claim = isinstance(expr, ast.Compare) and len(expr.ops) == 1 and isinstance(expr.ops[0], ast.Eq)
    # No output line means None, as in doctest, except after `f(x) == y`, which states its own claim.
    ok, expected = _literal(expected_text) if expected_text else (True, True if claim else None)
    if not ok:
        return None
    if claim and expected is True:
        ok, value = _literal_node(expr.comparators[0])
        if ok:
            return _call_test(expr.left, entry_point, value) or _assert_test(expr.left, entry_point, value)
        return None
    return _call_test(expr, entry_point, expected) or _assert_test(expr, entry_point, expected)


def _call_test(expr: ast.expr, entry_point: str, expected: Any) -> TestCase | None:
    """An input/output test if ``expr`` is ``entry_point(literal, ...)``."""
    if not (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == entry_point
            and not expr.keywords):
        return None
    args = []
    for arg in expr.args:
        ok, value = _literal_node(arg)
        if not ok:
            return None
        args.append(value)
    return TestCase(input=args, output=expected)


def _assert_test(expr: ast.expr, entry_point: str, expected: Any) -> TestCase | None:
    """An assert-style test if ``expr`` calls ``entry_point`` and otherwise only builtins."""
    names = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
    if entry_point not in names or not names - {entry_point} <= set(dir(builtins)):
        return None
    renamed = _Rename(entry_point, "candidate").visit(expr)
    return TestCase(input=None, output=expected, code=f"assert {ast.unparse(renamed)} == {expected!r}")


class _Rename(ast.NodeTransformer):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(self.new, node.ctx) if node.id == self.old else node


# `f(x) <separator> value`, as HumanEval writes it: ==, ==>, ➞, =>, ->, =, "returns", "should return",
# "# returns", "is".
_SEPARATOR = re.compile(r"\s*(?:#\s*)?(?:==>|==|➞|=>|->|=(?!=)|returns?\b|should\s+return\b|should\s+be\b|is\b)\s*")


def _inline_examples(docstring: str, entry_point: str) -> Iterator[TestCase]:
    text = "\n".join(line for line in docstring.splitlines() if not line.strip().startswith((">>>", "...")))
    for match in re.finditer(rf"(?<![\w.]){re.escape(entry_point)}\(", text):
        end = _closing_paren(text, match.end() - 1)
        if end is None:
            continue
        separator = _SEPARATOR.match(text, end + 1)
        if separator is None:
            continue
        ok, expected = _leading_literal(text[separator.end():])
        if not ok:
            continue
        try:
            call = ast.parse(text[match.start(): end + 1], mode="eval").body
        except SyntaxError:
            continue
        test = _call_test(call, entry_point, expected)
        if test is not None:
            yield test


# "For lst = [...] the output should be 10", "For s = "ab", c = "a", the result should be ('b',False)"
_FOR_EXAMPLE = re.compile(r"For\s+(.+?)[,\s]*(?:the\s+)?(?:output|result)\s+should\s+be\s+(.+)", re.I)
# "Input: arr = [-3, -4, 5], k = 3 ... Output: [-4, -3, 5]" (the input may span several lines)
_IO_EXAMPLE = re.compile(r"Input\s*:\s*(.*?)\n\s*Output\s*:\s*([^\n]+)", re.I | re.S)


def _named_examples(docstring: str, params: list[str]) -> Iterator[TestCase]:
    """Examples that name the arguments instead of calling the function."""
    found = [(m.group(1), m.group(2)) for m in _FOR_EXAMPLE.finditer(docstring)]
    found += [(m.group(1), m.group(2)) for m in _IO_EXAMPLE.finditer(docstring)]
    for arguments, result in found:
        args = _arguments(arguments, params)
        ok, expected = _leading_literal(result)
        if args is not None and ok:
            yield TestCase(input=args, output=expected)


def _arguments(text: str, params: list[str]) -> list[Any] | None:
    """Positional arguments from ``a = 1, b = [2]``, ``a : 1`` lines, or a bare ``3``; the longest
    comma-separated prefix that parses wins (prose may follow the arguments)."""
    text = re.sub(r"(?m)^\s*(\w+)\s*:\s*", r"\1=", text.strip())  # "grid : [[0]]" lines
    text = re.sub(r"\n\s*", ", ", text)
    parts = text.split(",")
    for cut in range(len(parts), 0, -1):
        try:
            call = ast.parse(f"_({','.join(parts[:cut])})", mode="eval").body
        except SyntaxError:
            continue
        if not isinstance(call, ast.Call):
            continue
        if call.keywords and not call.args and len(call.keywords) == len(params):
            values = [_literal_node(k.value) for k in call.keywords]
            if not all(ok for ok, _ in values):
                return None
            named = {k.arg: v for k, (_, v) in zip(call.keywords, values, strict=True)}
            # Named as in the signature: by name; named otherwise ("bucket_capacity" for
            # `capacity`): in the order given.
            return [named[p] for p in params] if set(named) == set(params) else list(named.values())
        if call.args and not call.keywords and len(call.args) == len(params):
            values = [_literal_node(a) for a in call.args]
            return [v for _, v in values] if all(ok for ok, _ in values) else None
    return None


def _closing_paren(text: str, start: int) -> int | None:
    """Index of the parenthesis closing the one at ``start``, skipping strings and nested brackets."""
    depth, quote, i = 0, None, start
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _leading_literal(text: str) -> tuple[bool, Any]:
    """The literal at the start of ``text`` when what follows it is prose or punctuation, not more
    expression (``19 - 5 - 6 = 8`` is a worked example, not the value 19)."""
    text = text.strip()
    sentence_end = re.match(r"-?\d+(?=\.(?:\s|$))", text)  # "should return 16." is 16, not 16.0
    if sentence_end:
        return True, int(sentence_end.group())
    word = re.match(r"(true|false|none|null)\b", text, re.I)
    if word:
        value = {"true": True, "false": False}.get(word.group(1).lower())
        return (True, value) if _ends_cleanly(text[word.end():]) else (False, None)
    for end in _token_ends(text):
        ok, value = _literal(text[:end])
        if ok:
            return (True, value) if _ends_cleanly(text[end:]) else (False, None)
    return False, None


def _ends_cleanly(rest: str) -> bool:
    """What follows a value on its line is punctuation, a comment or words after a space (not
    ``- 5 - 6 = 8``, and not ``aaaa""`` glued to a ``""``)."""
    line = rest.split("\n", 1)[0]
    stripped = line.strip()
    return not stripped or stripped[0] in "#.,;(" or (stripped[0].isalpha() and line[0].isspace())


def _token_ends(text: str) -> list[int]:
    """Character offsets of the ends of the first line's tokens, longest first (and of a bracketed
    value spanning lines)."""
    offsets = []
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.COMMENT):
                break
            if token.type != tokenize.NL:
                offsets.append(starts[token.end[0] - 1] + token.end[1])
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return sorted(set(offsets), reverse=True)


def _literal(text: str) -> tuple[bool, Any]:
    try:
        return _literal_node(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, ValueError):
        return False, None


def _literal_node(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


# ---------------------------------------------------------------------------------------------------
# HumanEval and HumanEval+

# Docstring examples that contradict the canonical solution (so no correct program can pass them) or
# are not examples of the function at all. Found by running every extracted example against the
# canonical solution in the sandbox; tests/test_datasets.py re-checks that every remaining one passes.
HUMANEVAL_BAD_EXAMPLES: dict[str, str] = {
    "HumanEval/47: [[-10, 4, 6, 1000, 10, 20]] -> 15.0": "the median of that list is 8.0; the docstring is wrong",
    "HumanEval/116: [[1, 5, 2, 3, 4]] -> [1, 2, 3, 4, 5]": "contradicts the task (sort by number of ones)",
    "HumanEval/116: [[-2, -3, -4, -5, -6]] -> [-6, -5, -4, -3, -2]": "contradicts the task (sort by number of ones)",
    "HumanEval/116: assert candidate([1, 0, 2, 3, 4])[0, 1, 2, 3, 4] == None": "a garbled doctest line (no ==)",
    "HumanEval/130: [1] -> 3": "tri(1) = 3 defines the sequence; tri() returns the list of the first n + 1 terms",
    "HumanEval/130: [4] -> 3": "tri(4) = 3 defines the sequence; tri() returns the list of the first n + 1 terms",
    "HumanEval/148: ['Earth', 'Mercury'] -> 'Venus'": "shorthand: bf() returns the tuple ('Venus',)",
}


def load_humaneval(data_dir: str | Path | None = None, plus: bool = False) -> list[CodeProblem]:
    """The 164 HumanEval problems (see the module docstring for the test split); with ``plus``,
    HumanEval+ v0.1.10's tests (base and extra inputs, as evalplus scores "HumanEval+") in
    ``plus_tests`` and evalplus's corrected canonical solution as the reference."""
    tasks = _read_jsonl_gz(data_file("HumanEval.jsonl.gz", data_dir))
    plus_tasks = _humaneval_plus(data_file("HumanEvalPlus-OriginFmt-v0.1.10.jsonl.gz", data_dir)) if plus else {}
    problems = []
    for task in tasks:
        task_id, entry_point = task["task_id"], task["entry_point"]
        hidden = split_test_code(task["test"], entry_point)
        visible = [t for t in docstring_examples(task["prompt"], entry_point) if _example_key(task_id, t) not in HUMANEVAL_BAD_EXAMPLES]
        visible_from = "docstring"
        if not visible:
            visible, visible_from = hidden[:1], "official_test"
        problems.append(CodeProblem(
            id=task_id, kind="function", prompt=task["prompt"], entry_point=entry_point,
            visible_tests=visible, hidden_tests=hidden, plus_tests=plus_tasks[task_id][1] if plus else [],
            reference=plus_tasks[task_id][0] if plus else task["prompt"] + task["canonical_solution"],
            metadata={"dataset": "humaneval+" if plus else "humaneval", "task_id": task_id, "visible_from": visible_from},
        ))
    return problems


def _example_key(task_id: str, test: TestCase) -> str:
    """How :data:`HUMANEVAL_BAD_EXAMPLES` names an example: task id and the example's rendering."""
    return f"{task_id}: {test.code if test.code is not None else f'{test.input!r} -> {test.output!r}'}"


def _humaneval_plus(path: Path) -> dict[str, tuple[str, list[TestCase]]]:
    """task id -> (reference, tests) of HumanEval+, from the OriginFmt file.

    The reference is evalplus's canonical solution: the original HumanEval one fails some of the
    extra tests (``change_base(0, 3)``) or runs out of time on them (a recursive ``fib(63)``). The
    tests come from the tasks' ``check`` functions.

    The file embeds the expected outputs (``results``) for 158 tasks. For 6 (HumanEval/14, 15, 83,
    100, 130, 139) it computes them at test time with ``ref_func``, the canonical solution, whose
    outputs are too large to embed; those tests stay assert-style (``candidate(*x) == ref_func(*x)``),
    so the canonical solution runs in the sandbox, next to the candidate, never in this process.
    HumanEval/32 (find_zero) checks a root, not a value: ``abs(poly(xs, candidate(xs))) <= 1e-4``,
    evalplus's own check (the file's assert passes the arguments to ``_poly`` the wrong way round).
    """
    out = {}
    for task in _read_jsonl_gz(path):
        # The `inputs = [...]` / `results = [...]` lines hold megabytes of literals: read them on
        # their own (JSON first, which is much faster than parsing Python) and parse the rest.
        values, lines = {}, []
        for line in task["test"].splitlines():
            match = _PLUS_DATA_LINE.match(line)
            if match:
                values[match.group(1)] = _data_literal(match.group(2))
                line = f"    {match.group(1)} = None"
            lines.append(line)
        tree = ast.parse("\n".join(lines))
        check = next(s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == "check")
        helpers = "\n".join(
            ast.unparse(s) for s in tree.body
            if s is not check and not (isinstance(s, ast.FunctionDef) and s.name in ("is_floats", "assertion"))
            and not (isinstance(s, ast.Import) and s.names[0].name == "numpy")
        )
        loop = next(s for s in check.body if isinstance(s, ast.For))
        make = _plus_test_maker(loop.body[0], helpers)
        expected = values.get("results", [None] * len(values["inputs"]))
        tests = [make(args, e) for args, e in zip(values["inputs"], expected, strict=True)]
        out[task["task_id"]] = (task["prompt"] + task["canonical_solution"], tests)
    return out


_PLUS_DATA_LINE = re.compile(r"    (inputs|results) = (.*)$")


def _data_literal(text: str) -> Any:
    try:
        return json.loads(text)  # JSON syntax means the same in Python; tuples and 'quotes' fall through
    except ValueError:
        return ast.literal_eval(text)


def _plus_test_maker(statement: ast.stmt, helpers: str) -> Callable[[list[Any], Any], TestCase]:
    """How the loop body ``statement`` of a task's ``check`` turns (arguments, expected) into a test."""
    source = ast.unparse(statement)
    if "ref_func" in source:
        return lambda args, _: TestCase(code=f"{helpers}\nassert candidate(*{args!r}) == ref_func(*{args!r})\n")
    if "_poly" in source:
        return lambda args, _: TestCase(code=f"{helpers}\nassert abs(_poly({args[0]!r}, candidate(*{args!r}))) <= 0.0001\n")
    atol = ast.literal_eval(statement.value.args[2])  # assertion(candidate(*inp), exp, atol)
    if atol:
        # evalplus's np.allclose(out, exp, rtol=1e-07, atol=atol), for the scalar results these have.
        return lambda args, expected: TestCase(
            code=f"assert abs(candidate(*{args!r}) - {expected!r}) <= {atol!r} + 1e-07 * abs({expected!r})\n"
        )
    return lambda args, expected: TestCase(input=list(args), output=expected)


# ---------------------------------------------------------------------------------------------------
# MBPP


def load_mbpp(data_dir: str | Path | None = None) -> list[CodeProblem]:
    """The 427 sanitized MBPP problems: visible = the first assert, hidden = all of them (with the
    task's test imports), reference = the task's code, prompt = the text, the reference's signature and
    the visible assert."""
    path = data_file("sanitized-mbpp.json", data_dir)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: not a readable JSON file ({e})") from e
    problems = []
    for task in tasks:
        entry_point, signature = _mbpp_function(task["code"], task["test_list"][0])
        setup = "\n".join([*task.get("test_imports", []), task.get("test_setup_code", "")]).strip()
        setup = setup + "\n" if setup else ""
        visible = split_test_code(setup + task["test_list"][0], entry_point)
        hidden = split_test_code(setup + "\n".join(task["test_list"]), entry_point)
        prompt = f'{signature}\n    """{task["prompt"].strip()}\n\n    Your code should pass this test:\n    {task["test_list"][0]}\n    """\n'
        problems.append(CodeProblem(
            id=f"Mbpp/{task['task_id']}", kind="function", prompt=prompt, entry_point=entry_point,
            visible_tests=visible, hidden_tests=hidden, reference=task["code"],
            metadata={"dataset": "mbpp", "task_id": task["task_id"]},
        ))
    return problems


def _mbpp_function(code: str, first_assert: str) -> tuple[str, str]:
    """(entry point, ``def`` line) of the reference function that the first assert calls."""
    defined = {s.name: s for s in ast.parse(code).body if isinstance(s, ast.FunctionDef)}
    called = [n.func.id for n in ast.walk(ast.parse(first_assert)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    name = next((c for c in called if c in defined), None)
    if name is None:
        raise DatasetError(f"MBPP: cannot tell which function the test {first_assert!r} calls")
    header = ast.unparse(ast.FunctionDef(name=name, args=defined[name].args, body=[ast.Pass()], decorator_list=[],
                                          returns=defined[name].returns, type_params=[], lineno=1, col_offset=0))
    return name, header.splitlines()[0]
