"""``quanta parts METHOD``: decompositions into parts that all write the same tables (docs/parts.md).

``quanta parts sae --model M --layer L --site resid|mlp --out DIR`` trains a TopK SAE on a language model's
activations; ``quanta parts sae --parity RUN --out DIR`` on a parity model's hidden layer; ``quanta parts acts
--model M ...`` clusters the activations spectrally (QDG's code, activations instead of gradients).
"""

from __future__ import annotations

import click

from quanta.cli.common import device_option, echo_summary, force_option, out_option, seed_option
from quanta.errors import QuantaError

KEYS = ("method", "n_samples", "n_parts", "n_live", "n_dead", "n_dense", "fvu", "zipf_exponent", "zipf_exponent_ci",
        "head_exponent", "head", "zipf_true")


def _lm_site_options(f):
    """The options that name a language model's text and activation site (both methods read them)."""
    for option in reversed([
        click.option("--revision", default=None, help="Checkpoint of the model (stepN)."),
        click.option("--corpus", default=None, help="Corpus spec (see quanta lm losses); default stdlib:test."),
        click.option("--max-docs", type=int, default=None, help="Documents read at most (default 100)."),
        click.option("--context-length", type=int, default=None, help="Tokens kept per document (default 128)."),
        click.option("--layer", type=int, default=None,
                     help="Block: resid 0 (embeddings)..n_layers, mlp 0..n_layers-1 (default 1)."),
        click.option("--site", type=click.Choice(["resid", "mlp"]), default=None,
                     help="Residual stream after the block, or the block's MLP output (default resid)."),
    ]):
        f = option(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def parts():
    """Parts of a model's computation and the Zipf law of their use (docs/parts.md)."""


@parts.command("sae")
@click.option("--model", default=None, metavar="PATH|NAME",
              help="Language model: a saved model directory, a suite member, or a hub name.")
@click.option("--parity", "parity_run", default=None, metavar="RUN_DIR",
              help="A finished `quanta parity run`: the SAE reads its model's last hidden layer.")
@_lm_site_options
@click.option("--model-id", type=int, default=None, help="Parity: model of the sweep (default the widest).")
@click.option("--n-samples", type=int, default=None, help="Parity: inputs drawn (default 20000).")
@click.option("--n-latents", type=int, default=None, help="SAE latents (default 512).")
@click.option("--k", type=float, default=None, help="Active latents per row; a mean per row for batchtopk (default 8).")
@click.option("--sparsity", type=click.Choice(["batchtopk", "topk"]), default=None,
              help="batchtopk (default; use counts need it) or topk (exactly k per row).")
@click.option("--steps", "n_steps", type=int, default=None, help="Adam steps (default 3000).")
@click.option("--sae-batch-size", type=int, default=None, help="Rows per SAE step (default 256).")
@click.option("--lr", type=float, default=None, help="Adam learning rate (default 2e-3).")
@click.option("--dense-share", type=float, default=None,
              help="Parts firing on more than this share of rows are dense, left out of the law (default 0.5).")
@click.option("--batch-size", type=int, default=None, help="LM: contexts per forward pass (default 8).")
@click.option("--n-contexts", type=int, default=None, help="Top contexts kept per part (default 10).")
@out_option()
@seed_option
@device_option
@force_option
def sae(model, parity_run, out, seed, device, force, **options):
    """A sparse autoencoder's features as parts: use counts, membership, top contexts, the Zipf law."""
    from quanta.parts.run import SAEParityConfig, SAEPartsConfig, run_parts_sae_lm, run_parts_sae_parity

    if (model is None) == (parity_run is None):
        raise QuantaError("give exactly one of --model and --parity",
                          "quanta parts sae --model PATH --layer L --out DIR, or --parity RUN_DIR --out DIR")
    given = {k: v for k, v in options.items() if v is not None}
    if seed is not None:
        given["seed"] = seed
    lm_only = {"revision", "corpus", "max_docs", "context_length", "layer", "site", "batch_size"}
    parity_only = {"model_id", "n_samples"}
    wrong = sorted((parity_only if model is not None else lm_only) & set(given))
    if wrong:
        raise QuantaError(f"options {', '.join('--' + w.replace('_', '-') for w in wrong)} do not apply to "
                          f"{'a language model' if model is not None else 'a parity run'}",
                          "drop them; see `quanta parts sae --help`")
    if model is not None:
        summary = run_parts_sae_lm(SAEPartsConfig(model=model, **given), out, device=device, force=force)
    else:
        summary = run_parts_sae_parity(SAEParityConfig(run_dir=str(parity_run), **given), out, device=device,
                                       force=force)
    echo_summary(summary, out, keys=KEYS)


@parts.command("acts")
@click.option("--model", required=True, metavar="PATH|NAME",
              help="Language model: a saved model directory, a suite member, or a hub name.")
@_lm_site_options
@click.option("--n-tokens", type=int, default=None, help="Tokens clustered, a seeded subsample (default 1000).")
@click.option("--n-clusters", type=int, default=None, help="Parts (default n_tokens/25).")
@click.option("--similarity", type=click.Choice(["angular", "abs_angular", "abs_cosine"]), default=None,
              help="Affinity of the centred activations (default angular, as QDG on an LM).")
@click.option("--affinity-power", type=int, default=None, help="Raise the affinity to this power (default 1).")
@click.option("--batch-size", type=int, default=None, help="Contexts per forward pass (default 8).")
@click.option("--n-contexts", type=int, default=None, help="Top contexts kept per part (default 10).")
@out_option()
@seed_option
@device_option
@force_option
def acts(model, out, seed, device, force, **options):
    """Spectral clustering of activations (QDG's code on activations instead of gradients) as parts."""
    from quanta.parts.run import ActsPartsConfig, run_parts_acts_lm

    given = {k: v for k, v in options.items() if v is not None}
    if seed is not None:
        given["seed"] = seed
    summary = run_parts_acts_lm(ActsPartsConfig(model=model, **given), out, device=device, force=force)
    echo_summary(summary, out, keys=KEYS + ("n_clusters",))
