"""quanta report: synthetic run directories of every kind -> one self-contained HTML file."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quanta.errors import QuantaError
from quanta.report import Options, build_report, render_report
from quanta.report import html as H
from quanta.report.sections import as_interval, overlaps, section_of, summary_rows, verdict_records
from quanta.store import Run

CALIBRATION = "calibrated on planted parity worlds: the test wrongly says inconsistent in 0% [0%, 22%] of true worlds"
NASTY = '<script>alert("x")</script> & <b>'  # code-like text that must come out escaped


# ---------------------------------------------------------------------------------------------- fixtures
def _figure(seed: int):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.0, 1.5))
    ax = fig.subplots()
    ax.plot(np.arange(5), np.random.default_rng(seed).random(5))
    return fig


def cluster_contexts(seed: int = 0) -> pd.DataFrame:
    """Like QDG's contexts.parquet: n_clusters, cluster, cluster_size, member_rank, doc, pos, the context."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in (4, 6):
        sizes = rng.permutation(np.arange(3, 3 + 7 * k, 7))[:k]
        for c, size in enumerate(sizes):
            for rank in rng.permutation(min(int(size), 12)):  # rows out of rank order on purpose
                tok = NASTY if (k == 6 and c == 0 and rank == 0) else f"tok{c}_{rank % 3}"
                rows.append((k, c, int(size), rank, 100 + c, rank + 1, f"ctx {k}/{c}/{rank} if a < b && c:\n\t", tok,
                             " -> after"))
    return pd.DataFrame(rows, columns=["n_clusters", "cluster", "cluster_size", "member_rank", "doc", "pos",
                                       "context_before", "token", "context_after"])


