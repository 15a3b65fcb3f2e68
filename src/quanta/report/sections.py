"""The parts of the report: one block per run (generic) plus what each kind of run adds.

Every run gets a header (command, status, times), its headline figures (``summary.json``, with an
estimate and its ``*_ci`` interval on one row), its figures inline, its tables (sortable, or a
preview of the first rows when large) and its config. On top of that:

- ``theory``: the regime exponents the model predicts from α, next to the run's own figures;
- ``parity``: the task distribution and the models of the sweep;
- ``lm``: the suite's models, the corpus, and tokens in context (e.g. monogenic/polygenic tokens);
- ``qdg``: the cluster browser (clusters by size with their top contexts, the token highlighted);
- ``parts``: the method and its law; for ``parts bench``, the scoreboard by method and the rankings;
- ``falsify``: the verdict table (predicted α+1 against the measured Zipf exponent, with intervals).

This module holds the sections and assembles a run's block (:func:`render_run`); each family of parts is its own
module, whose public names are re-exported here: :mod:`quanta.report.run_block` (the generic parts and
:class:`Options`), :mod:`quanta.report.contexts` (cluster browser, tokens in context),
:mod:`quanta.report.verdict_table` (predicted against measured) and :mod:`quanta.report.extras` (what each kind
of run adds).
"""

from __future__ import annotations

from collections.abc import Mapping

from quanta.report import html as H
from quanta.report.contexts import cluster_browser, context_table, pick_counts, render_contexts
from quanta.report.extras import EXTRAS
from quanta.report.run_block import (Options, RunBlock, as_interval, is_number, render_config, render_figures,
                                     render_header, render_summary, render_tables, summary_rows)
from quanta.report.tables import list_tables
from quanta.report.verdict_table import comparison_table, comparisons, overlaps, render_verdict, verdict_records


# Section key -> title, in the order of the chain (config -> engine -> analysis -> test).
SECTIONS: dict[str, str] = {
    "theory": "Theory: the quantization model",
    "parity": "Multitask sparse parity",
    "lm": "Language models",
    "qdg": "Quanta discovery from gradients (QDG)",
    "parts": "Parts: other decompositions and the scoreboard",
    "falsify": "Falsification: Zipf exponent against the scaling law",
    "formation": "Watching parts form over training",
    "calibrate": "Calibration: how often the test is right",
    "other": "Other runs",
}


INTROS: dict[str, str] = {
    "theory": ("Quanta with use frequencies p_k \u221d k^-(\u03b1+1); a model that knows the n most frequent has "
               "loss L_n \u2248 L\u221e + c\u00b7n^-\u03b1. Parameters give \u03b1_N = \u03b1, data and "
               "single-epoch steps give \u03b1/(\u03b1+1)."),
    "parity": ("Planted quanta: each task is one sparse parity, drawn with Zipf probability. Each task's loss "
               "should drop suddenly, roughly in order of frequency, and the mean loss follow a power law."),
    "lm": ("Per-token losses across a suite of model sizes (nats). Monogenic tokens drop suddenly at one size; "
           "polygenic tokens fall gradually."),
    "qdg": ("Clusters of per-token gradients. If quanta are real, cluster sizes follow a Zipf law whose "
            "exponent matches \u03b1+1 from the scaling law. Browse the clusters below: each shows its size "
            "and its top contexts with the token highlighted."),
    "parts": ("Decompositions other than QDG (sparse autoencoder features, clusters of activations) under one "
              "contract, and the bench that runs every method on planted worlds and scores its parts against the "
              "quanta that were planted."),
    "falsify": ("The closing test: the Zipf exponent implied by the scaling exponent (\u03b1_N + 1) against the "
                "exponent measured on the discovered parts, each with its interval."),
    "formation": ("A second test, over checkpoints: the tokens of a part should be learned at about the same step, "
                  "and frequent parts first. Each statistic against a null that shuffles learning steps across parts, "
                  "and a stricter one that shuffles them only among tokens of the same token id."),
    "calibrate": ("The test run on planted worlds where the answer is known: true worlds (the model holds), "
                  "mismatched pairs (the scaling side from another \u03b1), decompositions that ignore the network, "
                  "and task frequencies that are not a power law. Every rate with its 95% Wilson interval and the "
                  "number of verdicts behind it."),
    "other": "Runs of other commands.",
}


def section_of(command: str) -> str:
    """The section a run's manifest ``command`` belongs to (``"qdg parity"`` -> ``"qdg"``)."""
    word = str(command or "").split(" ")[0]
    return word if word in SECTIONS and word != "other" else "other"


def render_run(block: RunBlock, opts: Options) -> str:
    """The whole block of one run: header, the section's own parts, contexts, summary, figures, tables, config."""
    tables = list_tables(block.run.path)
    readable = [t for t in tables if t.error is None]
    parts = [render_header(block)]
    extra = EXTRAS.get(block.section)
    if extra is not None:
        parts.append(extra(block, readable, opts))
    ctx_html, used = render_contexts(block, readable, opts)
    parts.append(ctx_html)
    parts.append(render_summary(block))
    parts.append(render_figures(block))
    parts.append(render_tables(block, tables, opts, used))
    parts.append(render_config(block))
    return f'<article class="run" data-section="{H.esc(block.section)}">{"".join(parts)}</article>'


def headline(summary: Mapping, n: int = 3) -> str:
    """A one-line digest of a summary: its ``verdict`` if any, then figures with an interval, then other numbers
    (at most ``n`` items)."""
    rows, _ = summary_rows(summary)
    verdict = [f"verdict: {H.fmt_value(v)}" for k, v, _ in rows if k == "verdict" and v is not None]
    with_ci = [f"{k} = {H.fmt_value(v)} {ci}" for k, v, ci in rows if ci is not None and is_number(v)]
    numbers_ = [f"{k} = {H.fmt_value(v)}" for k, v, ci in rows if ci is None and is_number(v)]
    return "; ".join((verdict + with_ci + numbers_)[:n])


__all__ = ["SECTIONS", "INTROS", "Options", "RunBlock", "section_of", "render_run", "headline", "verdict_records",
           "summary_rows", "as_interval", "overlaps", "comparisons", "comparison_table", "render_verdict",
           "pick_counts", "cluster_browser", "context_table"]
