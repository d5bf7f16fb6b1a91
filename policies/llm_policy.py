"""LLMPolicy: the four kinds of proposal as prompts to a model through :class:`treesearch.llm.LLMClient`.

Prompt templates are the ``.txt`` files in ``policies/prompts/`` (``$name`` placeholders). Replies
are parsed with :mod:`treesearch.parsing`; a reply that cannot be used (no code block, no entry
point, code that does not parse, unreadable JSON) is asked again once with the parse error appended,
at a temperature of at least :data:`RETRY_TEMPERATURE` (a greedy call would give the same reply again),
then skipped, so a bad reply never ends a search; an unusable rethink is not asked again (the engine
repairs the attempt instead). Every unusable reply is counted in
``LLMPolicy.parse_failures``.

What models write is read generously: thoughts as the JSON list asked for, an object holding the list,
numbered or bulleted prose, or one paragraph (:func:`treesearch.parsing.extract_strategies`); a
rethink as the JSON object asked for with other key names ("step", "corrected_step", "explanation"),
step numbers as "2" or "step 2", or as prose ("Step 2 is wrong ... Corrected step: ...").
"""

from __future__ import annotations

import collections
import re
from pathlib import Path
from typing import Any

from treesearch.contracts import ExpansionContext, Proposal, ProposalKind
from treesearch.parsing import Parsed, extract_calls, extract_code, extract_strategies, json_values
from treesearch.prompting import load_template, output_note, problem_section, render

PROMPTS = Path(__file__).parent / "prompts"
# The lowest temperature of the call that asks again after an unusable reply: a greedy (temperature 0)
# model tends to write the same reply again.
RETRY_TEMPERATURE = 0.7
# Each kind of call gets the room its answer needs and no more: a small model that rambles is cut off
# early instead of filling the server's default (a thought list, a fixed program, a short verdict).
MAX_TOKENS = {"thought": 512, "code": 1024, "debug": 1280, "rethink": 384, "inputs": 384, "oracle": 1024,
              "other": 1024}
# The templates the policy fills (a prompts directory may replace any of them).
TEMPLATES = ("system", "thought", "code", "debug", "rethink", "inputs", "oracle")
# Inputs asked for in one "inputs" proposal.
INPUTS = 8


