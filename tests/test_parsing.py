"""Parsing helpers: code, JSON, scores and strategies out of messy replies, failures as values.

The QWEN_* replies are verbatim answers of Qwen2.5-Coder-0.5B-Instruct (q4_k_m, through llama.cpp)
to the thought prompt (policies/prompts/thought.txt).
"""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treesearch.parsing import (
    Parsed,
    check_code,
    extract_code,
    extract_json,
    extract_score,
    extract_strategies,
    list_items,
    read_confidence,
)

SOLUTION = "def add(a, b):\n    return a + b"


@pytest.mark.parametrize(
    "reply",
    [
        f"Here you go:\n```python\n{SOLUTION}\n```\nIt adds.",
        f"```py\n{SOLUTION}\n```",
        f"```\n{SOLUTION}\n```",
        SOLUTION,  # plain code
        f"Here is the solution:\n{SOLUTION}\n",  # a line of prose, then plain code
        f"```python\n{SOLUTION}\n```\nUsage:\n```python\nprint(add(1, 2))\n```",  # example block after it
        f"```text\nadd adds\n```\n```python\n{SOLUTION}\n```",
        f"~~~python\n{SOLUTION}\n~~~",
    ],
)
def test_extract_code_finds_the_solution(reply):
    assert extract_code(reply, entry_point="add") == Parsed(ok=True, value=SOLUTION)


def test_extract_code_prefers_the_block_defining_the_entry_point_then_the_longest_then_the_last():
    helper = "def helper():\n    return 0"
    draft = "def add(a, b):\n    return a - b  # wrong"
    reply = f"```python\n{helper}\n```\n```python\n{SOLUTION}\n```\nRevised:\n```python\n{draft}\n```"
    assert extract_code(reply, entry_point="add").value == draft
    assert extract_code(f"```python\n{SOLUTION}\n```\n```python\n{SOLUTION}\n```").value == SOLUTION


def test_a_truncated_block_still_counts_when_it_parses():
    assert extract_code(f"```python\n{SOLUTION}\n", entry_point="add").value == SOLUTION


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("", "contains no code"),
        ("```javascript\nfunction add(a, b) { return a + b }\n```", "no Python code block: the reply has blocks tagged javascript"),
        ("```python\ndef add(a, b):\n    return (a +\n", "does not parse"),
        ("```python\ndef plus(a, b):\n    return a + b\n```", "does not define the function 'add'"),
        ("I cannot solve this.", "does not parse"),
    ],
)
def test_extract_code_failures_are_values(reply, error):
    parsed = extract_code(reply, entry_point="add")
    assert not parsed.ok and parsed.value is None and error in parsed.error


STUB = 'def add(a, b):\n    """Sum of a and b.\n\n    assert add(1, 2) == 3\n    """'


@pytest.mark.parametrize("body", ["", "\n    pass", "\n    ...", "\n    raise NotImplementedError", "\n    raise NotImplementedError()"])
def test_a_reply_that_repeats_the_stub_without_code_is_unusable(body):
    # Qwen2.5-Coder 0.5B, given an MBPP stub in a fence, wrote it back this way (Mbpp/234, /565).
    parsed = extract_code(f"```\npython\n{STUB}{body}\n```", entry_point="add")
    assert not parsed.ok and "the function 'add' has no body: the reply repeats the stub" in parsed.error


def test_a_stub_beside_the_solution_loses_to_it():
    reply = f"The stub:\n```python\n{STUB}\n```\nThe solution:\n```python\n{SOLUTION}\n```"
    assert extract_code(reply, entry_point="add").value == SOLUTION
    assert extract_code(f"```python\n{STUB}\n    return a + b\n```", entry_point="add").ok  # a docstring and code
    assert extract_code(f"```python\n{SOLUTION}\n\n{STUB}\n```", entry_point="add").error.startswith(
        "the function 'add' has no body")  # the stub's definition is the one Python keeps


