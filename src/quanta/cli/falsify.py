"""``quanta falsify``: the scaling exponent against the Zipf law of the discovered parts."""

from __future__ import annotations

import click

from quanta.cli.common import device_option, force_option, out_option, resume_option, seed_option
from quanta.errors import QuantaError


def _print_result(table, summary) -> None:
    click.echo(f"{'quantity':<24}{'method':<10}{'exponent':>9}  {'interval':<18}")
    for r in table.itertuples():
        click.echo(f"{r.quantity:<24}{r.method:<10}{r.exponent:>9.3f}  [{r.ci_lo:.3f}, {r.ci_hi:.3f}]")
    p = summary.get("p_value")
    click.echo(f"verdict: {summary['verdict']}" + (f" (p of d = 0: {p:.3g}, gap {summary['gap_se']:+.2f} standard errors; "
                                                   f"{summary['n_train_seeds']} training seed(s) × "
                                                   f"{summary['n_draws']} draw(s), count rule "
                                                   f"{summary['cluster_count_rule']})" if p is not None else ""))
    click.echo(f"  {summary['verdict_reason']}")
    if summary.get("calibration"):
        click.echo(f"  {summary['calibration']}")
    if summary.get("formation_learned_together"):
        click.echo("second test, over training (quanta formation; null: learning steps shuffled across parts):")
        click.echo(f"  learned together: {summary['formation_learned_together']}"
                   + (f" (spread {summary['formation_spread_ratio']:.2f} × the null's, "
                      f"p = {summary['formation_spread_p']:.3g})" if summary.get("formation_spread_ratio") else ""))
        rho = summary.get("formation_rho")
        click.echo(f"  in order of frequency: {summary['formation_frequency_order']}"
                   + (f" (rho = {rho:+.2f}, null median {summary['formation_rho_null_median']:+.2f}, "
                      f"p = {summary['formation_rho_p']:.3g})" if rho is not None else ""))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option("--scaling", type=click.Path(file_okay=False), default=None,
              help="A `quanta parity analyze` or `quanta lm analyze` run (gives alpha_N).")
@click.option("--parts", type=click.Path(file_okay=False), multiple=True,
              help="A `quanta qdg`, `quanta qdg parity` or `quanta parts` run (gives the part sizes); repeat it to "
                   "set several decompositions of one model side by side, one verdict each.")
@click.option("--n-clusters", default=None, metavar="stable_eigengap|stability|eigengap|K",
              help="The parts' count rule (end to end; default QDG parity's, stability), or a count the parts run swept.")
@click.option("--rank-range", nargs=2, type=int, default=None, metavar="LO HI",
              help="Ranks of the envelope fit (default 1 .. the rule's count; the paper used 100 1000).")
@click.option("--n-draws", type=int, default=3, show_default=True, help="Sample draws per training seed (end to end).")
@click.option("--n-samples", "--qdg-samples", "n_samples", type=int, default=2000, show_default=True,
              help="Low-loss samples clustered per draw (end to end).")
@click.option("--level", type=float, default=0.05, show_default=True, help="Level of the test.")
@click.option("--margin", type=float, default=0.15, show_default=True,
              help="Smallest exponent gap worth calling; 'consistent' needs the difference's interval inside it.")
@click.option("--n-boot", type=int, default=500, show_default=True, help="Bootstrap replicates.")
@click.option("--ci", type=float, default=0.9, show_default=True, help="Level of the printed intervals.")
@click.option("--dynamics", type=click.Path(file_okay=False), default=None,
              help="With --parts of an LM: a `quanta lm analyze` run over checkpoints of the same model; adds the "
                   "formation tests (learned together, in order of frequency) as a second test.")
@click.option("--allow-mismatch", is_flag=True, default=False,
              help="Compare a scaling run and a parts run from different models or domains.")
@out_option()
@seed_option
@device_option
@force_option
@resume_option
def falsify(run_dir, scaling, parts, n_clusters, rank_range, n_draws, n_samples, level, margin, n_boot, ci,
            dynamics, allow_mismatch, out, seed, device, force, resume):
    """The closing test: predicted Zipf exponent α_N+1 against the one of the parts QDG finds, by a test.

    Either give a `quanta parity run` directory (RUN_DIR): every training seed is analyzed and decomposed
    label-free, end to end; or give finished runs with --scaling and --parts (parity or LM).
    """
    from quanta.falsify import FalsifyConfig, falsify as falsify_runs, falsify_parity_run

    if run_dir is not None and (scaling or parts):
        raise QuantaError("give either RUN_DIR or --scaling with --parts, not both", "see quanta falsify --help")
    if resume and force:
        raise QuantaError("--resume and --force contradict each other", "pass one of them")
    cfg = FalsifyConfig(n_clusters=n_clusters, rank_range=tuple(rank_range) if rank_range else None,
                        n_draws=n_draws, n_samples=n_samples, level=level, margin=margin, n_boot=n_boot, ci=ci,
                        seed=0 if seed is None else seed)
    if run_dir is not None:
        if dynamics:
            raise QuantaError("--dynamics applies to --scaling with --parts of a language model",
                              "drop --dynamics, or give --scaling and --parts")
        summary, table = falsify_parity_run(run_dir, out, cfg, force=force, resume=resume, device=device)
    elif scaling and len(parts) > 1:
        if resume or dynamics:
            raise QuantaError("--resume and --dynamics apply to one --parts run", "drop them, or give one --parts")
        from quanta.falsify import falsify_side_by_side

        summary, table = falsify_side_by_side(scaling, parts, out, cfg, force=force, allow_mismatch=allow_mismatch)
        click.echo(f"predicted α_N + 1 = {summary['zipf_pred']:.3f}" if summary.get("zipf_pred") is not None
                   else "predicted α_N + 1: none (the scaling fit gives no exponent)")
        for r in table.itertuples():
            p = "" if r.p_value is None or r.p_value != r.p_value else f", p of d = 0: {r.p_value:.3g}"
            click.echo(f"  {r.method:<12} {r.zipf_measured:.3f} [{r.ci_lo:.3f}, {r.ci_hi:.3f}]  {r.verdict}{p}")
        if summary.get("calibration"):
            click.echo(f"  {summary['calibration']}")
        click.echo(f"wrote {out}")
        return
    elif scaling and parts:
        if resume:
            raise QuantaError("--resume applies to the end-to-end mode (RUN_DIR)", "drop --resume")
        summary, table = falsify_runs(scaling, parts[0], out, cfg, force=force, allow_mismatch=allow_mismatch,
                                      **({"dynamics_dir": dynamics} if dynamics else {}))
    else:
        raise QuantaError("nothing to falsify: give a parity RUN_DIR, or both --scaling and --parts",
                          "e.g. quanta falsify runs/parity --out runs/falsify")
    _print_result(table, summary)
    click.echo(f"wrote {out}")