class LLMPolicy:
    """Proposals from an LLM. ``prompts``: a directory of templates that replace the shipped ones of
    the same names (the others stay; an empty ``system.txt`` sends no system message, as shipped).
    ``temperature`` applies to every call (the retry after an unusable reply uses at least
    :data:`RETRY_TEMPERATURE`; with ``greedy_first`` the first program is greedy); thoughts come ``n``
    to a call, programs one per sample (``n`` samples of one request).

    ``parse_failures`` (a ``collections.Counter[str]``) counts the replies that could not be used, by
    proposal kind ("thought", "code", "debug", "rethink", "inputs", "oracle"; :class:`~policies.repo_policy.RepoPolicy`
    adds "action"; "other" for prompts asked through :meth:`_ask` by other components). Each unusable
    reply counts once, the first and the one asked again alike: a sample whose retry helped counts 1,
    one that stayed unusable counts 2. It only grows; read it before and after a call for that call's
    share. ``replies`` counts every reply read, by the same kinds (retries included): the rate of
    unusable replies of a kind is ``parse_failures[kind] / replies[kind]``. When no thought can be read even after the retry, ``propose`` returns ``[]`` for "thought"
    (no thought is made up: the engine writes code from the problem itself).
    """

    def __init__(self, client: Any, temperature: float = 0.8, prompts: Path = PROMPTS,
                 greedy_first: bool = False) -> None:
        self.client = client
        self.name = client.model
        self.temperature = temperature
        # The first program asked for is the model's most likely one (temperature 0), as a single
        # greedy sample would be; the samples after it explore. A small model's greedy program is
        # right more often than a sampled one.
        self.greedy_first = greedy_first
        self._greedy_pending = greedy_first  # until the first program has been asked for
        self.prompts = checked_prompts(Path(prompts))
        self.parse_failures: collections.Counter[str] = collections.Counter()
        self.replies: collections.Counter[str] = collections.Counter()

    async def propose(self, ctx: ExpansionContext, kind: ProposalKind, n: int) -> list[Proposal]:
        if kind == "thought":
            return await self._thoughts(ctx, n)
        if kind == "rethink":
            return await self._rethink(ctx)
        if kind in ("code", "debug", "oracle"):
            return await self._programs(ctx, kind, n)
        if kind == "inputs":
            return await self._inputs(ctx)
        raise ValueError(f"unknown proposal kind {kind!r}")

    # ------------------------------------------------------------------ prompts
    def _template_dir(self, name: str) -> Path:
        """Where template ``name`` comes from: ``prompts`` when it holds one, else the shipped one
        (a prompts directory overrides the templates it has and keeps the others)."""
        return self.prompts if (self.prompts / f"{name}.txt").is_file() else PROMPTS

    def _messages(self, name: str, ctx: ExpansionContext, **values: object) -> list[dict]:
        """The system message (none when its template is empty) and the user message of template ``name``.

        Every template may use ``$problem`` (statement, task note and visible tests), ``$statement``
        (the problem as given, e.g. a function stub with its docstring), ``$thoughts`` and
        ``$output_note``, besides the values of its kind."""
        thoughts = "".join(f"## Plan step {i}\n{t}\n\n" for i, t in enumerate(ctx.thoughts, 1))
        user = render(
            self._template_dir(name), name, problem=problem_section(ctx.problem),
            statement=ctx.problem.prompt.rstrip(), thoughts=thoughts, output_note=output_note(ctx.problem), **values,
        )
        system = render(self._template_dir("system"), "system")
        return ([{"role": "system", "content": system}] if system.strip() else []) + [{"role": "user", "content": user}]

    async def _ask(self, messages: list[dict], n: int, parse, kind: str = "other",
                   retry: bool = True, temperature: float | None = None) -> list[tuple[Any, Any]]:
        """``n`` samples parsed by ``parse`` (at ``temperature``, default the policy's); each unusable
        one is asked again once (with the parse error, at a temperature of at least
        :data:`RETRY_TEMPERATURE`) unless not ``retry``, and every unusable reply is counted in
        ``parse_failures[kind]``."""
        temperature = self.temperature if temperature is None else temperature
        params = {"temperature": temperature, "max_tokens": MAX_TOKENS.get(kind, MAX_TOKENS["other"])}
        completions = await self.client.complete(messages, n=n, **params)
        out = []
        self.replies[kind] += len(completions)
        for completion in completions:
            parsed: Parsed = parse(completion.text)
            if not parsed.ok and retry:
                self.replies[kind] += 1
                self.parse_failures[kind] += 1
                again = [*messages, {"role": "assistant", "content": completion.text},
                         {"role": "user", "content": f"That reply could not be used: {parsed.error}. Please answer again in the requested format."}]
                (completion,) = await self.client.complete(
                    again, n=1, **{**params, "temperature": max(temperature, RETRY_TEMPERATURE)})
                parsed = parse(completion.text)
            if not parsed.ok:
                self.parse_failures[kind] += 1
            if parsed.ok:
                out.append((parsed.value, completion))
        return out

    @staticmethod
    def _metadata(completion: Any, **extra: Any) -> dict[str, Any]:
        return {
            "model": completion.model, "raw": completion.text, "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens, "cost_usd": completion.cost_usd,
            "cached": completion.cached, **extra,
        }

    async def _thoughts(self, ctx: ExpansionContext, n: int) -> list[Proposal]:
        messages = self._messages("thought", ctx, n=n)
        replies = await self._ask(messages, 1, _parse_strategies, "thought")
        if not replies:
            return []
        strategies, completion = replies[0]
        return [
            Proposal(text, prior=confidence, metadata=self._metadata(completion, confidence=confidence))
            for text, confidence in strategies[:n]
        ]

    async def _programs(self, ctx: ExpansionContext, kind: str, n: int) -> list[Proposal]:
        if kind == "debug":
            attempts = "".join(
                f"## Earlier attempt {i}\n```python\n{code}\n```\nFeedback:\n{fb}\n\n"
                for i, (code, fb) in enumerate(ctx.attempts[-2:], 1)
            )
            messages = self._messages("debug", ctx, attempts=attempts, code=ctx.code, feedback=ctx.feedback_text)
        elif kind == "oracle":
            messages = self._messages("oracle", ctx, entry_point=ctx.problem.entry_point)
        else:
            messages = self._messages("code", ctx, follow_plan=" following the plan above" if ctx.thoughts else "")
        entry = ctx.problem.entry_point if ctx.problem.kind == "function" else None

        def parse(text: str) -> Parsed:
            return extract_code(text, entry)

        replies = []
        if kind == "oracle":  # the model's most likely literal reading
            return [Proposal(code, 1.0, self._metadata(c))
                    for code, c in await self._ask(messages, 1, parse, kind, temperature=0.0)]
        if kind == "code" and self._greedy_pending:
            self._greedy_pending = False
            replies = await self._ask(messages, 1, parse, kind, temperature=0.0)
            n -= 1
        if n > 0:
            replies += await self._ask(messages, n, parse, kind)
        return [Proposal(code, 1.0, self._metadata(c)) for code, c in replies]

    async def _inputs(self, ctx: ExpansionContext) -> list[Proposal]:
        """New inputs of the function, without expected outputs (a small model computes those badly
        but writes plausible inputs well); none for a stdin program."""
        if ctx.problem.kind != "function":
            return []
        messages = self._messages("inputs", ctx, n=INPUTS, entry_point=ctx.problem.entry_point)
        replies = await self._ask(messages, 1, lambda text: extract_calls(text, ctx.problem.entry_point), "inputs",
                                  retry=False)  # without inputs the engine does as it did before asking
        if not replies:
            return []
        calls, completion = replies[0]
        return [Proposal(completion.text, 1.0, self._metadata(completion, inputs=calls[:INPUTS]))]

    async def _rethink(self, ctx: ExpansionContext) -> list[Proposal]:
        numbered = "\n".join(f"Step {i}: {t}" for i, t in enumerate(ctx.thoughts, 1))
        messages = self._messages("rethink", ctx, numbered_thoughts=numbered, code=ctx.code, feedback=ctx.feedback_text)
        template = load_template(str(self._template_dir("rethink")), "rethink").template  # the raw text, cached as render's
        # Not asked again: the engine repairs the attempt instead (a small model that could not fill
        # the format once tends to write the same reply again).
        replies = await self._ask(messages, 1, lambda text: _parse_rethink(text, len(ctx.thoughts), template, ctx.thoughts),
                                  "rethink", retry=False)
        if not replies:
            return []
        (target, rewrite, reason), completion = replies[0]
        return [Proposal(rewrite or reason, 1.0, self._metadata(completion, reason=reason), target=target)]


