"""``quanta parts METHOD``: decompositions into parts that all write the same tables (docs/parts.md).

``quanta parts sae --model M --layer L --site resid|mlp --out DIR`` trains a TopK SAE on a language model's
activations (or, with ``--pretrained DIR|OWNER/NAME``, encodes them with a published sparsify or SAELens SAE);
``quanta parts sae --parity RUN --out DIR`` on a parity model's hidden layer; ``quanta parts acts
--model M ...`` (or ``--parity RUN``) clusters the activations spectrally (QDG's code, activations instead of
gradients). ``quanta parts bench`` scores every method on planted worlds (:mod:`quanta.parts.bench`).
"""

from __future__ import annotations

import click

from quanta.cli.common import device_option, echo_summary, force_option, out_option, resume_option, seed_option
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


#: options only a language model's activations take, and only a parity run's, in both methods
_LM_ONLY = {"revision", "corpus", "max_docs", "context_length", "layer", "site"}
_PARITY_ONLY = {"model_id", "n_samples"}


def _given(model, parity_run, seed, options: dict, method: str, *, lm_only: set, parity_only: set) -> dict:
    """The options the user gave a method that reads either ``--model`` or ``--parity``: exactly one of the two,
    and none of the other domain's options (the method's own ``lm_only`` and ``parity_only`` besides the shared
    ones). A ``--n-clusters`` that is a number becomes an int; an LM takes nothing else there."""
    if (model is None) == (parity_run is None):
        raise QuantaError("give exactly one of --model and --parity",
                          f"quanta parts {method} --model PATH --layer L --out DIR, or --parity RUN_DIR --out DIR")
    given = {k: v for k, v in options.items() if v is not None}
    if seed is not None:
        given["seed"] = seed
    k = given.get("n_clusters")
    if isinstance(k, str) and k.isdigit():
        given["n_clusters"] = int(k)
    other = (_PARITY_ONLY | parity_only) if model is not None else (_LM_ONLY | lm_only)
    wrong = sorted(other & set(given))
    if model is not None and isinstance(given.get("n_clusters"), str):
        wrong.append("n_clusters")
    if wrong:
        raise QuantaError(f"options {', '.join('--' + w.replace('_', '-') for w in wrong)} do not apply to "
                          f"{'a language model' if model is not None else 'a parity run'}"
                          + (" (an LM takes a count for --n-clusters)" if "n_clusters" in wrong else ""),
                          f"drop them; see `quanta parts {method} --help`")
    return given


#: options that train an SAE (and their flags): a --pretrained SAE takes none of them
_TRAINING = {"n_latents": "--n-latents", "k": "--k", "sparsity": "--sparsity", "n_steps": "--steps",
             "sae_batch_size": "--sae-batch-size", "lr": "--lr"}


def _pretrained_options(given: dict) -> None:
    """With --pretrained: refuse the training options; --layer and --site default from the SAE's effective
    hookpoint as the spec shows it (:func:`quanta.parts.pretrained.spec_hookpoint`: a local SAELens SAE's hook
    name, the hub id's :sub, --hookpoint, or the SAE folder's name)."""
    from quanta.parts.pretrained import hookpoint_site, spec_hookpoint

    wrong = [flag for name, flag in _TRAINING.items() if name in given]
    if wrong:
        raise QuantaError(f"options {', '.join(wrong)} train an SAE and do not apply with --pretrained",
                          "drop them: a published SAE is used as it was trained")
    site = hookpoint_site(spec_hookpoint(given["pretrained"], given.get("hookpoint")))
    if site is not None:
        given.setdefault("layer", site[0])
        given.setdefault("site", site[1])


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
@click.option("--pretrained", default=None, metavar="DIR|OWNER/NAME[:SUB]",
              help="LM: use this published SAE instead of training one: a directory saved by EleutherAI's sparsify "
                   "(cfg.json + sae.safetensors; TopK) or by SAELens (cfg.json + sae_weights.safetensors; standard, "
                   "topk or jumprelu), or a hub id (needs hub access). docs/parts.md, 'Published SAEs'.")
@click.option("--hookpoint", default=None, metavar="NAME",
              help="LM, with --pretrained: the SAE's subfolder, e.g. layers.3 (sparsify's layers.N is --site resid "
                   "--layer N+1, layers.N.mlp is --site mlp --layer N). --layer/--site default from the SAE's "
                   "hookpoint: SAELens's hook_name, OWNER/NAME:SUB, this, or the SAE folder's own name.")
@click.option("--n-latents", type=int, default=None, help="SAE latents (default 512).")
@click.option("--k", type=float, default=None,
              help="Active latents per row; a mean per row for batchtopk (default 0.5 with --model, 1 with --parity: "
                   "chosen on tuning worlds, docs/parts.md).")
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

    given = _given(model, parity_run, seed, options, "sae", lm_only={"batch_size", "pretrained", "hookpoint"},
                   parity_only=set())
    if "pretrained" in given:
        _pretrained_options(given)
    if given.get("sparsity") == "topk" and "k" not in given and model is not None:
        raise QuantaError("--sparsity topk needs a whole --k: the default k (0.5) is a mean per row, for batchtopk",
                          "pass --k N with N >= 1, e.g. --k 1")
    if model is not None:
        summary = run_parts_sae_lm(SAEPartsConfig(model=model, **given), out, device=device, force=force)
    else:
        summary = run_parts_sae_parity(SAEParityConfig(run_dir=str(parity_run), **given), out, device=device,
                                       force=force)
    echo_summary(summary, out, keys=KEYS)


