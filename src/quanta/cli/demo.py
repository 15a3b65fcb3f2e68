"""``quanta demo``: the whole chain offline on small defaults, ending in a report."""

from __future__ import annotations

import click

from quanta.cli.common import device_option, force_option, out_option, parse_overrides, resume_option, seed_option
from quanta.errors import QuantaError


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@out_option()
@seed_option
@device_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a demo setting (seed, alpha, parity_preset, parity_steps, parity_seeds, suite_preset, "
                   "suite_steps, lm_max_docs, qdg_tokens, qdg_parity_samples, qdg_threshold).")
@force_option
@resume_option
def demo(out, seed, device, overrides, force, resume):
    """Run theory, parity (run, analyze, QDG), an LM suite on the Python standard library (train, losses,
    analyze, QDG), falsify and the report, offline, into OUT (the defaults aim at 10 minutes on 2 CPU cores, a
    target; the measured times are in docs/benchmarks.md)."""
    import dataclasses

    from quanta.demo import DemoConfig, headline_lines, run_demo

    fields = {f.name for f in dataclasses.fields(DemoConfig)}
    values = parse_overrides(overrides)
    unknown = sorted(set(values) - fields)
    if unknown:
        raise QuantaError(f"--set: unknown demo setting(s) {', '.join(unknown)}", f"known: {', '.join(sorted(fields))}")
    if seed is not None:
        values["seed"] = seed
    if device is not None:
        values["device"] = device
    cfg = DemoConfig(**values)
    summary = run_demo(out, cfg, force=force, resume=resume, echo=lambda s: click.echo(s, err=True))
    click.echo(f"report: {summary['report']}")
    for line in headline_lines(summary):
        click.echo(line)