def test_check_code_accepts_classes_and_assignments_as_entry_points():
    assert check_code("class Solution:\n    pass", "Solution").ok
    assert check_code("add = lambda a, b: a + b", "add").ok
    assert check_code("x = 1\0", None).error.startswith("the code does not parse")


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ('{"thoughts": ["a", "b"], "prior": 0.5}', {"thoughts": ["a", "b"], "prior": 0.5}),
        ('Sure!\n```json\n{"a": [1, 2,], "b": true,}\n```', {"a": [1, 2], "b": True}),
        ("Result: {'plan': 'sort first', 'ok': null} -- done", {"plan": "sort first", "ok": None}),
        ('The answer is [1, 2, 3]. Any questions?', [1, 2, 3]),
        ('noise {"text": "a } inside", "n": 1} tail', {"text": "a } inside", "n": 1}),
        ('{"wrong": "true stays a string", "flag": false}', {"wrong": "true stays a string", "flag": False}),
    ],
)
def test_extract_json_repairs_common_damage(reply, value):
    assert extract_json(reply) == Parsed(ok=True, value=value)


@pytest.mark.parametrize(
    ("reply", "error"),
    [("no json here", "contains no JSON"), ('{"a": ', "could not be read"), ("{'a': os.system('x')}", "could not be read")],
)
def test_extract_json_failures_are_values(reply, error):
    parsed = extract_json(reply)
    assert not parsed.ok and error in parsed.error


@pytest.mark.parametrize(
    ("reply", "scale", "score"),
    [
        ("Score: 7/10", None, 0.7),
        ("**Score**: 8 out of 10", None, 0.8),
        ("The code is fine.\nRating: 4 (out of 5)", None, 0.8),
        ("score of 80%", None, 0.8),
        ("Mostly right. 3/4", None, 0.75),
        ("8 out of 10", None, 0.8),
        ("0.8", None, 0.8),
        ("8", 10, 0.8),
        ("Score: 9", 10, 0.9),
        ("2/10 at first, but after the fix, Score: 9/10", None, 0.9),
    ],
)
def test_extract_score_normalises_to_the_unit_interval(reply, scale, score):
    parsed = extract_score(reply, scale=scale)
    assert parsed.ok and parsed.value == pytest.approx(score)


@pytest.mark.parametrize(
    ("reply", "scale", "error"),
    [
        ("The code looks wrong.", 10, "contains no score"),
        ("8", None, "outside [0, 1]"),
        ("Score: 12/10", None, "outside [0, 10]"),
        ("There are 3 bugs in it", 10, "contains no score"),
    ],
)
def test_extract_score_failures_are_values(reply, scale, error):
    parsed = extract_score(reply, scale=scale)
    assert not parsed.ok and error in parsed.error


# -- code without fences --

ADD = "def add(a, b):\n    return a + b"


@pytest.mark.parametrize(
    ("reply", "entry_point", "code"),
    [
        # several lines of prose before the code, an explanation after it
        (f"Sure! Here is my solution.\nIt adds the two numbers.\n\n{ADD}\n\nThis function returns the sum.", "add", ADD),
        ("Here is the program:\nn = int(input())\nprint(n * 2)\n\nIt reads n and prints twice n.", None,
         "n = int(input())\nprint(n * 2)"),
        (f"Solution:\n{ADD}", "add", ADD),
        (f"Here it is: ```python\n{ADD}\n```", "add", ADD),  # an opening fence that is not at a line start
        (f"# Approach: add them\n{ADD}", "add", f"# Approach: add them\n{ADD}"),
        # the solution, then an example after more prose: the solution defines the entry point
        (f"The idea is simple.\nimport sys\n\n{ADD}\n\nExample usage:\nprint(add(1, 2))\nThat prints 3.", "add",
         f"import sys\n\n{ADD}"),
    ],
)
def test_extract_code_finds_unfenced_code_between_prose(reply, entry_point, code):
    assert extract_code(reply, entry_point=entry_point) == Parsed(ok=True, value=code)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_the_readers_never_raise_on_any_text(text):
    for parsed in (extract_code(text, "f"), extract_json(text), extract_strategies(text), extract_score(text, 10)):
        assert isinstance(parsed, Parsed) and parsed.ok == (parsed.error == "")


# -- strategies --

SORT, HASH, BRUTE = "Sort the array, then walk two pointers inwards.", "Keep a hash map from value to index.", \
    "Try every pair with two nested loops."


