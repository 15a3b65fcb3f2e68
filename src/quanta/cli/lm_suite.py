"""``quanta lm train-suite``: train a family of GPT-NeoX models offline on a corpus."""

from __future__ import annotations

import click

from quanta.cli.common import (device_option, echo_summary, force_option, out_option, parse_overrides,
                               resume_option, seed_option, set_option)


@click.command("train-suite")
@click.option("--corpus", default="stdlib", show_default=True,
              help="Corpus spec: stdlib, a text/jsonl/jsonl.zst/parquet file, a folder or a glob.")
@click.option("--preset", type=click.Choice(["tiny", "cpu", "gpu"]), default="cpu", show_default=True,
              help="Model sizes and training length: cpu (minutes on 2 cores), gpu, tiny (tests).")
@out_option()
@seed_option
@device_option
@set_option("quanta.lm.train:SuiteConfig")
@force_option
@resume_option
def train_suite(corpus, preset, out, seed, device, overrides, force, resume):
    """Train a suite of GPT-NeoX (Pythia-architecture) models of several sizes on one corpus.

    The models share a byte-level BPE tokenizer trained on the corpus and see the same data in the same
    order; checkpoints are saved at log-spaced steps. Pass the output to `quanta lm losses --suite OUT`.
    """
    from dataclasses import fields

    from quanta.errors import QuantaError
    from quanta.lm.train import SuiteConfig, train_suite as run_train

    values = parse_overrides(overrides)
    known = {f.name for f in fields(SuiteConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise QuantaError(f"--set: unknown field(s) {', '.join(unknown)}", f"fields: {', '.join(sorted(known))}")
    for key in ("corpus", "preset"):
        if key in values:
            raise QuantaError(f"--set {key}=...: {key} has its own option", f"pass --{key} instead")
    values.update(corpus=corpus, preset=preset)
    if seed is not None:
        values["seed"] = seed
    cfg = SuiteConfig(**values)
    summary = run_train(cfg, out, device=device, force=force, resume=resume)
    echo_summary(summary, out)