@parts.command("acts")
@click.option("--model", default=None, metavar="PATH|NAME",
              help="Language model: a saved model directory, a suite member, or a hub name.")
@click.option("--parity", "parity_run", default=None, metavar="RUN_DIR",
              help="A finished `quanta parity run`: cluster its model's last hidden layer on QDG parity's samples.")
@_lm_site_options
@click.option("--model-id", type=int, default=None, help="Parity: model of the sweep (default the widest).")
@click.option("--n-samples", type=int, default=None,
              help="Parity: low-loss samples clustered, as `quanta qdg parity` (default 2000).")
@click.option("--threshold", type=float, default=None, help="Parity: loss in nats below which a sample is kept (0.1).")
@click.option("--n-tokens", type=int, default=None, help="LM: tokens clustered, a seeded subsample (default 1000).")
@click.option("--n-clusters", default=None,
              help="Parts: a count; LM default n_tokens/25, parity default QDG parity's rule (stability).")
@click.option("--similarity", type=click.Choice(["angular", "abs_angular", "abs_cosine"]), default=None,
              help="Affinity of the centred activations (default: angular on an LM, abs_cosine on parity, as QDG).")
@click.option("--affinity-power", type=int, default=None,
              help="Raise the affinity to this power (default 1, as QDG on an LM and on parity).")
@click.option("--batch-size", type=int, default=None, help="LM: contexts per forward pass (default 8).")
@click.option("--n-contexts", type=int, default=None, help="Top contexts kept per part (default 10).")
@out_option()
@seed_option
@device_option
@force_option
def acts(model, parity_run, out, seed, device, force, **options):
    """Spectral clustering of activations (QDG's code on activations instead of gradients) as parts."""
    from quanta.parts.run import ActsParityConfig, ActsPartsConfig, run_parts_acts_lm, run_parts_acts_parity

    given = _given(model, parity_run, seed, options, "acts", lm_only={"batch_size", "n_tokens"},
                   parity_only={"threshold"})
    if model is not None:
        summary = run_parts_acts_lm(ActsPartsConfig(model=model, **given), out, device=device, force=force)
    else:
        summary = run_parts_acts_parity(ActsParityConfig(run_dir=str(parity_run), **given), out, device=device,
                                        force=force)
    echo_summary(summary, out, keys=KEYS + ("n_clusters",))


def _int_list(text: str, flag: str) -> tuple:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise QuantaError(f"{flag} {text!r} is not a comma-separated list of integers", f"write e.g. {flag} 0,1,2")


@parts.command("bench")
@click.option("--world", "worlds", multiple=True, required=True, metavar="SCALING_RUN",
              help="A `quanta parity analyze` run, or a `quanta lm analyze` run on a planted: corpus; repeatable.")
@click.option("--methods", default="qdg,sae,acts", show_default=True, help="Methods to run, comma-separated.")
@click.option("--seeds", default="0,1,2", show_default=True, help="Seeds of every method, comma-separated.")
@click.option("--max-docs", type=int, default=None, help="LM worlds: documents every method reads (default 100).")
@click.option("--layer", type=int, default=None,
              help="LM worlds: residual-stream layer of sae and acts (default the last block's output).")
@click.option("--n-perm", type=int, default=None, help="Permutations of the truth for the null (default 20).")
@click.option("--set", "overrides", multiple=True, metavar="METHOD.KEY=VALUE",
              help="Override one method's default, e.g. --set sae.n_steps=500; repeatable.")
@out_option()
@device_option
@force_option
@resume_option
def bench(worlds, methods, seeds, max_docs, layer, n_perm, overrides, out, device, force, resume):
    """Run every method on planted worlds and score its parts against the planted quanta (docs/parts.md).

    For each world, method and seed: the method's parts run, the closing test against the world's scaling law,
    the match F1 (and ARI for partitions) with a permutation null, the exponent against α+1 and the wall time.
    Writes scores.parquet, methods.parquet, figures/bench.png and summary.json; --resume continues a killed run.
    """
    from quanta.cli.common import parse_overrides
    from quanta.parts.bench import BenchConfig, bench_markdown, run_bench

    options: dict = {}
    for key, value in parse_overrides(overrides).items():
        method, _, name = key.partition(".")
        if not name:
            raise QuantaError(f"--set {key}=...: name the method, as METHOD.KEY", "write e.g. --set sae.n_steps=500")
        options.setdefault(method, {})[name] = value
    given = {k: v for k, v in {"max_docs": max_docs, "layer": layer, "n_perm": n_perm}.items() if v is not None}
    cfg = BenchConfig(worlds=worlds, methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
                      seeds=_int_list(seeds, "--seeds"), options=options, **given)
    summary, _ = run_bench(cfg, out, device=device, force=force, resume=resume)
    click.echo(bench_markdown(summary).rstrip())
    click.echo(f"wrote {out}")
