"""``quanta parity``: multitask sparse parity (run a sweep, analyze it)."""

import click

from quanta.cli import LazyGroup

SUBCOMMANDS = {
    "run": ("quanta.cli.parity_run:run", "Train a sweep of MLPs on multitask sparse parity as one batched run."),
    "analyze": ("quanta.cli.parity_analyze:analyze", "Scaling fits, emergence and learning order of a parity run."),
}


@click.group(cls=LazyGroup, lazy=SUBCOMMANDS)
def parity():
    """Multitask sparse parity: the toy with planted quanta (docs/science.md §2)."""
