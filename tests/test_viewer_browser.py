"""The HTML viewer in a real headless browser (Debian's chromium, driven by Playwright).

The page of a real search run (the simulated coder on an example problem) must load offline with no
console error and no request but its own file, draw every node, show a clicked program's code and
per-test feedback, and replay the search from its events; a 5,000-node tree must open and stay
usable (its load time is printed, and only checked against a generous bound).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from tests.test_export_trees import generic_doc, grow_tree
from treesearch.export.graph import load_run
from treesearch.export.html import write_viewer
from treesearch.export.tree_json import save_tree

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is in the dev extra")

CHROMIUM = "/usr/bin/chromium"
# The network is closed where the tests run: no first-run, update, sync or background traffic.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
# The design's example problem; the simulated coder rarely solves it at once, so the run has failing
# programs, debugging and rethinks to show.
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "problems" / "two_sum.json"
LOAD_BOUND_S = 60.0  # a sanity bound only; the measured time is printed

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                reason=f"{CHROMIUM} is missing (scripts/system-deps.sh installs Debian's chromium)")

WHITE = [255, 255, 255, 255]
NEXT_FRAME = "new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
PIXEL = """([x, y]) => {
  const canvas = document.getElementById("tree"), box = canvas.getBoundingClientRect(), dpr = devicePixelRatio;
  return Array.from(canvas.getContext("2d").getImageData(Math.round((x - box.left) * dpr), Math.round((y - box.top) * dpr), 1, 1).data);
}"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 850})
        yield context
        context.close()


@dataclasses.dataclass
class Viewer:
    page: object
    errors: list[str]
    requests: list[str]
    load_s: float

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)

    def drawn(self) -> int:
        self.js(NEXT_FRAME)
        return int(self.page.get_attribute("#tree", "data-drawn"))

    def position(self, node_id: int) -> dict:
        return self.js("(id) => window.treesearchViewer.pagePosition(id)", node_id)

    def pixel(self, x: float, y: float) -> list[int]:
        """RGBA of the canvas at a page position."""
        self.js(NEXT_FRAME)
        return self.js(PIXEL, [x, y])

    def reset(self) -> None:
        """The state a page opens in: the final tree, all of it in view, nothing selected."""
        self.js("""() => { const v = window.treesearchViewer; v.setStep(v.lastStep); v.app.select(-1); v.app.tree.fit(); }""")
        self.js(NEXT_FRAME)


def open_viewer(browser, path: Path) -> Viewer:
    page = browser.new_page()
    errors, requests = [], []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    started = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=int(LOAD_BOUND_S * 1000))
    return Viewer(page, errors, requests, time.perf_counter() - started)


def grown_run(directory: Path, nodes: int, **shape) -> Path:
    tree = grow_tree(nodes, seed=3, **shape)
    save_tree(tree, directory)
    (directory / "config.json").write_bytes(orjson.dumps({"search": {"selection": dataclasses.asdict(tree.selection)}}))
    write_viewer(directory)
    return directory


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    """A search by the simulated coder on an example problem, with its viewer."""
    from treesearch.api import search

    run = tmp_path_factory.mktemp("real") / "run"
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(search, EXAMPLE, model="sim", budget=12, out=run).result()
    write_viewer(run)
    return run


@pytest.fixture(scope="module")
def real_page(browser, real_run) -> Viewer:
    return open_viewer(browser, real_run / "tree.html")


# ---------------------------------------------------------------------- a real search run
def test_real_run_loads_offline_and_draws_every_node(real_page, real_run):
    tree = load_run(real_run).tree
    assert real_page.errors == []
    assert real_page.requests == [real_page.page.url]  # the page itself, nothing else
    assert real_page.drawn() == len(tree["nodes"])
    assert real_page.page.get_attribute("#shown", "data-shown") == str(len(tree["nodes"]))
    assert "model sim" in real_page.page.inner_text("#summary")


