"""The figures of docs/lm.md, docs/lm-analyze.md, docs/theory.md and docs/fit.md that are not rendered from a record
are computed here (the stdlib corpus sizes, the preset table, the pythia-70m shape's parameter count) or are the
bounds the tests assert (the loss engine's precision). Times are not typed on these pages: the pages point to the
recorded commands table of docs/benchmarks.md and, for the figures typed before 2026-12-04, to
`git show 7770060:docs/<page>`; a typed time coming back fails here. Each check takes well under a second."""

from __future__ import annotations

import ast
import inspect
import json
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("lm.md", "lm-analyze.md", "theory.md", "fit.md")
OLD_TEXT = "7770060"  # the commit that holds the figures typed before 2026-12-04


def _doc(name: str) -> str:
    return " ".join((ROOT / "docs" / name).read_text().split())


def _about(text: str, value: float) -> bool:
    """Whether ``value`` rounds to ``text`` at the precision ``text`` is written with ("730": tens, "64": units,
    "1.4": tenths; an optional k/M suffix scales it)."""
    m = re.fullmatch(r"([0-9]+)(?:\.([0-9]+))?([kM]?)", text)
    assert m, text
    scale = {"": 1, "k": 1e3, "M": 1e6}[m[3]]
    if m[2] is not None:
        unit = 10.0 ** -len(m[2])
    else:
        digits = m[1].rstrip("0") or "0"
        unit = 10.0 ** (len(m[1]) - len(digits))
    return abs(value / scale - float(m[1] + ("." + m[2] if m[2] else ""))) <= unit / 2 + 1e-12


def test_about_rounds_at_the_written_precision():
    assert _about("730", 734) and not _about("730", 736)
    assert _about("64", 64) and not _about("64", 65)
    assert _about("1.4", 1.405594) and not _about("1.4", 1.46)
    assert _about("336k", 335712) and _about("25M", 25220096) and _about("1.23M", 1228800)
    assert _about("3k", 3072) and not _about("3.3k", 3412)


# --------------------------------------------------------------------------- docs/lm.md: the stdlib corpus
def test_stdlib_corpus_sizes_are_the_recorded_ones():
    """The stdlib row's documents and megabytes are docs/data/stdlib_corpus.json's (benchmarks/stdlib_corpus.py),
    and that record is what the running Python gives when its standard library is the recorded one (the same file
    list: builds of one version differ, e.g. Debian's, which splits distutils, lib2to3, tkinter and idlelib off)."""
    from conftest import load_benchmark

    from quanta.lm.corpus import load_corpus

    rec = json.loads((ROOT / "docs" / "data" / "stdlib_corpus.json").read_text())
    doc = _doc("lm.md")
    m = re.search(r"On Python (3\.\d+): about ([0-9]+) documents, ([0-9.]+) MB\. Held out: files whose CRC32 of "
                  r"the relative path falls in the lowest ([0-9]+)% \(on Python (3\.\d+) about ([0-9]+) documents, "
                  r"([0-9.]+) MB\)", doc)
    assert m, "docs/lm.md's stdlib row no longer states its sizes as this test reads them"
    version, n_all, mb_all, pct, version_test, n_test, mb_test = m.groups()
    assert version == version_test == rec["version"]
    assert float(pct) / 100 == inspect.signature(load_corpus).parameters["test_fraction"].default
    for text, value in ((n_all, rec["all_documents"]), (mb_all, rec["all_mb"]), (n_test, rec["test_documents"]),
                        (mb_test, rec["test_mb"])):
        assert _about(text, value), (text, value)
    sc = load_benchmark("stdlib_corpus")
    if sc.fingerprint() != rec["files_sha256"] or platform.python_version() != rec["python"]:
        pytest.skip(f"this Python's standard library ({sys.version.split()[0]}) is not the recorded one "
                    f"({rec['python']}); benchmarks/stdlib_corpus.py records it")
    now = sc.measure()
    assert {k: now[k] for k in ("all_documents", "test_documents")} == {
        k: rec[k] for k in ("all_documents", "test_documents")}
    assert now["all_mb"] == pytest.approx(rec["all_mb"], rel=1e-3) and now["test_mb"] == pytest.approx(
        rec["test_mb"], rel=1e-3)


