"""``quanta formation --parts RUN --dynamics RUN --out DIR``: are parts learned together, and in order of frequency?"""

from __future__ import annotations

import click

from quanta.cli.common import force_option, out_option, seed_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--parts", "parts_dir", type=click.Path(file_okay=False), required=True,
              help="A `quanta qdg --model` run (or a parts run with membership.parquet).")
@click.option("--dynamics", "dynamics_dir", type=click.Path(file_okay=False), required=True,
              help="A `quanta lm analyze` run over checkpoints of the same model (per-token learning steps).")
@click.option("--n-clusters", type=int, default=None, help="The count of the QDG run to test (default: its rule's).")
@click.option("--n-perm", type=int, default=999, show_default=True, help="Permutations of the null.")
@click.option("--min-learned", type=int, default=3, show_default=True,
              help="Members with a finite learning step a part needs to be tested.")
@click.option("--level", type=float, default=0.05, show_default=True, help="Level of both tests.")
@click.option("--allow-mismatch", is_flag=True, default=False,
              help="Skip the check that both runs read the same corpus and model.")
@out_option()
@seed_option
@force_option
def formation(parts_dir, dynamics_dir, n_clusters, n_perm, min_learned, level, allow_mismatch, out, seed, force):
    """Watch parts form: two predictions of the quantization model over training checkpoints.

    Learned together: the learning steps of a part's tokens spread less than under a null that shuffles the steps
    across parts. Learned in order of frequency: Spearman rho between a part's frequency and its median learning
    step is below the null's. Writes parts.parquet, null.parquet, tests.parquet, a figure and summary.json
    (docs/formation.md).
    """
    from quanta.formation import run_formation

    summary, _ = run_formation(parts_dir, dynamics_dir, out, n_clusters=n_clusters, n_perm=n_perm,
                               min_learned=min_learned, seed=0 if seed is None else seed, level=level, force=force,
                               allow_mismatch=allow_mismatch)
    click.echo(f"tokens: {summary['n_tokens']} decomposed, {summary['n_matched']} with a learning curve, "
               f"{summary['n_learned']} learned within the checkpoints; parts: {summary['n_parts_tested']} of "
               f"{summary['n_parts']} tested")
    sp, rho = summary["spread_ratio"], summary["rho"]
    click.echo(f"learned together: {summary['learned_together']} (spread {summary['spread']:.3g} decades, "
               f"{sp:.2f} × the null's; p = {summary['spread_p']:.3g})" if sp is not None else
               f"learned together: {summary['learned_together']}")
    click.echo(f"in order of frequency: {summary['frequency_order']}" +
               (f" (rho = {rho:+.2f}, null median {summary['rho_null_median']:+.2f}; p = {summary['rho_p']:.3g})"
                if rho is not None else ""))
    click.echo(f"wrote {out}")
