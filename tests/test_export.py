"""Tree export: checking tree documents, networkx, selection terms, ASCII, DOT/SVG, the HTML page and
the ``view`` command (the viewer's behaviour in a browser is in test_viewer_browser.py)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil

import orjson
import pytest

from tests.test_export_trees import generic_doc, grow_tree
from treesearch.export import dot as dot_module
from treesearch.export.ascii import tree_to_ascii
from treesearch.export.dot import GraphvizMissing, render_image, tree_to_dot
from treesearch.export.graph import (
    TreeDocumentError,
    check_tree_document,
    document_to_networkx,
    load_run,
    selection_terms,
)
from treesearch.export.html import render_html, write_viewer
from treesearch.export.tree_json import save_tree, tree_to_dict
from treesearch.export.view import add_view_parser
from treesearch.tree import SelectionConfig

HAS_DOT = shutil.which("dot") is not None


@pytest.fixture(scope="module")
def tree():
    return grow_tree(40, seed=1)


@pytest.fixture(scope="module")
def doc(tree):
    return tree_to_dict(tree)


def make_run(tmp_path, tree, name="run"):
    run = tmp_path / name
    save_tree(tree, run)
    (run / "config.json").write_bytes(orjson.dumps({"search": {"selection": dataclasses.asdict(tree.selection)},
                                                    "model": "fake", "strategy": "mcts"}))
    return run


def inline_data(page: str) -> dict:
    match = re.search(r'<script id="treesearch-data" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


# ---------------------------------------------------------------------- the tree document
def test_document_graph_matches_the_live_tree(tree, doc):
    live, loaded = tree.as_networkx(), document_to_networkx(doc)
    assert set(loaded.nodes) == set(live.nodes) == set(tree.nodes())
    assert set(loaded.edges) == set(live.edges)
    for node in tree.nodes():
        for key in ("visits", "q_mean", "q_max", "prior", "depth", "superseded", "terminal"):
            assert loaded.nodes[node][key] == live.nodes[node][key]
        assert loaded.nodes[node]["kind"] == live.nodes[node]["payload"].kind
    assert loaded.graph["root"] == 0 and loaded.graph["best_path"] == tree.best_path()


def test_check_derives_parents_and_order_of_a_generic_tree():
    checked = check_tree_document(generic_doc())
    by_id = {n["id"]: n for n in checked["nodes"]}
    assert checked["root"] == 10
    assert [n["id"] for n in checked["nodes"]] == [10, 11, 13, 12]  # pre-order, siblings in list order
    assert by_id[13]["parent"] == 11 and by_id[12]["children"] == []
    graph = document_to_networkx(generic_doc())
    assert sorted(graph.edges) == [(10, 11), (10, 12), (11, 13)]


@pytest.mark.parametrize("doc, message", [
    ([], "is not a JSON object"),
    ({"nodes": []}, "no 'nodes' list"),
    ({"nodes": [{"parent": None}]}, "integer 'id'"),
    ({"nodes": [{"id": True, "parent": None}]}, "integer 'id'"),
    ({"nodes": [{"id": 0, "parent": None}, {"id": 0, "parent": None}]}, "appears twice"),
    ({"nodes": [{"id": 0, "parent": None}, {"id": 1, "parent": 7}]}, "unknown parent 7"),
    ({"nodes": [{"id": 0, "parent": None}, {"id": 1, "parent": None}]}, "exactly one root"),
    ({"nodes": [{"id": 0, "parent": None}, {"id": 1, "parent": 2}, {"id": 2, "parent": 1}]}, "not connected to the root"),
    ({"nodes": [{"id": 0, "children": [1]}, {"id": 1, "parent": 0, "children": [5]}]}, "unknown child 5"),
    ({"nodes": [{"id": 0, "children": [1, 2]}, {"id": 1, "children": [2]}, {"id": 2}]}, "child of two nodes"),
    ({"nodes": [{"id": 0, "parent": None, "children": [1]}, {"id": 1, "parent": 2}, {"id": 2, "parent": 0}]},
     "names parent 2 but node 0 lists it"),
    ({"root": 1, "nodes": [{"id": 0, "parent": None}, {"id": 1, "parent": 0}]}, "names root 1"),
])
def test_check_rejects_malformed_documents(doc, message):
    with pytest.raises(TreeDocumentError, match=re.escape(message)):
        check_tree_document(doc)


@pytest.mark.parametrize("rule", ["pucb", "puct", "uct"])
def test_selection_terms_are_the_engines(tree, doc, rule, monkeypatch):
    """Terms rebuilt from the document by the core's kernel equal the live tree's score_terms
    (the grown tree has reserved slots and superseded children, so rows are renumbered)."""
    selection = SelectionConfig(rule=rule, q_mode="mean")
    monkeypatch.setattr(tree, "selection", selection)
    terms = selection_terms(doc, selection)
    checked = 0
    for node in tree.nodes():
        for live in tree.score_terms(node):
            got = terms[live["child"]]
            for key in ("q", "u", "score"):
                if live[key] is None:
                    assert got[key] is None
                elif live[key] == float("inf"):
                    assert got[key] == "inf"
                else:
                    assert got[key] == pytest.approx(live[key], rel=1e-6, abs=1e-9)
            checked += 1
    assert checked == len(tree.nodes()) - 1
    ranked = [t for t in terms.values() if t["rank"] == 1]
    assert ranked and all(t["score"] is not None for t in ranked)


def test_selection_terms_need_statistics():
    assert selection_terms(check_tree_document(generic_doc()), SelectionConfig()) == {}


# ---------------------------------------------------------------------- ASCII and DOT
def test_ascii_draws_every_node_under_its_parent(tree, doc):
    lines = tree_to_ascii(doc, width=100).splitlines()
    checked = check_tree_document(doc)
    assert len(lines) == len(tree.nodes())
    depth = {n["id"]: tree.stats(n["id"])["depth"] for n in checked["nodes"]}
    best = set(tree.best_path())
    for line, node in zip(lines, checked["nodes"]):
        head = re.match(r"^([ |`-]*)#(\d+) (\w+)", line)
        assert int(head.group(2)) == node["id"] and head.group(3) == node["kind"]
        assert len(head.group(1)) == 4 * depth[node["id"]]
        assert line.endswith(" *") == (node["id"] in best)
        assert ("superseded" in line.split("  ")[-1]) == node["superseded"]
    assert len(tree_to_ascii(doc, max_depth=1).splitlines()) == 1 + len(tree.children(0))


def test_dot_has_every_node_and_edge_with_the_best_path_marked(tree, doc):
    text = tree_to_dot(doc)
    nodes = re.findall(r"^  (\d+) \[", text, re.M)
    edges = re.findall(r"^  (\d+) -> (\d+)(.*);$", text, re.M)
    assert sorted(map(int, nodes)) == sorted(tree.nodes())
    assert {(int(a), int(b)) for a, b, _ in edges} == {(tree.parent(n), n) for n in tree.nodes() if n}
    best = tree.best_path()
    gold = {(int(a), int(b)) for a, b, attrs in edges if "penwidth" in attrs}
    assert gold == set(zip(best, best[1:]))


def test_dot_escapes_quotes_backslashes_and_newlines():
    doc = {"nodes": [{"id": 0, "parent": None, "kind": "thought", "payload": {"text": 'say "hi" \\ then\nleave'}}]}
    text = tree_to_dot(doc)
    assert '\\"hi\\"' in text and "\\\\ then" in text and "\nleave" not in text


@pytest.mark.skipif(not HAS_DOT, reason="the Graphviz 'dot' program is not installed")
def test_svg_and_png_are_drawn_by_graphviz(doc):
    svg = render_image(doc, "svg").decode()
    assert svg.count('class="node"') == len(doc["nodes"])
    assert render_image(doc, "png").startswith(b"\x89PNG")
    generic = render_image(generic_doc(), "svg").decode()
    assert generic.count('class="node"') == 4


def test_image_without_graphviz_says_how_to_get_it(doc, monkeypatch):
    monkeypatch.setattr(dot_module.shutil, "which", lambda name: None)
    with pytest.raises(GraphvizMissing, match="apt-get install graphviz"):
        render_image(doc, "svg")


# ---------------------------------------------------------------------- the HTML page
def test_page_is_self_contained_and_holds_the_data(tree, doc):
    page = render_html(doc, tree.events, tree.selection)
    data = inline_data(page)
    assert data["tree"] == json.loads(orjson.dumps(check_tree_document(doc), option=orjson.OPT_NON_STR_KEYS))
    assert len(data["events"]) == len(tree.events) and set(data["terms"]) == {str(n) for n in tree.nodes() if n}
    # Programs in the data contain "</script>": escaped, it cannot close the data element early.
    assert any("</script>" in (n["payload"] or {}).get("code", "") for n in doc["nodes"])
    assert page.count("</script>") == 2
    outside_data = page.replace(re.search(r'(?s)<script id="treesearch-data".*?</script>', page).group(0), "")
    assert not re.search(r"https?:|//[a-z]|\bsrc=|<link|@import|url\(", outside_data)
    assert "default-src 'none'" in page


def test_page_of_a_generic_tree(tmp_path):
    page = render_html(generic_doc(), title="an archive <of agents>")
    assert "<title>an archive &lt;of agents&gt; — treesearch</title>" in page
    data = inline_data(page)
    assert data["terms"] == {} and data["selection"] is None and data["events"] == []


def test_write_viewer_reads_the_run_directory(tmp_path, tree):
    run = make_run(tmp_path, tree)
    # A second search appended to the same log: only its events belong to this tree.json.
    with open(run / "events.jsonl", "ab") as log:
        log.write(b'{"seq": 0, "t": 0, "type": "start", "problem_id": "again"}\n{"seq": 1, "t": 0.1, "type": "stop"}\n')
    path = write_viewer(run)
    assert path == run / "tree.html"
    data = inline_data(path.read_text())
    assert [e["type"] for e in data["events"]] == ["start", "stop"]
    assert data["selection"]["rule"] == tree.selection.rule and data["terms"]
    assert data["run"]["config"]["model"] == "fake"


def test_load_run_reports_missing_and_malformed_files(tmp_path):
    with pytest.raises(TreeDocumentError, match="no run directory or tree file"):
        load_run(tmp_path / "nowhere")
    with pytest.raises(TreeDocumentError, match="no tree.json"):
        load_run(tmp_path)
    (tmp_path / "tree.json").write_text("{not json")
    with pytest.raises(TreeDocumentError, match="is not valid JSON"):
        load_run(tmp_path)


# ---------------------------------------------------------------------- the view command
def view(argv, capsysbinary):
    parser = argparse.ArgumentParser(prog="treesearch")
    add_view_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["view", *map(str, argv)])
    status = args.run(args)
    out, err = capsysbinary.readouterr()
    return status, out, err.decode()


def test_view_prints_text_formats(tmp_path, tree, capsysbinary):
    run = make_run(tmp_path, tree)
    status, out, _ = view([run, "--format", "ascii"], capsysbinary)
    assert status == 0 and len(out.decode().splitlines()) == len(tree.nodes())
    status, out, _ = view([run, "--format", "json"], capsysbinary)
    assert status == 0 and orjson.loads(out) == orjson.loads(orjson.dumps(check_tree_document(tree_to_dict(tree))))
    status, out, _ = view([run / "tree.json", "--format", "dot"], capsysbinary)
    assert status == 0 and out.startswith(b'digraph "search_tree"')


def test_view_writes_files(tmp_path, tree, capsysbinary):
    run = make_run(tmp_path, tree)
    status, out, _ = view([run], capsysbinary)
    assert status == 0 and out.decode().strip() == str(run / "tree.html") and (run / "tree.html").stat().st_size > 0
    status, out, _ = view([run, "--format", "ascii", "-o", tmp_path / "tree.txt"], capsysbinary)
    assert status == 0 and (tmp_path / "tree.txt").read_text().startswith("#0 root")
    if HAS_DOT:
        status, out, _ = view([run, "--format", "svg"], capsysbinary)
        assert status == 0 and (run / "tree.svg").read_text().count('class="node"') == len(tree.nodes())


@pytest.mark.parametrize("content, message", [
    (None, "no tree.json"),
    (b"{oops", "is not valid JSON"),
    (b'{"nodes": [{"id": 0}, {"id": 1}]}', "exactly one root"),
])
def test_view_fails_clearly_on_a_bad_run_directory(tmp_path, capsysbinary, content, message):
    if content is not None:
        (tmp_path / "tree.json").write_bytes(content)
    status, out, err = view([tmp_path, "--format", "ascii"], capsysbinary)
    assert status == 2 and out == b""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_view_without_graphviz_fails_clearly(tmp_path, tree, capsysbinary, monkeypatch):
    monkeypatch.setattr(dot_module.shutil, "which", lambda name: None)
    status, _, err = view([make_run(tmp_path, tree), "--format", "png"], capsysbinary)
    assert status == 2 and "Graphviz 'dot' program" in err