# --------------------------------------------------------------------------- docs/lm.md: the presets
def _preset_rows() -> dict[str, list[str]]:
    rows = {}
    for line in (ROOT / "docs" / "lm.md").read_text().splitlines():
        m = re.match(r"\| `(tiny|cpu|gpu)`[^|]*\|(.*)\|\s*$", line)
        if m:
            rows[m[1]] = [c.strip() for c in m[2].split("|")]
    return rows


def _nonembed_counts(preset: dict) -> list[int]:
    import torch

    from quanta.lm.models import count_params
    from quanta.lm.train import build_neox, neox_config

    counts = []
    for s in preset["sizes"]:
        cfg = neox_config(vocab_size=preset["vocab_size"], hidden_size=s.hidden_size, n_layers=s.n_layers,
                          n_heads=s.n_heads, max_positions=64)
        with torch.device("meta"):
            counts.append(count_params(build_neox(cfg, seed=0))[1])
    return counts


def test_preset_table_is_the_presets():
    """Sizes, non-embedding parameters (range and decades), vocab, context, batch × steps and tokens per model of
    docs/lm.md's preset table, from quanta.lm.train.PRESETS and the models they build (on the meta device)."""
    from quanta.lm.train import PRESETS

    rows = _preset_rows()
    assert set(rows) == set(PRESETS)
    for name, preset in PRESETS.items():
        sizes, params, vocab, context, batch_steps, tokens = rows[name]
        shapes = [f"{s.hidden_size}×{s.n_layers}" for s in preset["sizes"]]
        m = re.fullmatch(r"(\S+) \.\.\. (\S+) \(([0-9]+) sizes\)", sizes)
        if m:
            assert [m[1], m[2], int(m[3])] == [shapes[0], shapes[-1], len(shapes)], name
        else:
            assert sizes.split(", ") == shapes, name
        counts = _nonembed_counts(preset)
        assert counts == sorted(counts)
        m = re.fullmatch(r"([0-9.]+[kM]?) – ([0-9.]+[kM]?)(?: \(([0-9.]+) decades\))?", params)
        assert m, params
        assert _about(m[1], counts[0]) and _about(m[2], counts[-1]), (name, counts)
        if m[3]:
            assert _about(m[3], np.log10(counts[-1] / counts[0])), name
        assert int(vocab) == preset["vocab_size"] and int(context) == preset["context_length"]
        assert batch_steps == f"{preset['batch_size']} × {preset['steps']}"
        assert _about(tokens, preset["batch_size"] * preset["steps"] * preset["context_length"]), name


def test_timings_section_quotes_the_cpu_presets_decades():
    from quanta.lm.train import PRESETS

    counts = _nonembed_counts(PRESETS["cpu"])
    m = re.search(r"`decades_nonembed`, ([0-9.]+) for the `cpu` preset", _doc("lm.md"))
    assert m and _about(m[1], np.log10(counts[-1] / counts[0]))


def test_gpu_benchmark_shape_and_parameter_count():
    """The pythia-70m shape docs/lm.md names is benchmarks/lm_losses.py's, with the parameters it says."""
    import torch

    from quanta.lm.models import count_params
    from quanta.lm.train import build_neox, neox_config

    tree = ast.parse((ROOT / "benchmarks" / "lm_losses.py").read_text())
    shapes = next(ast.literal_eval(n.value) for n in tree.body
                  if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "SHAPES")
    hidden, layers, heads, vocab, ctx = shapes["pythia-70m"]
    m = re.search(r"pythia-70m-shaped GPT-NeoX \(hidden ([0-9]+), ([0-9]+) layers, ([0-9]+) heads, vocab ([0-9]+), "
                  r"([0-9.]+)M parameters\), random init, ([0-9]+)-token contexts", _doc("lm.md"))
    assert m
    assert [int(v) for v in m.group(1, 2, 3, 4, 6)] == [hidden, layers, heads, vocab, ctx]
    cfg = neox_config(vocab_size=vocab, hidden_size=hidden, n_layers=layers, n_heads=heads, max_positions=ctx)
    with torch.device("meta"):
        n_params = count_params(build_neox(cfg, seed=0))[0]
    assert _about(m[5], n_params / 1e6), n_params