def strategies_of(reply: str) -> list[tuple[str, float]]:
    parsed = extract_strategies(reply)
    assert parsed.ok, parsed.error
    return [(text, pytest.approx(confidence)) for text, confidence in parsed.value]


@pytest.mark.parametrize(
    "reply",
    [
        # what the prompt asks for
        json.dumps([{"strategy": HASH, "confidence": 0.8}, {"strategy": SORT, "confidence": 0.5}]),
        # the object-with-list shape real models answer with, under various keys and text fields
        json.dumps({"thoughts": [{"thought": HASH, "confidence": 0.8}, {"thought": SORT, "confidence": 0.5}],
                    "summary": "Two different ideas."}),
        json.dumps({"strategies": [{"description": HASH, "probability": "0.8"}, {"description": SORT, "probability": "50%"}]}),
        json.dumps({"plans": [{"plan": HASH, "prior": 80}, {"plan": SORT, "prior": 50}]}),
        json.dumps({"steps": [{"text": HASH, "score": "8/10"}, {"text": SORT, "score": 5}]}),
        json.dumps({"response": {"ideas": [{"idea": HASH, "confidence": "high"}, {"idea": SORT, "confidence": "medium"}]}}),
        json.dumps({"approaches": [{"approach": HASH, "confidence": 0.8}, {"approach": SORT, "confidence": 0.5}]}),
        # strings with a list of confidences beside them; [text, confidence] pairs; text -> confidence
        json.dumps({"strategies": [HASH, SORT], "confidences": [0.8, 0.5]}),
        json.dumps([[HASH, 0.8], [SORT, 0.5]]),
        json.dumps({HASH: 0.8, SORT: 0.5}),
        # numbered objects, fenced with chatter around, single quotes and trailing commas
        json.dumps({"strategy_1": {"strategy": HASH, "confidence": 0.8}, "strategy_2": {"strategy": SORT, "confidence": 0.5}}),
        f"Sure! Here you go:\n```json\n{{'thoughts': [{{'thought': '{HASH}', 'confidence': 0.8,}}, "
        f"{{'thought': '{SORT}', 'confidence': 0.5}},]}}\n```\nGood luck!",
    ],
)
def test_strategies_in_json_of_any_reasonable_shape(reply):
    assert strategies_of(reply) == [(HASH, 0.8), (SORT, 0.5)]


def test_strategy_names_get_their_description_and_details():
    reply = json.dumps([{"name": "Lookup", "description": HASH, "confidence": 0.8, "steps": ["build it", "look up"]},
                        {"title": "Two pointers", "confidence": 0.5}])
    assert strategies_of(reply) == [(f"Lookup: {HASH}\n- build it\n- look up", 0.8), ("Two pointers", 0.5)]


def test_json_cut_off_mid_reply_keeps_its_complete_strategies():
    reply = f'[{{"strategy": "{HASH}", "confidence": 0.8}}, {{"strategy": "{SORT}", "confidence": 0.5}}, {{"strategy": "Use a'
    assert strategies_of(reply) == [(HASH, 0.8), (SORT, 0.5)]
    assert strategies_of(f'["{HASH}", "{SORT}", "Try every') == [(HASH, 1.0), (SORT, 1.0)]


PROSE_REPLIES = {
    "numbered, bold titles, sub-bullets": f"""To solve this problem, we can consider several strategies. Here are three different approaches:

1. **Hash Map Approach**:
   - **Description**: {HASH}
   - **Confidence**: 0.8

2. **Two Pointers**:
   - **Description**: {SORT}
   - **Confidence**: 0.5

3. **Brute Force**:
   - **Description**: {BRUTE}
   - **Confidence**: 0.2

Each of these strategies has its own trade-offs. The hash map approach is the most efficient.
""",
    "numbered with parentheses and inline confidences": f"My ideas:\n1) {HASH} (confidence: 80%)\n"
                                                        f"2) {SORT} (confidence: 50%)\n3) {BRUTE} (Confidence: 0.2)\n",
    "step labels": f"Step 1: {HASH} Confidence: 0.8\nStep 2: {SORT} Confidence: 0.5\nStep 3: {BRUTE} Confidence: 0.2",
    "markdown headings with paragraphs": f"""### Approach 1: Hash map

{HASH}

Confidence: 0.8

### Approach 2: Two pointers

{SORT}

Confidence: 0.5

### Approach 3: Brute force

{BRUTE}

Confidence: 0.2

Overall I would go with the first one.""",
    "bullets, confidences on their own lines": f"- {HASH}\n  Confidence: 0.8\n- {SORT}\n  Confidence: 0.5\n"
                                                 f"- {BRUTE}\n  Confidence: 0.2\n\nAll three work.",
    "star bullets after an intro": f"Here are some strategies:\n\n* {HASH} (probability 0.8)\n* {SORT} (probability 0.5)\n"
                                   f"* {BRUTE} (probability 0.2)",
}


