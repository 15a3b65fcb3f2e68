"""``quanta lm``: language-model suites (train a suite, per-token losses, analysis)."""

import click

from quanta.cli import LazyGroup

SUBCOMMANDS = {
    "train-suite": ("quanta.cli.lm_suite:train_suite", "Train a family of GPT-NeoX models offline on a corpus."),
    "losses": ("quanta.cli.lm_losses:losses", "Per-token losses of every model of a suite on a corpus."),
    "analyze": ("quanta.cli.lm_analyze:analyze", "Loss distributions, mean-loss scaling, monogenic/polygenic tokens."),
}


@click.group(cls=LazyGroup, lazy=SUBCOMMANDS)
def lm():
    """Language-model suites and their per-token losses (docs/science.md §3)."""
