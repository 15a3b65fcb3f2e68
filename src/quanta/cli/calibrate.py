"""``quanta calibrate``: the closing test's error rates, measured on planted worlds where the answer is known."""

from __future__ import annotations

import click

from quanta.cli.common import device_option, force_option, out_option, parse_overrides, resume_option, set_option


def _pct(r: dict) -> str:
    if not r or r.get("n", 0) == 0:
        return "n/a"
    return f"{r['rate']:.0%} [{r['lo']:.0%}, {r['hi']:.0%}] of {r['n']}"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--preset", type=click.Choice(["cpu", "cpu-design", "gpu", "mini"]), default="cpu", show_default=True,
              help="cpu: held-out worlds, <= 30 minutes on 2 cores (the rates falsify quotes); cpu-design: the worlds "
                   "the decision was designed on; gpu: about 10 minutes on one H100/H200; mini: a test-size run.")
@out_option()
@set_option("quanta.calibrate.config:CalibrationConfig")
@click.option("--ship", is_flag=True, default=False,
              help="Also write the headline rates into the package's table (cpu preset), which falsify quotes.")
@device_option
@force_option
@resume_option
def calibrate(preset, out, overrides, ship, device, force, resume):
    """Train planted parity worlds (true, mismatched, not a power law), run the test on each, report its rates.

    Writes verdicts.parquet (one row per planted world and replicate), the units behind them, a power curve,
    the coverage of the intervals and summary.json with Wilson intervals (see docs/calibration.md).
    """
    from quanta.calibrate import calibration_config, run_calibration

    cfg = calibration_config(preset, parse_overrides(overrides))
    summary, _ = run_calibration(cfg, out, force=force, resume=resume, device=device, ship=ship)
    t = summary["true_worlds"]
    click.echo(f"true worlds: wrongly inconsistent {_pct(t['wrong_inconsistent'])}; consistent {_pct(t['consistent'])}; "
               f"not a power law {_pct(t['wrong_not_power_law'])}")
    click.echo(f"coverage of the {summary['ci_level']:.0%} intervals for the planted α+1: predicted "
               f"{_pct(t['coverage_predicted'])}, parts {_pct(t['coverage_measured'])}")
    for r in summary["power_by_gap"]:
        if r["gap"] > 0:
            click.echo(f"gap {r['gap']:g}: called inconsistent {_pct(r['power'])}")
    for kind, v in summary["false_worlds"].items():
        click.echo(f"{kind}: detected {_pct(v['detected'])}")
    gap = summary["min_detectable_gap"]
    click.echo(f"min_detectable_gap (80% power): {gap if gap is not None else 'none of ' + str(list(cfg.gaps))}")
    click.echo(f"wrote {out}")