@pytest.mark.parametrize("name", PROSE_REPLIES)
def test_strategies_in_numbered_or_bulleted_prose(name):
    found = strategies_of(PROSE_REPLIES[name])
    assert [c for _, c in found] == [0.8, 0.5, 0.2]
    for (text, _), sentence in zip(found, (HASH, SORT, BRUTE), strict=True):
        assert sentence in text  # the intro, the confidence and the closing remarks are not part of it
        assert "onfidence" not in text and "trade-offs" not in text and "Overall" not in text and "All three" not in text


def test_numbered_titles_are_joined_to_their_description():
    assert strategies_of(PROSE_REPLIES["numbered, bold titles, sub-bullets"])[0] == (f"Hash Map Approach: {HASH}", 0.8)


def test_sub_points_stay_with_their_item_and_the_longest_numbered_list_wins():
    reply = (f"Strategies:\n1. {HASH}\n   1. Build the map.\n   2. Look up the complement.\n2. {SORT}\n3. {BRUTE}\n\n"
             "For the first one:\n1. Build.\n2. Look up.")
    assert [text for text, _ in strategies_of(reply)] == [f"{HASH}\n1. Build the map.\n2. Look up the complement.", SORT, BRUTE]


def test_real_model_prose_with_json_after_it_keeps_the_prose_descriptions():
    found = strategies_of(QWEN_PROSE_THEN_JSON)
    assert [c for _, c in found] == [0.7, 0.8, 0.9]
    assert found[0][0].startswith("Brute Force: This approach is simple") and found[2][0].startswith("Hash Map: ")


def test_real_model_steps_then_strategies_reads_the_strategies():
    found = strategies_of(QWEN_STEPS_THEN_STRATEGIES)
    assert [text.split(":")[0] for text, _ in found] == [
        "Using a Dictionary for Counting Occurrences", "Using a List for Building the Encoded String",
        "Using a Tuple for Building the Encoded String"]
    assert all("def rle_encode" not in text for text, _ in found)  # the code blocks are not part of them


def test_one_announced_strategy_told_in_steps_is_one_strategy():
    ((text, confidence),) = extract_strategies(QWEN_ONE_STRATEGY_IN_STEPS).value
    assert text.startswith("To solve the problem of checking") and "1. Use a Stack" in text and "3. Handle Edge Cases" in text
    assert "def is_balanced" not in text and "implementation" not in text
    assert confidence == 0.5  # "### Confidence:\n0.5", written after the code


def test_a_single_paragraph_is_one_strategy():
    reply = "I would iterate over the list once, keeping a running total of the positive numbers only."
    assert strategies_of(reply) == [(reply, 1.0)]
    assert strategies_of(f"{reply} Confidence: 70%") == [(reply, 0.7)]


@pytest.mark.parametrize(
    "reply",
    ["", "   ", "OK.", "Use recursion.", "I'm sorry, but I can't help with that request.", ADD, f"```python\n{ADD}\n```",
     '{"answer": 42}', "[0.8, 0.5]", '[{"strategy": "', "```json\n{}\n```"],
)
def test_no_strategies_is_a_failure_not_an_invention(reply):
    parsed = extract_strategies(reply)
    assert not parsed.ok and "no strategies" in parsed.error and "JSON list" in parsed.error


