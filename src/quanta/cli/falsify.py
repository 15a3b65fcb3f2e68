"""``quanta falsify``: the scaling exponent against the Zipf law of the discovered parts."""

from __future__ import annotations

import click

from quanta.cli.common import device_option, force_option, out_option, resume_option, seed_option
from quanta.errors import QuantaError


def _print_table(table, summary) -> None:
    click.echo(f"{'quantity':<24}{'method':<14}{'exponent':>9}  {'interval':<18}{'overlaps prediction':>20}")
    for r in table.itertuples():
        ov = "" if r.overlaps_pred is None else ("yes" if r.overlaps_pred else "no")
        click.echo(f"{r.quantity:<24}{r.method:<14}{r.exponent:>9.3f}  [{r.ci_lo:.3f}, {r.ci_hi:.3f}]".ljust(65)
                   + f"{ov:>10}")
    click.echo(f"verdict: {summary['verdict']} (predicted α_N+1 = {summary['zipf_pred']:.3f}, measured "
               f"{summary['zipf_measured']:.3f} by {summary['method']})")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option("--scaling", type=click.Path(file_okay=False), default=None,
              help="A `quanta parity analyze` or `quanta lm analyze` run (gives alpha_N).")
@click.option("--parts", type=click.Path(file_okay=False), default=None,
              help="A `quanta qdg` or `quanta qdg parity` run (gives the part sizes).")
@click.option("--n-clusters", type=int, default=None, help="Cluster count for the MLE (default: the QDG run's).")
@click.option("--rank-range", nargs=2, type=int, default=None, metavar="LO HI", help="Ranks of the envelope fit.")
@click.option("--min-size", type=int, default=1, show_default=True, help="Leave out parts smaller than this.")
@click.option("--n-boot", type=int, default=1000, show_default=True, help="Bootstrap replicates.")
@click.option("--ci", type=float, default=0.9, show_default=True, help="Interval level.")
@click.option("--qdg-samples", type=int, default=2000, show_default=True,
              help="Samples clustered by QDG (end-to-end parity mode).")
@out_option()
@seed_option
@device_option
@force_option
@resume_option
def falsify(run_dir, scaling, parts, n_clusters, rank_range, min_size, n_boot, ci, qdg_samples, out, seed, device,
            force, resume):
    """The closing test: predicted Zipf exponent α_N+1 against the one of the parts QDG finds.

    Either give a `quanta parity run` directory (RUN_DIR): it is analyzed and QDG runs on its widest model, end to
    end; or give finished runs with --scaling and --parts (parity or LM).
    """
    from quanta.falsify import FalsifyConfig, falsify as falsify_runs, falsify_parity_run

    cfg = FalsifyConfig(n_clusters=n_clusters, rank_range=tuple(rank_range) if rank_range else None,
                        min_size=min_size, n_boot=n_boot, ci=ci, seed=0 if seed is None else seed)
    if run_dir is not None and (scaling or parts):
        raise QuantaError("give either RUN_DIR or --scaling with --parts, not both", "see quanta falsify --help")
    if run_dir is not None:
        summary, table = falsify_parity_run(run_dir, out, cfg, force=force, resume=resume, device=device,
                                            qdg_samples=qdg_samples)
    elif scaling and parts:
        if resume:
            raise QuantaError("--resume applies to the end-to-end mode (RUN_DIR)", "drop --resume")
        summary, table = falsify_runs(scaling, parts, out, cfg, force=force)
    else:
        raise QuantaError("nothing to falsify: give a parity RUN_DIR, or both --scaling and --parts",
                          "e.g. quanta falsify runs/parity --out runs/falsify")
    _print_table(table, summary)
    click.echo(f"wrote {out}")
