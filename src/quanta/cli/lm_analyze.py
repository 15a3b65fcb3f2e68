"""``quanta lm analyze LOSSES_DIR --out DIR``: loss distributions, mean-loss scaling, monogenic/polygenic tokens."""

from __future__ import annotations

import dataclasses

import click

from quanta.cli.common import echo_summary, force_option, out_option, parse_overrides, seed_option, set_option
from quanta.errors import QuantaError

HEADLINE = ("mode", "n_models", "n_tokens", "alpha_N", "alpha_N_ci", "alpha_S", "alpha_S_ci", "zipf_pred",
            "fit_error", "n_monogenic", "n_polygenic", "n_neither", "learning_size_median",
            "learning_step_median", "token_analysis")


@click.command()
@click.argument("losses_dir", type=click.Path(file_okay=False))
@out_option()
@click.option("--mode", type=click.Choice(["auto", "suite", "dynamics"]), default=None,
              help="suite (x = non-embedding parameters) or dynamics (checkpoints, x = step); default auto.")
@click.option("--criteria", type=click.Choice(["sigmoid", "reference"]), default=None,
              help="Token labels from sigmoid/line fits (default) or the paper's reference heuristics.")
@click.option("--n-examples", type=int, default=None, help="Examples per label in examples.json and the figure.")
@set_option("quanta.lm.analyze:AnalyzeConfig")
@seed_option
@force_option
def analyze(losses_dir, out, mode, criteria, n_examples, overrides, seed, force):
    """Analyze the per-token losses of a `quanta lm losses` run in LOSSES_DIR.

    Writes distribution.parquet, models_summary.parquet, tokens.parquet, learning_sizes.parquet,
    examples.parquet/json, figures and summary.json (alpha_N with its interval, zipf_pred = alpha_N + 1,
    token label counts). Every setting of the analysis is a --set KEY=VALUE (see docs/lm-analyze.md).
    """
    from quanta.lm.analyze import AnalyzeConfig, analyze_losses

    fields = parse_overrides(overrides)
    known = {f.name for f in dataclasses.fields(AnalyzeConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise QuantaError(f"--set: unknown setting(s) {', '.join(unknown)}",
                          "see docs/lm-analyze.md for the settings of `quanta lm analyze`")
    for name, value in (("mode", mode), ("criteria", criteria), ("n_examples", n_examples), ("seed", seed)):
        if value is not None:
            fields[name] = value
    cfg = AnalyzeConfig(**fields)
    summary = analyze_losses(losses_dir, out, cfg, force=force)
    echo_summary(summary, out, keys=HEADLINE)
