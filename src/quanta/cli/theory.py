"""``quanta theory``: the quantization model's predicted exponents against its own simulated scaling curves."""

from __future__ import annotations

import click

from quanta.cli.common import echo_summary, force_option, out_option, parse_overrides, seed_option, set_option

HEADLINE = ("alpha", "alpha_N_pred", "alpha_N_sim", "alpha_N_sim_ci", "alpha_D_pred", "alpha_D_sim", "alpha_D_sim_ci",
            "alpha_S_pred", "alpha_S_sim", "alpha_S_sim_ci", "n_D_pred", "n_D_sim")


@click.command("theory")
@click.option("--alpha", type=float, default=0.4, show_default=True,
              help="Scaling exponent alpha > 0; quanta are used with p_k ∝ k^-(alpha+1).")
@click.option("--n-quanta", "n_quanta", type=int, default=None,
              help="Number of quanta (default: infinitely many, zeta normalisation).")
@out_option()
@force_option
@seed_option
@set_option("quanta.simulator:SimulatorConfig")
def theory(alpha, n_quanta, out, force, seed, overrides):
    """Predicted exponents (alpha_N = alpha, alpha_D = alpha_S = alpha/(alpha+1)) against exponents fitted to
    the simulator's own loss curves in parameters N, data D and single-epoch steps S.

    Writes summary.json, curves.parquet, samples.parquet and figures (loss against n, N, D, S with the fitted
    lines; monogenic and polygenic per-sample curves). Other settings (a, b, tau, batch, params_per_quantum,
    n_max, ...) via --set KEY=VALUE; see docs/theory.md.
    """
    import dataclasses

    from quanta.errors import QuantaError
    from quanta.theory import SimulatorConfig, run_theory

    fields = {"alpha": alpha, "n_quanta": n_quanta, **parse_overrides(overrides)}
    if seed is not None:
        fields["seed"] = seed
    known = {f.name for f in dataclasses.fields(SimulatorConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise QuantaError(f"--set: unknown setting(s) {', '.join(unknown)}",
                          f"known settings: {', '.join(sorted(known))}")
    if isinstance(fields.get("genes"), list):
        fields["genes"] = tuple(fields["genes"])
    config = SimulatorConfig(**fields)  # validates before any file is written
    summary = run_theory(config, out, force=force)
    echo_summary(summary, out, keys=HEADLINE)
