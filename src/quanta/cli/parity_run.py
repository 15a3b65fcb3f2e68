"""``quanta parity run``: train a sweep of MLPs on multitask sparse parity as one batched run."""

from __future__ import annotations

import click

from quanta.cli.common import device_option, echo_summary, force_option, out_option, parse_overrides, resume_option, \
    set_option

PRESET_HELP = "paper-fig2-params, paper-fig2-data, paper-alpha-sweep, cpu-small, cpu-tiny"


@click.command()
@click.option("--preset", required=True, metavar="NAME", help=f"The sweep to run: {PRESET_HELP}.")
@out_option()
@device_option
@set_option("quanta.parity.config:ParityConfig")
@resume_option
@force_option
@click.option("--max-seconds", type=click.FloatRange(min=0), default=None, metavar="S",
              help="Stop training S seconds after the command starts, write a checkpoint and leave the run paused; "
                   "--resume continues it (for a GPU lease or a batch-queue slot).")
def run(preset, out, device, overrides, resume, force, max_seconds):
    """Train every model of a parity sweep (widths × seeds × D × α) as one batched run.

    Writes tasks.parquet, models.parquet, eval.parquet, eval_mean.parquet and final_state.pt
    (see docs/parity-run.md). α is the paper's α (the reference code's alpha is α+1).
    """
    from quanta.parity.presets import preset_config

    cfg = preset_config(preset, parse_overrides(overrides))  # checked before torch is imported
    from quanta.parity.train import run_parity

    limit = {} if max_seconds is None else {"max_seconds": max_seconds}  # (the demo's parity step calls it alike)
    summary = run_parity(cfg, out, device=device, force=force, resume=resume, **limit)
    if summary.get("status") == "paused":
        click.echo(f"paused at step {summary['step']:,} of {summary['steps']:,} after {summary['train_s']:.0f} s of "
                   f"training (--max-seconds {max_seconds:g}); continue with the same command and --resume")
        click.echo(f"wrote {out}")
        return
    echo_summary(summary, out)