def test_clicking_a_code_node_shows_its_code_and_test_feedback(real_page, real_run):
    tree = load_run(real_run).tree
    programs = [n for n in tree["nodes"] if isinstance(n["payload"], dict) and (n["payload"].get("feedback") or {}).get("outcomes")]
    assert programs, "the run evaluated no program"
    # Prefer a failing program: its feedback shows expected against actual.
    node = min(programs, key=lambda n: (n["payload"]["passed_all"], n["id"]))
    real_page.reset()
    spot = real_page.position(node["id"])
    real_page.page.mouse.click(spot["x"], spot["y"])
    details = real_page.page.locator("#details")
    assert details.locator("h2").inner_text() == f"#{node['id']} {node['kind']}"
    assert details.locator("pre.code").text_content() == node["payload"]["code"]
    tests = node["payload"]["feedback"]["outcomes"]
    rows = details.locator("tr.test")
    assert rows.count() == len(tests)
    for k, test in enumerate(tests):
        assert rows.nth(k).locator("td.mark").inner_text() == ("✓" if test["passed"] else "✗")
    assert details.locator("pre.code span.tok-keyword").first.inner_text() in ("def", "import", "from", "class")
    assert real_page.errors == []


def test_replay_slider_changes_what_is_shown(real_page, real_run):
    real_page.reset()
    files = load_run(real_run)
    events, total = files.events, len(files.tree["nodes"])
    code = next(n for n in files.tree["nodes"] if n["kind"] in ("code", "debug", "rethink"))
    spot = real_page.position(code["id"])
    slider = real_page.page.locator("#step")
    slider.focus()
    slider.press("End")
    assert real_page.drawn() == total
    assert real_page.pixel(spot["x"], spot["y"]) != WHITE
    slider.press("Home")
    assert real_page.page.get_attribute("#shown", "data-shown") == "1" and real_page.drawn() == 1
    assert real_page.pixel(spot["x"], spot["y"]) == WHITE
    # Half way: exactly the root and the nodes added by the events before that step.
    half = len(events) // 2
    for _ in range(half):
        slider.press("ArrowRight")
    added = 1 + sum(len(e["nodes"]) for e in events[:half] if e["type"] == "add")
    assert slider.input_value() == str(half)
    assert real_page.drawn() == added
    assert real_page.page.inner_text("#step-label").startswith(f"step {half} of {len(events)}")
    slider.press("End")
    assert real_page.drawn() == total and real_page.errors == []


def test_replay_ends_with_the_saved_statistics(real_page, real_run):
    """Replaying every event rebuilds the visits and values that tree.json holds."""
    tree = load_run(real_run).tree
    replayed = real_page.js("() => window.treesearchViewer.replayedStats(window.treesearchViewer.lastStep)")
    for node in tree["nodes"]:
        got = replayed[str(node["id"])]
        assert got["exists"] and got["visits"] == node["visits"], node["id"]
        assert got["superseded"] == node["superseded"]
        for key in ("q_mean", "q_max"):
            assert got[key] == pytest.approx(node[key], abs=1e-6) if node[key] is not None else got[key] is None


# ---------------------------------------------------------------------- searching, filtering, layout
@pytest.fixture(scope="module")
def small_page(browser, tmp_path_factory) -> Viewer:
    return open_viewer(browser, grown_run(tmp_path_factory.mktemp("small"), 40) / "tree.html")


def test_search_marks_matches_and_enter_selects_them(small_page):
    page = small_page.page
    small_page.reset()
    page.fill("#search", "attempt 3)")
    assert page.inner_text("#search-count") == "1 match"
    page.press("#search", "Enter")
    assert "(attempt 3)" in page.inner_text("#details pre.code")
    page.fill("#search", "#0")
    page.press("#search", "Enter")
    assert page.inner_text("#details h2") == "#0 root"
    page.fill("#search", "")


def test_kind_filter_dims_the_unchecked_kind(small_page):
    page = small_page.page
    small_page.reset()
    app = "window.treesearchViewer.app"
    # A leaf: nothing is drawn below its centre but itself.
    leaf, kind = small_page.js(f"""() => {{
      const m = {app}.model, i = m.nodes.findIndex((n) => !n.children.length && !n.superseded);
      return [m.nodes[i].id, m.kind[i]];
    }}""")
    spot = small_page.position(leaf)
    below = (spot["x"], spot["y"] + small_page.js(f"() => {app}.tree.radius()") / 2)
    shown = small_page.pixel(*below)
    page.uncheck(f"input[data-kind='{kind}']")
    dimmed = small_page.pixel(*below)
    page.check(f"input[data-kind='{kind}']")
    assert small_page.pixel(*below) == shown
    assert sum(dimmed[:3]) > sum(shown[:3]) + 60  # much paler: 15% opacity over white
    page.select_option("#status-filter", "superseded")
    assert small_page.pixel(*below) == dimmed
    page.select_option("#status-filter", "all")