# --------------------------------------------------------------------------- docs/lm.md: the engine's precision
def test_precision_bounds_are_the_tests():
    """The agreement docs/lm.md states for the loss engine is the bound tests/test_lm_losses.py asserts."""
    import ast

    import test_lm_losses as t

    doc = _doc("lm.md")

    def b(x: float) -> str:  # as the page writes a bound: 1e-3, 1e-5, 0.02
        return f"{x:.0e}".replace("e-0", "e-") if x < 1e-2 else f"{x:g}"

    assert f"computation within {b(t.REFERENCE_TOL)} nats (the bound a test asserts)" in doc
    assert f"batch size and order change them by less than {b(t.ORDER_ATOL)} nats" in doc
    assert (f"differ from fp32 by less than {b(t.HALF_MEAN)} nats on average and less than {b(t.HALF_MAX)} nats at "
            "most") in doc
    # and each bound is what an assertion of a test function compares with, not a name left unused
    used: dict[str, set[str]] = {}
    for fn in ast.parse((ROOT / "tests" / "test_lm_losses.py").read_text()).body:
        if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_"):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Assert, ast.Call)):
                    for name in ast.walk(node):
                        if isinstance(name, ast.Name) and name.id in ("REFERENCE_TOL", "ORDER_ATOL", "HALF_MEAN",
                                                                       "HALF_MAX"):
                            used.setdefault(name.id, set()).add(fn.name)
    assert set(used) == {"REFERENCE_TOL", "ORDER_ATOL", "HALF_MEAN", "HALF_MAX"} and len(used["ORDER_ATOL"]) >= 2


# --------------------------------------------------------------------------- no typed times; links hold
_TIMES = re.compile(r"(?<![\w.])[0-9]+(?:[,.][0-9]+)*(?:e[-+]?[0-9]+)?[kM]?\s*(?:ms|s|min|minutes|seconds|hours|GB|MB|KB|"
                    r"tokens/s|tok/s)(?![\w/])")
ALLOWED = {"lm.md": {"12 MB", "1.4 MB", "6 minutes"}}  # corpus sizes (computed above) and the preset's target


@pytest.mark.parametrize("page", PAGES)
def test_no_typed_times_and_the_old_text_is_named(page):
    doc = _doc(page)
    found = set(_TIMES.findall(doc)) - ALLOWED.get(page, set())
    assert not found, f"docs/{page} types times or sizes that no record backs: {sorted(found)}"
    assert f"git show {OLD_TEXT}:docs/{page}" in doc


def test_the_old_text_is_in_the_named_commit():
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for page in PAGES:
        r = subprocess.run([git, "cat-file", "-e", f"{OLD_TEXT}:docs/{page}"], cwd=ROOT, capture_output=True)
        if r.returncode and b"Not a valid object name" in r.stderr and page == PAGES[0]:
            pytest.skip(f"commit {OLD_TEXT} is not in this clone (shallow?)")
        assert r.returncode == 0, (page, r.stderr)


def _anchors(text: str) -> set[str]:
    """GitHub's anchors of a page's headings."""
    out = set()
    for line in text.splitlines():
        m = re.match(r"#+ (.*)", line)
        if m:
            out.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", m[1].strip().lower())))
    return out


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "docs").glob("*.md")))
def test_links_to_headings_exist(page):
    """Every docs page's links to a heading (its own or another page's) name a heading that is there."""
    text = (ROOT / "docs" / page).read_text()
    links = re.findall(r"\]\(([\w.-]*)#([\w-]+)\)", text)
    for target, anchor in links:
        assert anchor in _anchors((ROOT / "docs" / (target or page)).read_text()), (page, target, anchor)
