"""``quanta parity analyze RUN_DIR --out DIR``: scaling fits, emergence and learning order of a parity run."""

from __future__ import annotations

import click

from quanta.cli.common import force_option, out_option, seed_option
from quanta.errors import QuantaError

# (summary key, label) of the headline rows: measured against predicted
HEADLINE = (
    ("alpha_N", "α_N   L(N) end of training"),
    ("alpha_D", "α_D   L(D) best test loss"),
    ("alpha_S", "α_S   L(S) widest model"),
    ("alpha_S_tail_corrected", "α_S   + tail (planted α, K)"),  # reads the planted α and task count
    ("n_vs_N_exponent", "n ∝ N^x"),
    ("n_vs_D_exponent", "n ∝ D^x"),
    ("convergence_exponent", "learn step ∝ p^-x"),
    ("order_spearman", "Spearman(learn step, rank)"),
)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def headline_table(per_alpha: dict) -> list[str]:
    """The measured-against-predicted rows of one α as lines of text.

    ``predicted`` is the asymptotic theory; ``finite K`` is what the theory gives for this run's finite
    task set over the same fit range (see docs/parity-analyze.md).
    """
    rows = [key for key, _ in HEADLINE if key in per_alpha]
    if not rows:
        return ["no exponent could be measured (see the notes)"]
    lines = [f"{'quantity':<30} {'measured':>9} {'interval':>17} {'predicted':>9} {'finite K':>9}"]
    for key, label in HEADLINE:
        if key not in per_alpha:
            continue
        ci = per_alpha.get(f"{key}_ci")
        ci_s = f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci and ci[0] is not None else ""
        fin = per_alpha.get(f"{key}_predicted_finite")
        lines.append(f"{label:<30} {_fmt(per_alpha[key]):>9} {ci_s:>17} "
                     f"{_fmt(per_alpha.get(f'{key}_predicted')):>9} {'' if fin is None else _fmt(fin):>9}")
    if "emergence_abs_log10_error_median" in per_alpha:
        err = per_alpha["emergence_abs_log10_error_median"]
        lines.append(f"emergence from widths <= {per_alpha['emergence_W']:g}: median |log10(pred/actual width)| = "
                     f"{'inf' if err is None else format(err, '.3f')} over "
                     f"{per_alpha['emergence_n_checked']} tasks (grid step "
                     f"{_fmt(per_alpha.get('emergence_grid_log10_step'))})")
    return lines


@click.command()
@click.argument("run_dir", type=click.Path())
@out_option()
@click.option("--threshold-bits", type=float, default=0.1, show_default=True,
              help="A task is learned once its test loss is below this many bits.")
@click.option("--emergence-width", type=float, default=None,
              help="W: predict emergence from the models of width <= W (default: the sweep's median width).")
@click.option("--fit-range", "fit_ranges", multiple=True, metavar="AXIS=LO:HI",
              help="Fit range override for AXIS in N, D, S (either bound may be empty); repeatable.")
@click.option("--n-boot", type=int, default=200, show_default=True, help="Bootstrap resamples per fit.")
@click.option("--ci", type=float, default=0.9, show_default=True, help="Level of the bootstrap intervals.")
@click.option("--no-figures", is_flag=True, help="Skip the figures.")
@seed_option
@force_option
def analyze(run_dir, out, threshold_bits, emergence_width, fit_ranges, n_boot, ci, no_figures, seed, force):
    """Scaling fits (L(N), L(D), L(S)), emergence, learning order and theory of a `quanta parity run`.

    RUN_DIR is the --out directory of `quanta parity run`. See docs/parity-analyze.md.
    """
    from quanta.parity.analyze import AnalyzeConfig, parse_fit_range, run_parity_analysis

    ranges = {}
    for text in fit_ranges:
        try:
            axis, rng = parse_fit_range(text)
        except QuantaError as exc:
            raise QuantaError(f"--fit-range: {exc.message}", exc.hint) from exc
        ranges[f"range_{axis}"] = rng
    cfg = AnalyzeConfig(threshold_bits=threshold_bits, emergence_width=emergence_width, n_boot=n_boot, ci=ci,
                        seed=0 if seed is None else seed, figures=not no_figures, **ranges)
    summary = run_parity_analysis(run_dir, out, cfg, force=force)
    for entry in summary["per_alpha"]:
        click.echo(f"α = {entry['alpha']:g} ({entry['n_tasks']} tasks)")
        for line in headline_table(entry):
            click.echo("  " + line)
    for note in summary.get("notes", []):
        click.echo(f"note: {note}")
    click.echo(f"wrote {out}")