def test_tidy_layout_keeps_siblings_apart_and_parents_centred(small_page):
    violations = small_page.js("""() => {
      const m = window.treesearchViewer.app.model, x = tidyLayout(m.children, m.root), bad = [];
      const rows = {};
      for (let i = 0; i < m.n; i++) (rows[m.depth[i]] ||= []).push(x[i]);
      for (const row of Object.values(rows)) {
        row.sort((a, b) => a - b);
        for (let k = 1; k < row.length; k++) if (row[k] - row[k - 1] < 1 - 1e-9) bad.push(`overlap at ${row[k]}`);
      }
      for (let i = 0; i < m.n; i++) {
        const c = m.children[i];
        if (!c.length) continue;
        if (Math.abs(x[i] - (x[c[0]] + x[c[c.length - 1]]) / 2) > 1e-9) bad.push(`node ${i} not centred`);
        for (let k = 1; k < c.length; k++) if (x[c[k]] <= x[c[k - 1]]) bad.push(`children of ${i} out of order`);
      }
      return bad;
    }""")
    assert violations == []


def test_any_tree_in_the_schema_is_shown_generically(browser, tmp_path):
    """A tree that is not a search (an archive of agents, a trajectory): no statistics, no events,
    unknown kinds and payload fields."""
    (tmp_path / "tree.json").write_bytes(orjson.dumps(generic_doc()))
    viewer = open_viewer(browser, write_viewer(tmp_path))
    assert viewer.errors == [] and viewer.drawn() == 4
    assert viewer.page.is_disabled("#step") and "nothing to replay" in viewer.page.inner_text("#step-label")
    assert viewer.page.locator("#kind-filters label").all_inner_texts() == ["agent (2)", "node (1)", "step (1)"]
    viewer.js("() => window.treesearchViewer.select(13)")
    details = viewer.page.locator("#details")
    assert details.locator("h2").inner_text() == "#13 step"
    assert "observation" in details.inner_text() and '{"ok":true}' in details.inner_text()
    viewer.js("() => window.treesearchViewer.select(11)")
    assert details.locator("span.tok-diff-add").inner_text() == "+b\n"
    assert viewer.errors == []


# ---------------------------------------------------------------------- a large tree
def test_five_thousand_nodes_open_and_stay_usable(browser, tmp_path, capsys):
    run = grown_run(tmp_path, 5000, thought_depth=5, width=5)
    total = len(load_run(run).tree["nodes"])
    assert total >= 5000
    viewer = open_viewer(browser, run / "tree.html")
    assert viewer.errors == [] and viewer.drawn() == total
    setup_ms = viewer.js("() => window.treesearchViewer.setupMs")
    redraw_ms = viewer.js("""() => {
      const tree = window.treesearchViewer.app.tree, started = performance.now();
      for (let k = 0; k < 10; k++) tree.draw();
      return (performance.now() - started) / 10;
    }""")
    with capsys.disabled():
        print(f"\n  viewer, {total} nodes, {(run / 'tree.html').stat().st_size / 1e6:.1f} MB page: "
              f"loaded in {viewer.load_s:.2f} s (parse + layout + first draw {setup_ms:.0f} ms), redraw {redraw_ms:.1f} ms")
    assert viewer.load_s < LOAD_BOUND_S
    # Usable: find a node by id, zoom to it, click it, replay the search to the middle.
    viewer.page.fill("#search", "#4321")
    viewer.page.press("#search", "Enter")
    spot = viewer.position(4321)
    viewer.page.mouse.click(spot["x"], spot["y"])
    assert viewer.page.inner_text("#details h2").startswith("#4321 ")
    last = viewer.js("() => window.treesearchViewer.lastStep")
    viewer.js("(k) => window.treesearchViewer.setStep(k)", last // 2)
    assert 1 < int(viewer.page.get_attribute("#shown", "data-shown")) < total
    assert viewer.errors == []
