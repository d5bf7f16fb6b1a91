"""SWE-bench instances: loading the 300 Lite instances, selecting with --ids / --limit, malformed
files named by field, the search view without the gold patch and tests, and unified diffs."""

from __future__ import annotations

import json

import pytest

from tests.repo_fixtures import CALC_CORE, WORDS, WORDS_MODULE
from treesearch.datasets import find_data_file
from treesearch.evaluation import select_problems
from treesearch.swebench.actions import Action, ActionError
from treesearch.swebench.patches import apply_hunks, is_test_path, parse_patch
from treesearch.swebench.problem import InstanceError, load_instances


def _lite_path():
    try:
        return find_data_file("SWE-bench_Lite-test.json")
    except Exception:  # noqa: BLE001 - any lookup failure means: skip
        return None


needs_lite = pytest.mark.skipif(_lite_path() is None, reason="SWE-bench Lite not found (set TREESEARCH_DATA)")


@needs_lite
def test_all_300_lite_instances_load_and_select():
    problems = load_instances(_lite_path())
    assert len(problems) == 300
    assert len({p.instance_id for p in problems}) == 300
    first = problems[0]
    assert first.instance_id == "django__django-15202" and first.repo == "django/django"
    assert first.fail_to_pass and all(isinstance(t, str) for t in first.fail_to_pass)  # decoded JSON strings
    assert all(p.patch.startswith("diff --git") and p.test_patch.startswith("diff --git") for p in problems)
    assert sum(len(p.pass_to_pass) for p in problems) > 1000
    chosen = select_problems(problems, ["sympy__sympy-20590", "astropy__astropy-12907"], None)
    assert [p.instance_id for p in chosen] == ["sympy__sympy-20590", "astropy__astropy-12907"]
    assert [p.instance_id for p in select_problems(problems, None, 3)] == [p.instance_id for p in problems[:3]]
    with pytest.raises(ValueError, match="unknown problem id"):
        select_problems(problems, ["nobody__nothing-1"], None)


@needs_lite
def test_the_search_view_hides_the_gold_patch_and_the_tests():
    problem = load_instances(_lite_path())[5]
    view = problem.search_view()
    assert view.patch == view.test_patch == "" and view.fail_to_pass == view.pass_to_pass == ()
    assert view.problem_statement == problem.problem_statement and view.base_commit == problem.base_commit
    assert problem.patch  # the original keeps it for the simulated coder and --local-eval


def _instance(**changes):
    data = {"instance_id": "o__r-1", "repo": "o/r", "base_commit": "a" * 40, "problem_statement": "it breaks",
            "FAIL_TO_PASS": '["t::a"]', "PASS_TO_PASS": "[]"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize("changes, field", [
    ({"repo": None}, "'repo'"),
    ({"repo": "just-a-name"}, "'repo'"),
    ({"base_commit": "not a sha"}, "'base_commit'"),
    ({"problem_statement": ""}, "'problem_statement'"),
    ({"FAIL_TO_PASS": "[not json"}, "'FAIL_TO_PASS'"),
    ({"PASS_TO_PASS": '{"a": 1}'}, "'PASS_TO_PASS'"),
    ({"patch": 3}, "'patch'"),
])
def test_malformed_instances_name_the_field(tmp_path, changes, field):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps([_instance(), _instance(instance_id="o__r-2", **changes)]))
    with pytest.raises(InstanceError) as error:
        load_instances(path)
    assert field in str(error.value) and "instance #1" in str(error.value) and str(path) in str(error.value)


def test_jsonl_files_duplicates_and_bad_lines(tmp_path):
    path = tmp_path / "instances.jsonl"
    path.write_text(json.dumps(_instance()) + "\n\n" + json.dumps(_instance(instance_id="o__r-2", FAIL_TO_PASS=["x"])) + "\n")
    problems = load_instances(path)
    assert [p.fail_to_pass for p in problems] == [("t::a",), ("x",)]  # a real list is accepted too
    path.write_text(json.dumps(_instance()) + "\n" + json.dumps(_instance()) + "\n")
    with pytest.raises(InstanceError, match="line 2: instance id 'o__r-1' appears twice"):
        load_instances(path)
    path.write_text(json.dumps(_instance()) + "\n{oops\n")
    with pytest.raises(InstanceError, match="line 2 is not valid JSON"):
        load_instances(path)
    with pytest.raises(InstanceError, match="expected a JSON list"):
        load_instances(tmp_path.joinpath("one.json").write_text("{}") and tmp_path / "one.json")