def test_duplicates_are_dropped_and_a_missing_confidence_gets_the_mean():
    reply = json.dumps([{"strategy": HASH, "confidence": 0.8}, {"strategy": SORT}, {"strategy": f"  {HASH} "},
                        {"strategy": BRUTE, "confidence": 0.4}])
    assert strategies_of(reply) == [(HASH, 0.8), (SORT, 0.6), (BRUTE, 0.4)]


@pytest.mark.parametrize(
    ("value", "confidence"),
    [(0.7, 0.7), (1, 1.0), (7, 0.7), (70, 0.7), ("0.7", 0.7), ("70%", 0.7), ("70 %", 0.7), ("7/10", 0.7),
     ("7 out of 10", 0.7), ("**0.7**", 0.7), ("high", 0.8), ("Very low", 0.1), ("moderate", 0.5), (0, 0.0)],
)
def test_read_confidence(value, confidence):
    assert read_confidence(value) == pytest.approx(confidence)


@pytest.mark.parametrize("value", [None, True, -0.5, 250, "unsure", "150%", "11/10", float("nan"), [0.5], {}])
def test_read_confidence_refuses_what_is_no_confidence(value):
    assert read_confidence(value) is None


def test_list_items_of_prose_without_a_list():
    assert list_items("Just a sentence.\nAnd another one.") == []


# -- strategies, generated: what a model means survives how it writes it

WORDS = st.text(string.ascii_lowercase, min_size=2, max_size=9)
SENTENCE = st.lists(WORDS, min_size=3, max_size=12).map(lambda words: " ".join(words).capitalize() + ".")
CONFIDENCE = st.integers(0, 100).map(lambda c: c / 100)
TEXT_KEYS = ("strategy", "thought", "description", "plan", "text", "idea", "approach")
CONFIDENCE_KEYS = ("confidence", "probability", "prior", "score")
LIST_KEYS = ("thoughts", "strategies", "plans", "steps", "ideas", "approaches", "options", "candidates")


@st.composite
def written_strategies(draw):
    """(strategies, a reply that writes them) in one of the shapes models use."""
    items = draw(st.lists(st.tuples(SENTENCE, CONFIDENCE), min_size=2, max_size=5,
                          unique_by=lambda item: item[0]))
    shape = draw(st.sampled_from(["list", "object", "numbered", "bulleted", "labelled"]))
    if shape in ("list", "object"):
        text_key, confidence_key = draw(st.sampled_from(TEXT_KEYS)), draw(st.sampled_from(CONFIDENCE_KEYS))
        as_written = draw(st.sampled_from(["number", "string", "percent"]))
        write = {"number": lambda c: c, "string": str, "percent": lambda c: f"{round(c * 100)}%"}[as_written]
        value = [{text_key: text, confidence_key: write(c)} for text, c in items]
        if shape == "object":
            value = {draw(st.sampled_from(LIST_KEYS)): value, "note": draw(SENTENCE)}
        reply = json.dumps(value, indent=draw(st.sampled_from([None, 2])))
        if draw(st.booleans()):
            reply = f"{draw(SENTENCE)}\n```json\n{reply}\n```\n{draw(SENTENCE)}"
        return items, reply
    marker = {"numbered": draw(st.sampled_from(["{}.", "{})", "({})", "**{}.**"])),
              "bulleted": draw(st.sampled_from(["-", "*", "•"])),
              "labelled": draw(st.sampled_from(["Step {}:", "Strategy {}:", "**Approach {}:**", "### Option {}:"]))}[shape]
    confidence = draw(st.sampled_from(["(confidence: {})", "Confidence: {}", "\n   - Confidence: {}"]))
    lines = [f"{marker.format(i)} {text} {confidence.format(c)}" for i, (text, c) in enumerate(items, 1)]
    intro = f"Here are {len(items)} different strategies:\n\n" if draw(st.booleans()) else ""
    outro = f"\n\n{draw(SENTENCE)}" if draw(st.booleans()) else ""
    return items, intro + draw(st.sampled_from(["\n", "\n\n"])).join(lines) + outro


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(written_strategies())
def test_strategies_survive_the_shape_they_are_written_in(case):
    items, reply = case
    parsed = extract_strategies(reply)
    assert parsed.ok, (parsed.error, reply)
    assert [text for text, _ in parsed.value] == [text for text, _ in items], reply
    assert [c for _, c in parsed.value] == pytest.approx([c for _, c in items], abs=0.006), reply