def make_runs(root: Path) -> dict[str, Path]:
    """One small complete run of every kind (plus an unfinished one and an unknown command)."""
    root = Path(root)
    paths = {}

    p = paths["theory"] = root / "theory"
    with Run.create(p, command="theory", config={"alpha": 0.4, "n_quanta": 50}, argv=["quanta", "theory"]) as r:
        rows = [(reg, float(x), float(x) ** -0.4, int(x) // 2, 0.4) for reg in ("n", "N") for x in (10, 100, 1000)]
        r.write_table("curves", pd.DataFrame(rows, columns=["regime", "x", "loss", "n_learned", "alpha"]))
        r.save_figure(_figure(0), "loss_vs_n")
        r.finish({"alpha": 0.4, "alpha_N_pred": 0.4, "alpha_N_sim": 0.4006, "alpha_N_sim_ci": [0.4002, 0.4011],
                  "alpha_D_pred": 0.2857, "alpha_D_sim": 0.284, "alpha_D_sim_ci": [0.28, 0.29],
                  "fits": {"N": {"alpha": 0.41, "r2": 0.99}, "D": {"alpha": 0.284, "r2": 0.98}}})

    p = paths["parity"] = root / "parity"
    with Run.create(p, command="parity run", config={"n_tasks": 8, "alpha": 0.4}, argv=["quanta", "parity"]) as r:
        pr = np.arange(1, 9) ** -1.4
        r.write_table("tasks", pd.DataFrame({"alpha": 0.4, "task": np.arange(8), "p": pr / pr.sum(),
                                             "bits": [[i, i + 1, i + 2] for i in range(8)]}))
        r.write_table("models", pd.DataFrame({"model": [0, 1, 2], "width": [10, 20, 40], "depth": 1,
                                              "n_params": [100, 200, 400], "seed": 0, "D": 0, "alpha": 0.4,
                                              "final_loss": [0.5, 0.3, 0.2]}))
        # 300 rows > the test's max_rows: only a preview is shown
        r.write_table("eval_mean", pd.DataFrame({"model": np.repeat([0, 1, 2], 100), "step": np.tile(np.arange(100), 3),
                                                 "loss": np.linspace(1, 0, 300)}))
        # a wide table, as `quanta parity analyze` writes its fits (18 columns, names and rules in text)
        r.write_table("fits", pd.DataFrame([{
            "alpha": 0.4, "fit": f"learn_step_p_{i}", "x_name": "n_params_nonembed", "y_name": "1/n_learned",
            "exponent": 0.493089 + i, "ci_lo": 0.466699, "ci_hi": 0.556835, "predicted": 0.4,
            "predicted_finite": 0.403505, "A": 1976.806754, "L_inf": 0.082061, "offset": True, "r2": 0.994043,
            "n_points": 10, "x_min": 1210.0, "x_max": 38658.0, "range_rule": "1 <= n_learned <= n_tasks-1",
            "ci_level": 0.9} for i in range(3)]))
        r.save_figure(_figure(1), "loss_vs_step")
        r.save_figure(_figure(2), "tasks")
        # a summary record with many fields (parity analyze's per_alpha)
        r.finish({"final_loss_min": 0.2, "n_models": 3,
                  "per_alpha": [{f"field_number_{i}": [0.1 * i, 0.2 * i] if i % 3 else 1e-3 * i for i in range(30)}]})

    p = paths["lm"] = root / "lm"
    with Run.create(p, command="lm analyze", config={"n_examples": 3}, argv=["quanta", "lm", "analyze"]) as r:
        rows = []
        for label in ("monogenic", "polygenic"):
            for rank in (2, 0, 1):  # out of order on purpose
                rows.append((label, rank, 7, 3 + rank, f"{label}-{rank}: x = y <", NASTY if rank == 0 else " z",
                             "\n", [1, 2], 0.5 + rank, [1e5, 1e6, 1e7], [6.0, 3.0 - rank, 0.1]))
        ex = pd.DataFrame(rows, columns=["label", "rank", "doc", "pos", "context_before", "token_text",
                                         "context_after", "token_ids", "score", "x", "losses"])
        # the other columns lm analyze writes (a long source path among them): a wide context table
        ex = ex.assign(token_id=7, token_index=123456, learning_size=1.5e6,
                       source="/usr/lib/python3.11/site-packages/some_package/a_rather_long_module_name.py")
        r.write_table("examples", ex)
        r.finish({"alpha_N": 0.083, "alpha_N_ci": [0.07, 0.095], "n_monogenic": 3})

    p = paths["losses"] = root / "losses"
    with Run.create(p, command="lm losses", config={}, argv=["quanta", "lm", "losses"]) as r:
        r.write_table("models", pd.DataFrame({"model": ["b", "a"], "n_params": [2000, 1000], "order": [1, 0]}))
        r.write_table("docs", pd.DataFrame({"doc": [0, 1], "source": ["a.py", "b.py"], "n_tokens": [40, 60]}))
        for part in range(2):
            r.write_table(f"losses/part-{part}", pd.DataFrame({"doc": part, "pos": np.arange(1, 51, dtype=np.int32),
                                                               "model": "a", "loss": np.ones(50, np.float32)}))
        r.finish({"n_tokens": 100})

    p = paths["qdg"] = root / "qdg"
    with Run.create(p, command="qdg", config={"n_tokens": 200}, argv=["quanta", "qdg"]) as r:
        r.write_table("contexts", cluster_contexts())
        r.finish({"n_clusters": 6, "slope": -1.2, "slope_ci": [-1.3, -1.1], "slope_ranks": "1\u20136",
                  "zipf_exponent_envelope": 1.67, "zipf_exponent_envelope_ranks": "1\u201326"})

    p = paths["falsify"] = root / "falsify"
    with Run.create(p, command="falsify", config={}, argv=["quanta", "falsify"]) as r:
        # one row per seed x draw with the 20 columns falsify writes: a table wider than the page unless compact
        r.write_table("replicates", pd.DataFrame([dict(
            seed=s, draw=d, model=9, n_clusters=12 + 7 * d, count_rule="stable_eigengap", exponent=1.203456,
            exponent_se=0.0861234, exponent_raw=1.31234, head=9, exponent_all_ranks=0.951234,
            envelope_exponent=1.431234, envelope_lo=1, envelope_hi=12 + 7 * d, gof_p=0.0123, plausible=False,
            preferred="lognormal", n_samples=1987, n_dropped=13, ari=0.681234, n_tasks_in_samples=41)
            for s in range(3) for d in range(3)]))
        r.finish({"alpha_N": 0.083, "alpha_N_ci": [0.07, 0.095], "zipf_pred": 1.083, "zipf_pred_ci": [1.07, 1.095],
                  "zipf_measured": 1.24, "zipf_measured_ci": [1.18, 1.30], "method": "mle", "overlap": False,
                  "verdict": "inconsistent", "n_clusters": 6, "zipf_envelope": 1.09,
                  "zipf_envelope_ci": [1.0, 1.2], "zipf_true": 1.4, "alpha_N_predicted_finite": 0.11,
                  "zipf_measured_ranks": "1\u2013r (the plausible head r: 5\u20139) in each of 9 replicates",
                  "zipf_envelope_ranks": "1\u2013k (the rule's count k: 12\u201353) in each of 9 replicates, their mean",
                  "calibration": CALIBRATION})

    p = paths["other"] = root / "other"
    with Run.create(p, command="demo", config={}, argv=["quanta", "demo"]) as r:
        r.finish({"note": NASTY})

    p = paths["unfinished"] = root / "unfinished"
    r = Run.create(p, command="qdg parity", config={}, argv=["quanta", "qdg", "parity"])
    r.write_json("partial", {})  # a run that wrote nothing would be removed on failure
    r.fail(RuntimeError("killed <by> test"))
    return paths


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def report_html(runs, tmp_path_factory):
    out = build_report(list(runs.values()), tmp_path_factory.mktemp("rep") / "r.html",
                       options=Options(max_rows=100, max_contexts=5))
    return out.read_text()


# ---------------------------------------------------------------------------------------------- a tiny DOM
class Node:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children, self.text_parts = tag, dict(attrs), parent, [], []

    def text(self) -> str:
        return "".join(c.text() if isinstance(c, Node) else c for c in self.children)

    def iter(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.iter()

    def find_all(self, tag=None, cls=None, **attrs):
        out = []
        for n in self.iter():
            if tag is not None and n.tag != tag:
                continue
            if cls is not None and cls not in (n.attrs.get("class") or "").split():
                continue
            if all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append(n)
        return out

    def by_id(self, ident):
        return next((n for n in self.iter() if n.attrs.get("id") == ident), None)


VOID = {"meta", "img", "br", "hr", "input", "link", "circle", "line", "polyline", "wbr"}


class TreeBuilder(HTMLParser):
    """Builds a tree and checks that every element is closed in order (well-formed output)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        assert self.cur.tag == tag, f"</{tag}> closes <{self.cur.tag}>"
        self.cur = self.cur.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse(text: str) -> Node:
    b = TreeBuilder()
    b.feed(text)
    b.close()
    assert b.cur is b.root, f"unclosed <{b.cur.tag}>"
    return b.root


def rows_of(table: Node) -> list[list[str]]:
    body = table.find_all("tbody")[0]
    return [[c.text() for c in tr.children if isinstance(c, Node)] for tr in body.find_all("tr")]


# ---------------------------------------------------------------------------------------------- tests
def test_report_is_one_self_contained_well_formed_file(runs, report_html):
    dom = parse(report_html)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", report_html)
    assert "<link" not in report_html and "@import" not in report_html
    imgs = dom.find_all("img")
    n_png = sum(len(list((p / "figures").glob("*.png"))) for p in runs.values())
    assert len(imgs) == n_png == 3
    inlined = {base64.b64decode(i.attrs["src"].split(",", 1)[1]) for i in imgs}
    on_disk = {f.read_bytes() for p in runs.values() for f in (p / "figures").glob("*.png")}
    assert inlined == on_disk
    # only the report's own two scripts; every run's text is escaped
    assert len(dom.find_all("script")) == 2
    assert 'alert("x")' not in report_html and "alert(&quot;x&quot;)" in report_html


def test_sections_follow_the_chain_and_every_run_is_there(runs, report_html):
    dom = parse(report_html)
    sections = [s.attrs["data-section"] for s in dom.find_all("section", cls="section")]
    assert sections == ["theory", "parity", "lm", "qdg", "falsify", "other"]
    articles = dom.find_all("article", cls="run")
    assert len(articles) == len(runs)
    assert [a.attrs["data-section"] for a in articles].count("lm") == 2
    # the overview table links to every run block
    links = [a.attrs["href"][1:] for a in dom.by_id("overview-table").find_all("a")]
    assert len(links) == len(runs) and all(dom.by_id(anchor) is not None for anchor in links)


def test_theory_predicted_against_simulated(runs, report_html):
    dom = parse(report_html)
    table = next(t for t in dom.find_all("table") if t.attrs.get("id", "").endswith("theory-exponents"))
    # an exact prediction has no interval: no "intervals overlap: no" for 0.4 against 0.4006 [0.4002, 0.4011],
    # the difference is the comparison, and the table says so
    assert [th.text() for th in table.find_all("thead")[0].find_all("th")] == ["quantity", "predicted", "simulated",
                                                                             "simulated interval",
                                                                             "simulated \u2212 predicted"]
    assert rows_of(table) == [["alpha_N", "0.4", "0.4006", "[0.4002, 0.4011]", "0.0006"],
                              ["alpha_D", "0.2857", "0.284", "[0.28, 0.29]", "-0.0017"]]
    assert "predictions are exact" in table.parent.parent.text()
    fits = next(t for t in dom.find_all("table") if t.attrs.get("id", "").endswith("theory-summary-fits"))
    assert rows_of(fits) == [["N", "0.41", "0.99"], ["D", "0.284", "0.98"]]


def test_section_of_commands():
    assert section_of("theory") == "theory"
    assert section_of("parity analyze") == "parity"
    assert section_of("qdg parity") == "qdg"
    assert section_of("lm train-suite") == "lm"
    assert section_of("demo") == section_of("") == section_of("other") == "other"


def test_unfinished_run_is_flagged(runs, report_html):
    dom = parse(report_html)
    art = next(a for a in dom.find_all("article") if "unfinished" in a.text())
    notes = art.find_all("p", cls="note")
    assert any("failed" in n.text() and "killed <by> test" in n.text() for n in notes)
    assert "killed &lt;by&gt; test" in report_html


def test_small_tables_whole_and_sortable_large_ones_previewed(runs, report_html):
    dom = parse(report_html)
    models = next(t for t in dom.find_all("table") if t.attrs.get("id", "").endswith("-t-models")
                  and "parity" in t.attrs["id"])
    assert "sortable" in models.attrs["class"].split()
    assert rows_of(models)[1][:2] == ["1", "20"] and len(rows_of(models)) == 3
    ev = next(t for t in dom.find_all("table") if t.attrs.get("id", "").endswith("-t-eval-mean"))
    assert len(rows_of(ev)) == 20 and "first 20 of 300 rows" in ev.text()
    # numeric cells carry their raw value for sorting; lists are shown compactly
    cells = ev.find_all("td", cls="num")
    assert cells and all(float(c.attrs["data-v"]) == float(c.attrs["data-v"]) for c in cells)
    tasks = next(t for t in dom.find_all("table") if t.attrs.get("id", "").endswith("-t-tasks"))
    assert rows_of(tasks)[0][3] == "[0, 1, 2]"
    # a folder of parquet parts is counted from the metadata
    assert re.search(r"losses/</code> <span class=\"mut\">100 rows, 2 parts", report_html)


def test_cluster_browser(runs, report_html):
    dom = parse(report_html)
    browser = dom.find_all("div", cls="browser")
    assert len(browser) == 1
    browser = browser[0]
    sel = browser.find_all("select")[0]
    opts = sel.find_all("option")
    assert [o.text() for o in opts] == ["4", "6"]
    assert [o.attrs["value"] for o in opts if "selected" in o.attrs] == ["6"]  # the run's own n_clusters
    df = cluster_contexts()
    for group in browser.find_all("div", cls="k-group"):
        k = int(group.attrs["data-k"])
        sub = df[df.n_clusters == k]
        clusters = group.find_all("details", cls="cluster")
        want = sub.groupby("cluster")["cluster_size"].max().sort_values(ascending=False, kind="stable")
        assert [int(c.attrs["data-cluster"]) for c in clusters] == want.index.tolist()
        assert [int(c.attrs["data-size"]) for c in clusters] == want.tolist()
        for c in clusters:
            cid = int(c.attrs["data-cluster"])
            rows = sub[sub.cluster == cid].sort_values("member_rank")
            items = c.find_all("li")
            assert len(items) == min(5, len(rows))
            for li, (_, row) in zip(items, rows.iterrows()):
                assert li.attrs["title"] == f"doc {row.doc}, pos {row.pos}"
                mark = li.find_all("mark")[0]
                assert mark.text() == row.token
                assert li.text().replace("\u21b5", "\n").replace("\u21e5", "\t") == (
                    row.context_before + row.token + row.context_after)
    # the nasty token is highlighted, escaped, and searchable by its text
    assert NASTY.lower() in browser.find_all("details", data_cluster="0")[-1].attrs["data-text"]


def test_lm_examples_note_says_when_no_monogenic_token_is_a_step(tmp_path):
    note = "no monogenic example is shown: none of the 3 monogenic tokens is a clean step (...)"
    with Run.create(tmp_path / "lm", command="lm analyze", config={}, argv=["quanta", "lm", "analyze"]) as r:
        r.write_table("examples", pd.DataFrame({"label": ["polygenic"], "rank": [0], "context_before": ["a"],
                                                "token_text": ["b"], "context_after": ["c"]}))
        r.finish({"n_monogenic": 3, "n_monogenic_steps": 0, "examples_note": note})
    dom = parse(render_report([tmp_path / "lm"]).html)
    notes = [p.text() for p in dom.find_all("p", cls="note")]
    assert note in notes


def test_lm_examples_grouped_by_label_in_rank_order_with_curves(runs, report_html):
    dom = parse(report_html)
    tables = [t for t in dom.find_all("table", cls="ctx-table")]
    assert len(tables) == 2
    for table, label in zip(tables, ("monogenic", "polygenic")):
        rows = rows_of(table)
        assert [r[0] for r in rows] == [label] * 3
        assert [r[3] for r in rows] == ["0", "1", "2"]  # rank column, sorted
        assert rows[0][1] == f"{label}-0: x = y <" + NASTY + "\u21b5"
        assert len(table.find_all("svg", cls="spark")) == 3
        head = [th.text() for th in table.find_all("th")]
        assert "token_ids" not in head and "x" not in head  # list columns are drawn or left to the raw table


def test_falsify_verdict_table(runs, report_html):
    dom = parse(report_html)
    verdict = dom.find_all("div", cls="verdict")
    assert len(verdict) == 1 and "bad" in verdict[0].attrs["class"]
    assert "inconsistent (method: mle)" in verdict[0].text()
    table = next(t for t in dom.find_all("table") if t.attrs.get("id", "").endswith("-verdict-0"))
    # the other estimates of the same exponent are compared with the prediction too (not deciding the verdict)
    # every measured exponent names the ranks it was fitted over (the envelope is a mean over replicates)
    assert rows_of(table) == [["zipf", "1.083", "[1.07, 1.095]", "1.24", "[1.18, 1.3]", "0.157", "no",
                               "1\u2013r (the plausible head r: 5\u20139) in each of 9 replicates"],
                              ["zipf_envelope", "1.083", "[1.07, 1.095]", "1.09", "[1, 1.2]", "0.007", "yes",
                               "1\u2013k (the rule's count k: 12\u201353) in each of 9 replicates, their mean"],
                              ["zipf_true", "1.083", "[1.07, 1.095]", "1.4", H.MISSING, "0.317", "no", H.MISSING]]
    inputs = dom.by_id(table.attrs["id"] + "-inputs")
    assert rows_of(inputs) == [["alpha_N", "0.083", "[0.07, 0.095]"], ["n_clusters", "6", H.MISSING],
                               ["alpha_N_predicted_finite", "0.11", H.MISSING]]
    # a verdict on the planted toy carries the finite-task caveat (with the run's own figures) and the test's
    # measured error rates, right under the verdict line
    after = verdict[0].parent.children[verdict[0].parent.children.index(verdict[0]) + 1:]
    notes = [n for n in after if isinstance(n, type(verdict[0])) and n.tag == "p" and "note" in n.attrs["class"]]
    assert len(notes) == 2
    assert "planted toy world" in notes[0].text() and "finite" in notes[0].text()
    assert "\u03b1_N = 0.11" in notes[0].text() and "planted \u03b1 = 0.4" in notes[0].text()
    assert "docs/falsify.md" in notes[0].text()
    assert notes[1].text() == f"How often this test is right: {CALIBRATION}."
    assert len(dom.find_all("svg", cls="ivl")) == 1


def test_verdict_records_are_found_robustly():
    flat = {"zipf_pred": 1.1, "zipf_measured": 1.2, "verdict": "consistent"}
    assert verdict_records(flat) == [("", flat)]
    nested = {"qdg": {"zipf_pred": 1.1, "overlap": True}, "methods": [{"method": "sae", "verdict": "x"}], "n": 3}
    assert [label for label, _ in verdict_records(nested)] == ["qdg", "sae"]
    assert verdict_records({"alpha": 0.4}) == []


def test_verdict_computed_from_intervals_when_not_stated():
    from quanta.report.sections import render_verdict

    text = render_verdict("m", {"zipf_pred": 1.08, "zipf_pred_ci": {"lo": 1.0, "hi": 1.2},
                                "zipf_measured": 1.15, "zipf_measured_ci": [1.1, 1.3]}, "v")
    dom = parse(text)
    v = dom.find_all("div", cls="verdict")[0]
    assert v.attrs["data-overlap"] == "True" and "intervals overlap" in v.text()
    # stated overlap wins, and a disagreement with the intervals is pointed out
    text = render_verdict("", {"zipf_pred": 1.08, "zipf_pred_ci": [1.0, 1.1], "zipf_measured": 1.5,
                               "zipf_measured_ci": [1.4, 1.6], "overlap": True, "verdict": "consistent"}, "w")
    assert 'data-overlap="True"' in text and "differs from the intervals" in text
    # a missing interval is shown as missing, not invented
    text = render_verdict("", {"zipf_pred": 1.08, "zipf_measured": None, "verdict": "undetermined"}, "u")
    assert rows_of(parse(text).by_id("u"))[0] == ["zipf", "1.08", H.MISSING, H.MISSING, H.MISSING]


def test_summary_rows_pair_intervals_flatten_and_tabulate():
    rows, records = summary_rows({"a": 1.5, "a_ci": [1.0, 2.0], "b": {"c": 2, "d_ci": [0, 1]},
                                  "fits": [{"regime": "N", "alpha": 0.4}, {"regime": "D", "alpha": 0.3}],
                                  "e_interval": {"low": 3, "high": 4}})
    assert rows == [("a", 1.5, "[1, 2]"), ("b.c", 2, None), ("b.d_ci", None, "[0, 1]"),
                    ("e_interval", None, "[3, 4]")]
    assert records[0][0] == "fits" and records[0][1].shape == (2, 2)
    _, records = summary_rows({"fits": {"N": {"alpha": 0.4, "alpha_ci": [0.3, 0.5]}, "D": {"alpha": 0.3}}})
    df = records[0][1]
    assert df["fits"].tolist() == ["N", "D"] and df["alpha"].tolist() == [0.4, 0.3]


def test_headline_puts_the_verdict_and_intervals_first():
    from quanta.report.sections import headline

    s = {"model": "m", "n_tokens": 200, "slope": -1.2, "slope_ci": [-1.3, -1.1], "verdict": "consistent",
         "ok": True}
    assert headline(s) == "verdict: consistent; slope = -1.2 [-1.3, -1.1]; n_tokens = 200"
    assert headline({"model": "m"}) == ""


def test_value_helpers():
    assert H.fmt_value(0.123456) == "0.1235" and H.fmt_value(np.float32("nan")) == H.MISSING
    assert H.fmt_value(True) == "yes" and H.fmt_value(list(range(20))).endswith("(20 in all)]")
    assert H.sort_key(np.int64(3)) == "3" and H.sort_key(float("inf")) == "" and H.sort_key("x") is None
    assert as_interval([1, 2]) == (1.0, 2.0) and as_interval({"lo": 1, "hi": 2}) == (1.0, 2.0)
    assert as_interval([1, "a"]) is None and as_interval([1, 2, 3]) is None and as_interval(True) is None
    assert overlaps((1, 2), (2, 3)) is True and overlaps((1, 2), (2.1, 3)) is False and overlaps(None, (1, 2)) is None
    c = H.context("a < b", "\n", "&")
    assert "<mark" in c and "&lt;" in c and "&amp;" in c and "\u21b5" in c
    long = H.context("x" * 500, "t", "y" * 500, max_before=10, max_after=5)
    assert long.count("\u2026") == 2 and "x" * 11 not in long and "y" * 6 not in long
    assert H.sparkline([1, 10], [2.0, float("nan")]) == "" and "<polyline" in H.sparkline([1, 10, 100], [3, 2, 1])


def test_errors_are_quanta_errors(tmp_path, runs):
    with pytest.raises(QuantaError, match="does not exist"):
        render_report([tmp_path / "missing"])
    with pytest.raises(QuantaError, match="not a quanta run directory"):
        render_report([tmp_path])
    (tmp_path / "f").write_text("x")
    with pytest.raises(QuantaError, match="is a file"):
        render_report([runs["theory"], tmp_path / "f"])
    with pytest.raises(QuantaError, match="no run directory"):
        render_report([])
    with pytest.raises(QuantaError, match="max_contexts"):
        Options(max_contexts=0)


def test_build_report_into_a_directory_and_duplicates_once(tmp_path, runs):
    out = build_report([runs["theory"], runs["theory"]], tmp_path)
    assert out == tmp_path / "report.html" and out.stat().st_mode & 0o777 == 0o644
    dom = parse(out.read_text())
    assert len(dom.find_all("article")) == 1


def test_cli_writes_a_run_directory(tmp_path, runs, cli_run):
    out = tmp_path / "rep"
    args = [runs["falsify"], runs["theory"], runs["qdg"], "--out", out, "--max-contexts", "5", "--max-rows", "100"]
    code, stdout, err = cli_run("report", *args)
    assert code == 0, err
    man = json.loads((out / "manifest.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert man["command"] == "report" and man["status"] == "complete"
    assert man["config"]["max_contexts"] == 5 and len(man["config"]["run_dirs"]) == 3
    assert summary["sections"] == ["theory", "qdg", "falsify"] and summary["n_runs"] == 3
    assert Path(summary["report"]) == (out / "report.html").resolve()
    assert summary["size_bytes"] == (out / "report.html").stat().st_size
    assert "sections: theory, qdg, falsify" in stdout
    # the CLI's page is the library's page (apart from the time stamp)
    lib = render_report([runs["falsify"], runs["theory"], runs["qdg"]],
                        options=Options(max_rows=100, max_contexts=5)).html
    stamp = re.compile(r"generated [0-9T:+-]+")
    assert stamp.sub("", lib) == stamp.sub("", (out / "report.html").read_text())
    # a finished report is not overwritten without --force
    code, _, err = cli_run("report", runs["theory"], "--out", out)
    assert code == 2 and "already holds a finished run" in err
    code, _, err = cli_run("report", runs["theory"], "--out", out, "--force")
    assert code == 0 and json.loads((out / "summary.json").read_text())["sections"] == ["theory"]


def test_rerun_over_a_glob_leaves_its_own_report_out(tmp_path, runs, cli_run):
    """`quanta report runs/* --out runs/report` run a second time: the glob names runs/report, which is skipped."""
    import shutil

    root = tmp_path / "runs"
    shutil.copytree(runs["theory"], root / "theory")
    code, _, err = cli_run("report", root / "theory", "--out", root / "report")
    assert code == 0, err
    first = (root / "report" / "report.html").read_text()
    again = sorted(root.iterdir())  # what the shell's runs/* gives now
    assert root / "report" in again
    code, _, err = cli_run("report", *again, "--out", root / "report")
    assert code == 2 and "already holds a finished run" in err and err.count("\n") == 1
    code, _, err = cli_run("report", *again, "--out", root / "report", "--force")
    assert code == 0, err
    summary = json.loads((root / "report" / "summary.json").read_text())
    assert summary["n_runs"] == 1 and [r["command"] for r in summary["runs"]] == ["theory"]
    stamp = re.compile(r"generated [0-9T:+-]+")
    assert stamp.sub("", first) == stamp.sub("", (root / "report" / "report.html").read_text())
    # only a report run is left out: another run given as --out is still refused
    code, _, err = cli_run("report", root / "theory", "--out", root / "theory", "--force")
    assert code == 2 and "overlaps" in err


@pytest.mark.parametrize("case", ["missing", "not_run", "inside_out", "out_inside", "no_dirs", "bad_option"])
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, runs, cli_run, case):
    out = tmp_path / "rep"
    args = {"missing": [tmp_path / "nope", "--out", out],
            "not_run": [runs["theory"], tmp_path, "--out", out],
            "inside_out": [runs["theory"], "--out", runs["theory"], "--force"],
            "out_inside": [runs["theory"], "--out", runs["theory"] / "rep"],
            "no_dirs": ["--out", out],
            "bad_option": [runs["theory"], "--out", out, "--max-contexts", "0"]}[case]
    code, _, err = cli_run("report", *args)
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and not (runs["theory"] / "rep").exists()
    assert (runs["theory"] / "summary.json").exists()


def test_pick_counts_spreads_and_keeps_the_default():
    from quanta.report.sections import pick_counts

    ks = [10, 20, 50, 100, 200, 400, 800, 1500]
    assert pick_counts(ks, 400, 8) == ks
    got = pick_counts(ks, 400, 3)
    assert len(got) == 3 and 400 in got and got == sorted(got) and set(got) <= set(ks)
    assert pick_counts(ks, 10, 2) == [10, 1500]


def test_cluster_browser_accepts_the_plain_column_names_and_caps_counts():
    from quanta.report.sections import Options as O
    from quanta.report.sections import cluster_browser
    from quanta.report.tables import context_columns

    df = cluster_contexts().rename(columns={"cluster_size": "size", "member_rank": "rank"})
    more = df[df.n_clusters == 4].assign(n_clusters=5)
    df = pd.concat([df, more], ignore_index=True)
    cols = context_columns(df.columns)
    assert (cols.size, cols.rank, cols.cluster) == ("size", "rank", "cluster")
    dom = parse(cluster_browser(df, cols, browser_id="b", opts=O(max_contexts=2, max_cluster_counts=2,
                                                                 max_clusters=3), default_k=5))
    assert [o.attrs["value"] for o in dom.find_all("option")] == ["5", "6"]
    assert "2 of the 3 counts" in dom.text()
    for g in dom.find_all("div", cls="k-group"):
        clusters = g.find_all("details", cls="cluster")
        assert len(clusters) == 3 and all(len(c.find_all("li")) == 2 for c in clusters)
        assert "Showing the 3 largest of" in g.text()
        sizes = [int(c.attrs["data-size"]) for c in clusters]
        assert sizes == sorted(sizes, reverse=True)
    assert context_columns(["token", "doc"]) is None  # a token column alone holds no context


def test_cluster_sizes_come_from_the_label_table_when_contexts_lack_them(tmp_path):
    # like `quanta qdg parity`: contexts hold only the 2 most central members, clusters.parquet every label
    labels = np.array([0] * 7 + [1] * 2 + [2] * 4)
    with Run.create(tmp_path / "q", command="qdg parity", config={}, argv=["quanta"]) as r:
        r.write_table("clusters", pd.DataFrame({"token": np.arange(13), "n_clusters": 3, "cluster": labels}))
        keep = [0, 1, 7, 8, 9, 10]
        r.write_table("contexts", pd.DataFrame({
            "n_clusters": 3, "cluster": labels[keep], "member_rank": [0, 1, 0, 1, 0, 1],
            "context_before": [f"task {t} | label " for t in keep], "token": ["1", "0"] * 3, "context_after": ""}))
        r.finish({"n_clusters": 3})
    dom = parse(render_report([tmp_path / "q"]).html)
    clusters = dom.find_all("details", cls="cluster")
    assert [(c.attrs["data-cluster"], c.attrs["data-size"]) for c in clusters] == [("0", "7"), ("2", "4"),
                                                                                 ("1", "2")]
    assert "size 7" in clusters[0].find_all("summary")[0].text()
    # without a label table the clusters are ranked by their rows, and the page says so
    (tmp_path / "q" / "clusters.parquet").unlink()
    summary = parse(render_report([tmp_path / "q"]).html).find_all("details", cls="cluster")[0].find_all("summary")
    assert "contexts 2" in summary[0].text()


def test_sizes_of_contexts_without_a_count_are_read_at_one_count(tmp_path):
    """A contexts table without n_clusters, beside a label table of a sweep: sizes at the run's count, not every
    count's rows added up."""
    with Run.create(tmp_path / "q", command="qdg", config={}, argv=["quanta"]) as r:
        r.write_table("clusters", pd.DataFrame({"token": np.r_[np.arange(4), np.arange(4)],
                                                "n_clusters": [2] * 4 + [3] * 4, "cluster": [0, 0, 0, 1, 0, 1, 2, 2]}))
        r.write_table("contexts", pd.DataFrame({"cluster": [0, 1], "token": ["a", "b"], "context_before": ["x", "y"],
                                                "context_after": ""}))
        r.finish({"n_clusters": 2})
    html = render_report([tmp_path / "q"]).html
    clusters = parse(html).find_all("details", cls="cluster")
    assert [(c.attrs["data-cluster"], c.attrs["data-size"]) for c in clusters] == [("0", "3"), ("1", "1")]
    # QDG marks the predicted token, an LM's SAE or activation parts the token read: each browser says which
    assert "the token each row&#x27;s loss predicts" in html or "the token each row's loss predicts" in html
    with Run.create(tmp_path / "s", command="parts sae", config={}, argv=["quanta"]) as r:
        r.write_table("contexts", pd.DataFrame({"part": [0], "token": ["a"], "context_before": ["x"],
                                                "context_after": ""}))
        r.finish({"method": "sae"})
    html = render_report([tmp_path / "s"]).html
    assert "the token at whose position the activation was read" in html and "loss predicts" not in html


def test_damaged_and_temporary_tables(tmp_path):
    with Run.create(tmp_path / "r", command="lm losses", config={}, argv=["quanta"]) as r:
        r.write_table("models", pd.DataFrame({"model": ["a"], "n_params": [10], "order": [0]}))
        r.write_table("big", pd.DataFrame({"i": np.arange(1000)}))
        r.finish({})
    (tmp_path / "r" / "models.parquet").write_bytes(b"PAR1 not really")  # damaged
    (tmp_path / "r" / ".big.x1.tmp.parquet").write_bytes(b"")  # left by a killed atomic write
    dom = parse(render_report([tmp_path / "r"], options=Options(max_rows=10, preview_rows=7)).html)
    tbls = [d for d in dom.find_all("details", cls="tbl")]
    assert [d.find_all("code")[0].text() for d in tbls] == ["big", "models"]
    assert "could not be read" in tbls[1].text()
    big = dom.by_id(next(t.attrs["id"] for t in dom.find_all("table") if t.attrs["id"].endswith("-t-big")))
    assert [r[0] for r in rows_of(big)] == [str(i) for i in range(7)]


def test_preview_reads_across_parts(tmp_path):
    from quanta.report.tables import list_tables

    (tmp_path / "losses").mkdir()
    for part in range(3):
        pd.DataFrame({"i": np.arange(5) + 5 * part}).to_parquet(tmp_path / "losses" / f"part-{part}.parquet")
    (info,) = list_tables(tmp_path)
    assert (info.name, info.n_rows, info.n_parts) == ("losses/", 15, 3)
    assert info.read(7)["i"].tolist() == list(range(7)) and len(info.read()) == 15


def test_nested_run_directories_are_reported_after_their_parent(tmp_path, runs):
    # like `quanta falsify RUN`, which keeps the runs it made inside its own directory
    parent = tmp_path / "falsify"
    with Run.create(parent, command="falsify", config={}, argv=["quanta"]) as r:
        with Run.create(parent / "parts", command="qdg parity", config={}, argv=["quanta"]) as q:
            q.write_table("sizes", pd.DataFrame({"n_clusters": [2, 2], "rank": [1, 2], "size": [5, 3]}))
            q.finish({"ari": 0.9})
        r.finish({"zipf_pred": 1.4, "zipf_measured": 1.5, "verdict": "consistent"})
    rep = render_report([parent, parent / "parts"])
    assert [(Path(x["path"]).name, x["section"]) for x in rep.runs] == [("parts", "qdg"), ("falsify", "falsify")]
    dom = parse(rep.html)
    parent_tables = [d.find_all("code")[0].text() for a in dom.find_all("article")
                     if a.attrs["data-section"] == "falsify" for d in a.find_all("details", cls="tbl")]
    assert parent_tables == []  # parts/ is a run of its own, not a folder of table parts


@pytest.mark.parametrize("alpha_N", [0.083, 0.4])
def test_verdict_agrees_with_quanta_falsify(tmp_path, alpha_N):
    """The page's verdict and p-value are those of quanta.falsify (the report re-derives nothing else)."""
    from quanta.falsify import FalsifyConfig, _verdict_table, verdict_from_estimates
    from quanta.fit import fit_zipf_from_sizes
    from quanta.verdict import Estimate

    sizes = np.round(400 * np.arange(1, 41) ** -1.4).astype(int) + 1  # parts whose sizes follow a Zipf law
    fit = fit_zipf_from_sizes(sizes, n_boot=50, seed=0)
    parts = Estimate(fit.exponent_corrected, fit.se, 1, 1, np.nan, fit.se, ("fit",))
    summary = verdict_from_estimates(Estimate(alpha_N, 0.012, 1, 1, np.nan, 0.012, ("fit",)), parts, plausible=True,
                                     config=FalsifyConfig())
    with Run.create(tmp_path / "f", command="falsify", config={}, argv=["quanta"]) as r:
        r.write_table("verdict", _verdict_table(summary))
        r.finish({**summary, "n_clusters": 40})
    dom = parse(render_report([tmp_path / "f"]).html)
    box = dom.find_all("div", cls="verdict")[0]
    assert summary["verdict"] in box.text() and f"p = {summary['p_value']:.3g}" in box.text()
    assert ("bad" in box.attrs["class"]) == (summary["verdict"] == "inconsistent")
    assert "differs from the intervals" not in dom.text()


def test_parity_cluster_summaries_count_tasks_not_labels(tmp_path):
    """QDG on parity writes the label y (0/1) as the "token" and the planted task beside it: a cluster's summary
    counts the tasks of its samples (the labels would say every cluster is half 0s and half 1s)."""
    rows = [(5, c, 10, r, task, f"task {task} | bits 0101 | label ", str(r % 2), "")
            for c, tasks in enumerate([[3] * 6 + [7] * 2, [1] * 8]) for r, task in enumerate(tasks)]
    df = pd.DataFrame(rows, columns=["n_clusters", "cluster", "cluster_size", "member_rank", "task",
                                     "context_before", "token", "context_after"])
    with Run.create(tmp_path / "qp", command="qdg parity", config={}, argv=["quanta", "qdg", "parity"]) as r:
        r.write_table("contexts", df)
        r.finish({"n_clusters": 5})
    dom = parse(render_report([tmp_path / "qp"]).html)
    summaries = [d.find_all("summary")[0].text() for d in dom.find_all("details", cls="cluster")]
    assert len(summaries) == 2
    assert "task 3\u00d76" in summaries[0] and "task 7\u00d72" in summaries[0] and "task 1\u00d78" in summaries[1]
    assert not any("\u00d74" in s for s in summaries)  # no count of labels 0/1 (4 each)
    assert "task 3" in dom.find_all("details", cls="cluster")[0].attrs["data-text"]


def test_exponents_show_their_rank_range_on_their_row(runs, report_html):
    dom = parse(report_html)
    table = next(t for t in dom.find_all("table") if t.attrs.get("id", "").endswith("-qdg-summary"))
    assert [th.text() for th in table.find_all("thead")[0].find_all("th")] == ["figure", "value", "interval",
                                                                             "ranks"]
    rows = {r[0]: r[1:] for r in rows_of(table)}
    assert rows["slope"] == ["-1.2", "[-1.3, -1.1]", "1\u20136"]
    assert rows["zipf_exponent_envelope"] == ["1.67", H.MISSING, "1\u201326"]
    assert rows["n_clusters"] == ["6", H.MISSING, H.MISSING]
    assert not any(name.endswith("_ranks") for name in rows)  # not a row of its own


def test_a_nested_test_reads_as_part_of_the_verdict_and_standard_errors_are_not_estimates(tmp_path):
    """falsify's summary holds the exponent test as ``test`` (its own verdict, before the power-law check): it is
    shown as one input of the verdict, not as a second verdict; ``zipf_pred_se`` is no estimate of zipf."""
    s = {"verdict": "not a power law", "p_value": 0.0015, "zipf_pred": 1.49, "zipf_pred_se": 0.045,
         "zipf_pred_ci": [1.416, 1.563], "zipf_measured": 1.203, "zipf_measured_se": 0.079,
         "zipf_measured_ci": [1.074, 1.333],
         "test": {"verdict": "undetermined", "p_value": 0.0015, "difference": -0.287, "margin": 0.15}}
    with Run.create(tmp_path / "f", command="falsify", config={}, argv=["quanta", "falsify"]) as r:
        r.finish(s)
    dom = parse(render_report([tmp_path / "f"]).html)
    lines = [d.text() for d in dom.find_all("div", cls="verdict")]
    assert len(lines) == 2 and sum(t.startswith("Verdict:") for t in lines) == 1
    assert lines[0].startswith("Verdict: not a power law")
    assert lines[1].startswith("Outcome of test alone (one input of the verdict 'not a power law' above): undetermined")
    table = next(t for t in dom.find_all("table") if t.attrs.get("id", "").endswith("-verdict-0"))
    assert [r[0] for r in rows_of(table)] == ["zipf"]