GOLD = """diff --git a/textutil/words.py b/textutil/words.py
index 9a0ba30..4c31bef 100644
--- a/textutil/words.py
+++ b/textutil/words.py
@@ -3,7 +3,7 @@
\x20
 def count_words(text):
     \"\"\"How many words text holds.\"\"\"
-    return len(text.split(" "))
+    return len(text.split())
\x20
\x20
 def first_word(text):
@@ -25,4 +25,4 @@ def longest_word(text):
\x20
 def capitalize_words(text):
     \"\"\"text with every word capitalized, words joined by one space.\"\"\"
-    return " ".join(word.capitalize() for word in text.split(" "))
+    return " ".join(word.capitalize() for word in text.split())
diff --git a/docs/new.md b/docs/new.md
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/docs/new.md
@@ -0,0 +1,2 @@
+# New
+text
"""


def test_patches_split_join_and_apply():
    files = parse_patch(GOLD)
    assert [f.path for f in files] == ["textutil/words.py", "docs/new.md"]
    assert files[1].old_path is None and len(files[0].hunks) == 2
    assert "".join(f.text for f in files) == GOLD
    fixed, added = apply_hunks(WORDS_MODULE, files[0].hunks)
    assert fixed == WORDS.fixed["textutil/words.py"]
    assert [fixed.splitlines()[n - 1].strip() for n in added] == [
        "return len(text.split())", 'return " ".join(word.capitalize() for word in text.split())']
    # a subset of the hunks applies too, the later one moved by what the earlier would have added
    only_second, added = apply_hunks(WORDS_MODULE, files[0].hunks[1:])
    assert 'text.split(" "))' in only_second and "for word in text.split())" in only_second and len(added) == 1
    assert apply_hunks("", files[1].hunks) == ("# New\ntext\n", [1, 2])
    with pytest.raises(ValueError, match="does not apply"):
        apply_hunks(CALC_CORE, files[0].hunks)


@needs_lite
def test_every_lite_patch_parses_back_to_itself():
    for problem in load_instances(_lite_path()):
        gold, tests = parse_patch(problem.patch), parse_patch(problem.test_patch)
        assert "".join(f.text for f in gold) == problem.patch and "".join(f.text for f in tests) == problem.test_patch
        assert not any(is_test_path(f.path) for f in gold) and all(is_test_path(f.path) for f in tests)


@pytest.mark.parametrize("path, is_test", [
    ("tests/test_core.py", True), ("pkg/tests/helpers.py", True), ("testing/util.py", True),
    ("pkg/test_thing.py", True), ("pkg/thing_test.py", True), ("conftest.py", True), ("pkg/tests.py", True),
    ("pkg/core.py", False), ("pkg/testsuite_runner.py", False), ("docs/testing.rst", False), ("latest/x.py", False),
])
def test_test_paths(path, is_test):
    assert is_test_path(path) is is_test


def test_actions_are_checked_field_by_field():
    assert Action.from_dict({"action": "view", "path": "a.py", "start": 3}).describe() == "view a.py"
    assert Action.from_dict({"action": "edit", "path": "a.py", "old": "x\n", "new": "y\nz\n"}).describe() == \
        "edit a.py (1 lines -> 2)"
    for bad, message in [
        ({"action": "delete", "path": "a"}, "unknown action 'delete'"),
        ({"action": "edit", "path": "a", "old": "x"}, "needs the field 'new'"),
        ({"action": "view", "path": "a", "start": 0}, "line number"),
        ({"action": "run", "command": " "}, "must not be empty"),
        ({"action": "submit", "patch": "x"}, "no field(s) 'patch'"),
        (["submit"], "JSON object"),
    ]:
        with pytest.raises(ActionError, match=message.replace("(", r"\(").replace(")", r"\)")):
            Action.from_dict(bad)