QWEN_PROSE_THEN_JSON = (
    'Here are three different strategies to solve the problem:\n'
    '\n'
    '1. **Brute Force**: This approach is simple and easy to understand. It iterates through all possible pairs of numbers in the list and checks if their sum equals the target. However, it is not efficient for large lists because it has a time complexity of O(n^2).\n'
    '\n'
    '2. **Two-Pointer Technique**: This approach is efficient and uses O(n) space. It uses two pointers, one starting from the beginning and one from the end of the list. By moving these pointers towards the center, it finds pairs that add up to the target. This is a linear search algorithm, which has a time complexity of O(n).\n'
    '\n'
    '3. **Hash Map**: This approach is efficient and uses O(1) space. It uses a dictionary to store numbers as keys and their indices as values. By iterating through the list, it checks if the complement of the current number exists in the dictionary. If it does, it means we have found a pair that adds up to the target. This is a two-pass hash map algorithm, which has a time complexity of O(n).\n'
    '\n'
    'The confidence of each strategy is as follows:\n'
    '- **Brute Force**: 0.7\n'
    '- **Two-Pointer Technique**: 0.8\n'
    '- **Hash Map**: 0.9\n'
    '\n'
    'So, the final answer is:\n'
    '\n'
    '```json\n'
    '[{"strategy": "Brute Force", "confidence": 0.7}, {"strategy": "Two-Pointer Technique", "confidence": 0.8}, {"strategy": "Hash Map", "confidence": 0.9}]\n'
    '```'
)
QWEN_ONE_STRATEGY_IN_STEPS = (
    'To solve the problem of checking if every bracket in a given string is closed by the matching bracket in the right order, we can use a combination of a stack data structure. The stack will help us keep track of unmatched opening brackets and ensure that they are properly closed in the correct order.\n'
    '\n'
    "Here's the proposed strategy:\n"
    '\n'
    "1. **Use a Stack**: We will use a stack to keep track of unmatched opening brackets. As we iterate through the string, we'll push each opening bracket onto the stack.\n"
    "2. **Check for Matches**: Whenever we encounter a closing bracket (either `)`, `]`, or `}`, we'll check if there is a corresponding opening bracket in the stack.\n"
    '3. **Handle Edge Cases**: If the stack is empty when we encounter a closing bracket, it means there is no corresponding opening bracket to match, and the string is unbalanced.\n'
    '\n'
    "Here's the implementation of the `is_balanced` function with this strategy:\n"
    '\n'
    '```python\n'
    'def is_balanced(s: str) -> bool:\n'
    '    stack = []\n'
    '    \n'
    '    for char in s:\n'
    "        if char == '(':\n"
    '            stack.append(char)\n'
    "        elif char == ')':\n"
    '            if not stack:\n'
    '                return False\n'
    '            stack.pop()\n'
    "        elif char == ']':\n"
    '            if not stack:\n'
    '                return False\n'
    '            stack.pop()\n'
    "        elif char == '}':\n"
    '            if not stack:\n'
    '                return False\n'
    '            stack.pop()\n'
    '    \n'
    '    return not stack\n'
    '\n'
    '# Test cases\n'
    "print(is_balanced('([]{})'))  # True\n"
    "print(is_balanced('(]'))    # False\n"
    "print(is_balanced(''))        # True\n"
    '```\n'
    '\n'
    '### Confidence:\n'
    '0.5\n'
    '\n'
    'This strategy is efficient because it uses a stack to keep track of unmatched opening brackets, and it ensures that each closing bracket is properly closed in the correct order. The time complexity is O(n), where n is the length of the string, and the space complexity is O(n) for the stack. The edge cases are handled by checking if the stack is empty at the beginning of the iteration, ensuring that the string is unbalanced.'
)
QWEN_STEPS_THEN_STRATEGIES = (
    "Let's analyze the problem step-by-step and propose different strategies to solve it:\n"
    '\n'
    '### Step-by-Step Solution:\n'
    '\n'
    '#### Step 1: Understand the Problem\n'
    '\n'
    'The function `rle_encode` takes a string `s` and encodes it by replacing repeated characters with their lengths followed by the character itself. The goal is to ensure that the encoded string is correct and handles edge cases properly.\n'
    '\n'
    '#### Step 2: Analyze the Requirements\n'
    '\n'
    '- Each run of a repeated character becomes the character followed by the length of the run.\n'
    '- The function should handle empty strings gracefully.\n'
    '- The function should handle non-alphabetic characters correctly.\n'
    '\n'
    '#### Step 3: Implement the Strategy\n'
    '\n'
    '1. **Count Occurrences**: First, count the occurrences of each character in the string using a dictionary.\n'
    '2. **Build the Encoded String**: For each character, check if it is the same as the previous one and if so, append the count of the previous character followed by the character itself to the result string.\n'
    '3. **Handle Edge Cases**: If the string is empty or contains only one character, directly return the string as is.\n'
    '\n'
    '#### Step 4: Confidence Calculation\n'
    '\n'
    '- **Count Occurrences**: The algorithm is straightforward, so its confidence is high.\n'
    '- **Building the Encoded String**: The algorithm is efficient, so its confidence is high.\n'
    '- **Handling Edge Cases**: The algorithm is robust and handles edge cases, so its confidence is high.\n'
    '\n'
    '### Proposed Strategies\n'
    '\n'
    '#### Strategy 1: Using a Dictionary for Counting Occurrences\n'
    'This strategy involves using a dictionary to store the count of each character in the string.\n'
    '\n'
    '```python\n'
    'def rle_encode(s: str) -> str:\n'
    '    count = {}\n'
    '    for char in s:\n'
    '        if char in count:\n'
    '            count[char] += 1\n'
    '        else:\n'
    '            count[char] = 1\n'
    '    encoded = []\n'
    '    for char, count in count.items():\n'
    '        if count == 1:\n'
    '            encoded.append(char)\n'
    '        else:\n'
    '            encoded.append(str(count) + char)\n'
    "    return ''.join(encoded)\n"
    '```\n'
    '\n'
    '#### Strategy 2: Using a List for Building the Encoded String\n'
    'This strategy involves using a list to store the characters and their counts.\n'
    '\n'
    '```python\n'
    'def rle_encode(s: str) -> str:\n'
    '    count = []\n'
    '    for char in s:\n'
    '        if char in count:\n'
    '            count[count.index(char)] += 1\n'
    '        else:\n'
    '            count.append([char, 1])\n'
    '    encoded = []\n'
    '    for char, count in count:\n'
    '        if count == 1:\n'
    '            encoded.append(char)\n'
    '        else:\n'
    '            encoded.append(str(count) + char)\n'
    "    return ''.join(encoded)\n"
    '```\n'
    '\n'
    '#### Strategy 3: Using a Tuple for Building the Encoded String\n'
    'This strategy involves using a tuple to store the characters and their counts.\n'
    '\n'
    '```python\n'
    'def rle_encode(s: str) -> str:\n'
    '    count = []\n'
    '    for char in s:\n'
    '        if char in count:\n'
    '            count[count.index(char)] += 1\n'
    '        else:\n'
    '            count.append([char, 1])\n'
    '    encoded = []\n'
    '    for char, count in count:\n'
    '        if count == 1:\n'
    '            encoded.append(char)\n'
    '        else:\n'
    '            encoded.append(str(count) + char)\n'
    "    return ''.join(encoded)\n"
    '```\n'
    '\n'
    '### Confidence Calculation\n'
    '\n'
    '- **Count Occurrences**: The algorithm is straightforward, so its confidence is high.\n'
    '- **Building the Encoded String**: The algorithm is efficient, so its confidence is high.\n'
    '- **Handling Edge Cases**: The algorithm is robust and handles edge cases, so its confidence is high.\n'
    '\n'
    'In summary, all strategies are correct and handle edge cases effectively. The third strategy, using a tuple for building the encoded string, is also high-quality and robust.'
)