def checked_prompts(directory: Path) -> Path:
    """``directory`` if it is one whose templates all have a shipped template's name (a misspelt
    file would otherwise be silently ignored in favour of the shipped one); the policy fills
    :data:`TEMPLATES`."""
    if not directory.is_dir():
        raise ValueError(f"prompts: {directory} is not a directory of prompt templates")
    shipped = {t.name for t in PROMPTS.glob("*.txt")}  # a copy of the shipped directory is one too
    unknown = sorted(t.name for t in directory.glob("*.txt") if t.name not in shipped)
    if unknown:
        raise ValueError(f"prompts: {directory} has templates the policy does not use ({', '.join(unknown)}); "
                         f"it uses {', '.join(f'{t}.txt' for t in TEMPLATES)} (shipped in {PROMPTS})")
    return directory


def _parse_strategies(text: str) -> Parsed:
    """(text, confidence) pairs: see :func:`treesearch.parsing.extract_strategies`."""
    return extract_strategies(text)


# -- rethink replies --

_ORDINALS = {w: i for i, w in enumerate(
    ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"), 1)}
_NO_STEP = {"", "none", "null", "no", "n/a", "na", "nil", "-", "false"}
_STEP_MENTION = re.compile(
    r"\b(?:step|hypothesis)\s*(?:(?:#|number|no\.?)\s*)?(?:[:=]\s*)?(?:\*+\s*)?(\d+)\b|"
    r"\b(" + "|".join(_ORDINALS) + r")\s+(?:plan\s+)?(?:step|hypothesis)\b",
    re.I,
)
_ERROR_WORD = re.compile(
    r"(?<!not )(?<!n't )\b(?:wrong|incorrect|mistaken|mistake|error|erroneous|flawed|faulty|bug|buggy|"
    r"problem|issue|invalid|broken|misguided|fails|at fault|to blame)\b",
    re.I,
)
_PLAN_RIGHT = re.compile(
    r"\b(?:plan|hypothes[ie]s|steps?)\b[^.\n]{0,40}?\b(?:is|are|was|were|seems?|looks?)\s+(?:right|correct|fine|sound|"
    r"valid|ok(?:ay)?)\b|\bonly\s+(?:in\s+)?the\s+(?:code|implementation|patch)\b|"
    r"\bthe\s+(?:code|implementation|patch)\s+(?:is|was)\s+(?:wrong|incorrect|buggy)|"
    r"\bwrong_step\W{0,4}0\b|\bstep\s*0\b",
    re.I,
)
_REWRITE_LABEL = re.compile(
    r"^[ \t>*_#-]*(?:(?:rewritten|corrected|revised|new|fixed|updated|improved|correct)[ \t]+"
    r"(?:plan[ \t]+)?(?:step|hypothesis|version)|rewrite|correction|replacement|fix)\b[^:\n]{0,24}:[ \t*_]*"
    r"(?P<text>.*(?:\n(?![ \t]*\n)(?![ \t>*_#-]*(?:reason|explanation|why)\b).*)*)",
    re.I | re.M,
)
_REASON_LABEL = re.compile(
    r"^[ \t>*_#-]*(?:reason|explanation|why|rationale)\b[^:\n]{0,12}:[ \t*_]*(?P<text>.+)", re.I | re.M
)
_KEY_VALUE_LINE = re.compile(r"^[ \t>*_#-]*([A-Za-z][\w \-]{0,30}?)[ \t*_]*[:=][ \t]*(.*)$", re.M)
_STEP_KEY_WORDS = ("step", "hypothesis", "wrong", "mistake", "error", "incorrect", "faulty")
_REWRITE_KEY_WORDS = ("rewrite", "rewritten", "correct", "revis", "new", "fix", "replac", "updat", "improv")
_BLAME_KEY_WORDS = ("incorrect", "wrong", "mistake", "error", "faulty")
_REASON_KEY_WORDS = ("reason", "explan", "why", "rational", "justif", "analysis", "diagnos", "because", "comment")


def _parse_rethink(text: str, steps: int, instructions: str = "", thoughts: list[str] | None = None) -> Parsed:
    """(index of the wrong step or None, its rewrite, the reason) from a rethink reply: the JSON object
    asked for, with any reasonable key names, or prose that names the wrong step and labels its rewrite.
    A rewrite that mostly repeats ``instructions`` (the prompt's own words) or the step it replaces
    (``thoughts``) is no rewrite: the reply is unusable."""
    parsed = _read_rethink(text, steps)
    if parsed.ok and parsed.value[0] is not None:
        rewrite = parsed.value[1]
        if _copied(rewrite, instructions):
            return Parsed.failure("the rewrite repeats the instructions instead of correcting the step")
        if thoughts and _words(rewrite) == _words(thoughts[parsed.value[0]]):
            return Parsed.failure("the rewrite is the step unchanged")
    return parsed


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _copied(text: str, source: str, n: int = 4, share: float = 0.5) -> bool:
    """Whether at least ``share`` of ``text``'s word ``n``-grams occur in ``source``."""
    words, known = _words(text), _words(source)
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return False
    source_grams = {tuple(known[i:i + n]) for i in range(len(known) - n + 1)}
    return sum(g in source_grams for g in grams) >= share * len(grams)


def _read_rethink(text: str, steps: int) -> Parsed:
    first_failure = None
    for value, _ in json_values(text):
        candidates = [value] if isinstance(value, dict) else \
            [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
        for candidate in candidates:
            parsed = _rethink_from_object(candidate, steps)
            if parsed.ok:
                return parsed
            first_failure = first_failure or parsed
    fields = {m.group(1).strip(): _tidy(m.group(2)) for m in _KEY_VALUE_LINE.finditer(text)}
    if {re.sub(r"[\s\-]+", "_", k.lower()) for k in fields} & {"wrong_step", "rewrite"}:  # wrong_step: 2 (YAML-like)
        parsed = _rethink_from_object(fields, steps)
        if parsed.ok:
            return parsed
        first_failure = first_failure or parsed
    parsed = _rethink_from_prose(text, steps)
    if parsed.ok or first_failure is None:
        return parsed
    return first_failure


def _rethink_from_object(value: dict, steps: int, depth: int = 0) -> Parsed:
    fields = {re.sub(r"[\s\-]+", "_", str(k).strip().lower()): v for k, v in value.items()}
    texts = [k for k, v in fields.items() if isinstance(v, (str, list))]
    rewrite_key = "rewrite" if "rewrite" in texts else next(
        (k for k in texts if any(w in k for w in _REWRITE_KEY_WORDS) and not any(w in k for w in _BLAME_KEY_WORDS)), None)
    step_key = "wrong_step" if "wrong_step" in fields else next(
        (k for k, v in fields.items() if k != rewrite_key and any(w in k for w in _STEP_KEY_WORDS)
         and not isinstance(v, (dict, list))), None)
    reason_key = "reason" if "reason" in texts else next(
        (k for k in texts if k not in (rewrite_key, step_key) and any(w in k for w in _REASON_KEY_WORDS)), None)
    rewrite = _text_of(fields.get(rewrite_key))
    reason = _text_of(fields.get(reason_key))
    if step_key is None and depth < 2:  # {"answer": {"wrong_step": 2, ...}}
        for inner in fields.values():
            if isinstance(inner, dict):
                parsed = _rethink_from_object(inner, steps, depth + 1)
                if parsed.ok:
                    return parsed
    if step_key is None:
        if not rewrite and not reason:
            return Parsed.failure('expected a JSON object with "wrong_step", "rewrite" and "reason"')
        if rewrite and steps != 1:
            return Parsed.failure("say which step is wrong in wrong_step (its number, or 0 if only the code is wrong)")
        step = 1 if rewrite else 0
    else:
        step = _step_number(fields[step_key])
        if step is None:
            return Parsed.failure("wrong_step must be a step number or 0")
    return _rethink_result(step, rewrite, reason, steps)


def _rethink_from_prose(text: str, steps: int) -> Parsed:
    label = _REWRITE_LABEL.search(text)
    rewrite = _tidy(label.group("text")) if label else ""
    before = text[: label.start()] if label else text
    step = _named_step(before) if label else None
    if step is None:
        step = _named_step(text)
    if step is None and _PLAN_RIGHT.search(before):
        step = 0
    if step is None and rewrite and steps == 1:
        step = 1
    if step is None:
        return Parsed.failure('name the wrong step: expected JSON like {"wrong_step": 2, "rewrite": "...", "reason": "..."}')
    reason_label = _REASON_LABEL.search(text)
    reason = _tidy(reason_label.group("text")) if reason_label else _first_sentence(before)
    return _rethink_result(step, rewrite, reason, steps)


def _rethink_result(step: int, rewrite: str, reason: str, steps: int) -> Parsed:
    if steps == 1 and step > 1 and rewrite:
        step = 1  # a plan of one step: any step it blames is that one
    if not 0 <= step <= steps:
        return Parsed.failure(f"wrong_step must be between 0 and {steps}")
    if step and not rewrite:
        return Parsed.failure("a wrong step needs its rewrite")
    return Parsed.success((step - 1 if step else None, rewrite, reason))


def _step_number(value: Any) -> int | None:
    """2, 2.0, "2", "step 2", "Step #2", "the second step" -> 2; null, false, "none", 0 -> 0."""
    if value is None or value is False:
        return 0
    if value is True:
        return None
    if isinstance(value, (int, float)):
        return int(value) if float(value).is_integer() else None
    if not isinstance(value, str):
        return None
    cleaned = value.strip().strip("*_`'\".").lower()
    if cleaned in _NO_STEP:
        return 0
    digits = re.search(r"-?\d+", cleaned)
    if digits:
        return int(digits.group())
    return next((number for word, number in _ORDINALS.items() if re.search(rf"\b{word}\b", cleaned)), None)


def _named_step(text: str) -> int | None:
    """The step a sentence blames: the step mention nearest to a word like "wrong" in its sentence."""
    for sentence in re.split(r"(?<=[.!?])\s+|\n", text):
        errors = [m.start() for m, _ in zip(_ERROR_WORD.finditer(sentence), range(50))]
        mentions = [(m.start(), int(m.group(1)) if m.group(1) else _ORDINALS[m.group(2).lower()])
                    for m, _ in zip(_STEP_MENTION.finditer(sentence), range(50))]
        if errors and mentions:
            return min(mentions, key=lambda m: min(abs(m[0] - e) for e in errors))[1]
    return None


def _text_of(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v).strip() for v in value if str(v).strip())
    return str(value).strip() if value is not None else ""


def _tidy(text: str) -> str:
    text = re.sub(r"(\*\*|__)", "", text).strip()
    return text.strip("\"'`“”").strip()


def _first_sentence(text: str) -> str:
    text = " ".join(re.sub(r"(\*\*|__)", "", text).split())
    match = re.match(r"(.{1,300}?[.!?])(?:\s|$)", text)
    return match.group(1) if match else text[:300]
