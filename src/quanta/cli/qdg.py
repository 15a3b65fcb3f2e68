"""``quanta qdg``: quanta discovery from gradients, on a language model or on a parity run.

``quanta qdg --model M --out DIR`` runs QDG on a language model (the group's own options);
``quanta qdg parity RUN_DIR --out DIR`` runs it on a trained sparse parity model and scores it.
"""

from __future__ import annotations

import click

from quanta.cli.common import device_option, echo_summary, force_option, out_option, seed_option
from quanta.errors import QuantaError

LM_KEYS = ("n_tokens", "n_candidates", "grad_dim", "project", "n_clusters", "eigengap_n_clusters", "graph",
           "eigen_solver",
           "zipf_exponent", "zipf_exponent_ci", "zipf_exponent_envelope", "zipf_exponent_envelope_ci")
PARITY_KEYS = ("model_id", "width", "n_samples", "n_dropped", "precondition", "affinity_power", "cluster_count_rule",
               "n_clusters", "ari", "purity", "eigengap_n_clusters", "ari_eigengap", "n_clusters_oracle", "ari_oracle",
               "ari_null", "zipf_exponent", "zipf_exponent_ci",
               "zipf_true", "zipf_exponent_tasks")


def _int_list(text: str | None, name: str):
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError as exc:
        raise QuantaError(f"{name}: expected comma-separated integers, got {text!r}", f"write e.g. {name} 10,20,50") \
            from exc


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", "model", default=None, metavar="PATH|NAME",
              help="Language model: a saved model directory, a suite member, or a hub name (pythia-70m).")
@click.option("--revision", default=None, help="Checkpoint of the model (stepN); default the final weights.")
@click.option("--corpus", default="stdlib:test", show_default=True, help="Corpus spec (see quanta lm losses).")
@click.option("--max-docs", type=int, default=100, show_default=True, help="Documents read at most.")
@click.option("--context-length", type=int, default=128, show_default=True,
              help="Tokens kept per document (the paper: 1024).")
@click.option("--threshold", type=float, default=0.1, show_default=True,
              help="Candidate tokens have loss below this many nats.")
@click.option("--keep-induction", is_flag=True, help="Keep tokens that complete a trigram seen earlier.")
@click.option("--n-tokens", type=int, default=300, show_default=True,
              help="Tokens clustered (seeded subsample; the paper: 10000).")
@click.option("--params", "params", multiple=True, metavar="GLOB",
              help="Parameters to take gradients of (glob over names; repeatable). Default: attention and MLP "
                   "weights.")
@click.option("--include-bias", is_flag=True, help="Also the biases of the selected layers.")
@click.option("--project", type=int, default=8192, show_default=True,
              help="Sketch gradients to this many dimensions (0: exact).")
@click.option("--counts", default=None, metavar="K1,K2,...", help="Cluster counts of the sweep (default: a grid).")
@click.option("--n-clusters", type=int, default=None, help="Headline cluster count (default: n_tokens/25).")
@click.option("--assign", type=click.Choice(["cluster_qr", "kmeans"]), default="cluster_qr", show_default=True,
              help="How labels are read off the eigenvectors.")
@click.option("--dense-max", type=int, default=20000, show_default=True,
              help="Above this many tokens the affinity is a sparse kNN graph.")
@click.option("--n-neighbors", type=int, default=30, show_default=True, help="Neighbours in the kNN graph.")
@click.option("--eigen-solver", type=click.Choice(["auto", "dense", "lanczos", "amg", "chebyshev"]), default="auto",
              show_default=True, help="Eigensolver of the spectral step (auto: LAPACK/eigh for a dense affinity, "
                                      "Chebyshev subspace iteration for a kNN graph).")
@click.option("--similarity", type=click.Choice(["angular", "abs_angular", "abs_cosine"]), default="angular",
              show_default=True, help="Affinity: the paper's 1 - arccos(cos)/π, the same of |cos|, or |cos|.")
@click.option("--affinity-power", type=int, default=1, show_default=True,
              help="Raise the affinity to this power (1: the paper's; see docs/qdg.md).")
@click.option("--rank-range", default=None, metavar="LO,HI",
              help="Ranks of the envelope fit (default 1..n_clusters; the paper: 100,1000).")
@click.option("--precondition", type=click.Choice(["none", "diag"]), default="none", show_default=True,
              help="diag: divide every gradient coordinate by its RMS over the tokens (before the sketch; "
                   "computes the gradients twice).")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Contexts per forward pass.")
@out_option(required=False)
@seed_option
@device_option
@force_option
@click.pass_context
def qdg(ctx, model, revision, corpus, max_docs, context_length, threshold, keep_induction, n_tokens, params,
        include_bias, project, counts, n_clusters, assign, dense_max, n_neighbors, eigen_solver, similarity,
        affinity_power, rank_range, precondition, batch_size, out, seed, device, force):
    """Quanta discovery from gradients (docs/science.md §4).

    With --model: QDG on a language model. Writes tokens, clusters for every count, sizes, the rank-frequency
    envelope, contexts per cluster (contexts.parquet) and figures. With the `parity` subcommand: QDG on a parity
    run, scored against the true tasks.
    """
    if ctx.invoked_subcommand is not None:
        given = [k for k, v in ctx.params.items() if ctx.get_parameter_source(k).name == "COMMANDLINE"]
        if given:
            raise QuantaError(f"options {', '.join('--' + g.replace('_', '-') for g in given)} belong to the LM run, "
                              f"not to `quanta qdg {ctx.invoked_subcommand}`",
                              f"put options after the subcommand: quanta qdg {ctx.invoked_subcommand} ... --out DIR")
        return
    if model is None:
        if not any(ctx.get_parameter_source(k).name == "COMMANDLINE" for k in ctx.params):
            click.echo(ctx.get_help())  # bare `quanta qdg`: the help
            return
        raise QuantaError("--model is required for QDG on a language model",
                          "pass --model PATH|NAME, or use `quanta qdg parity RUN_DIR`; see `quanta qdg --help`")
    if out is None:
        raise QuantaError("--out is required", "pass --out DIR for the run directory")
    from quanta.qdg import QDGConfig, run_qdg_lm

    rr = _int_list(rank_range, "--rank-range")
    cfg = QDGConfig(model=model, revision=revision, corpus=corpus, max_docs=max_docs, context_length=context_length,
                    threshold=threshold, drop_induction=not keep_induction, n_tokens=n_tokens,
                    params=tuple(params) or None, include_bias=include_bias, project=project or None,
                    counts=_int_list(counts, "--counts"), n_clusters=n_clusters, assign=assign, dense_max=dense_max,
                    n_neighbors=n_neighbors, eigen_solver=eigen_solver, similarity=similarity,
                    affinity_power=affinity_power, rank_range=rr, precondition=precondition, batch_size=batch_size,
                    seed=0 if seed is None else seed)
    summary = run_qdg_lm(cfg, out, device=device, force=force)
    echo_summary(summary, out, keys=LM_KEYS)


@qdg.command("parity")
@click.argument("run_dir", type=click.Path(exists=False, file_okay=False))
@click.option("--model-id", type=int, default=None, help="Model of the sweep (default: the widest).")
@click.option("--n-samples", type=int, default=2000, show_default=True,
              help="Samples whose loss is below --threshold that are clustered.")
@click.option("--threshold", type=float, default=0.1, show_default=True,
              help="Per-sample loss (nats) below which a sample is clustered; no task id is used.")
@click.option("--n-clusters", default="stability", show_default=True,
              metavar="stable_eigengap|stability|eigengap|K",
              help="Cluster count: a label-free rule (the eigengap among counts stable under subsampling, stability "
                   "alone, the eigengap alone), or K.")
@click.option("--k-max", type=int, default=None, help="Largest count of the sweep (default min(60, n/20)).")
@click.option("--learned-bits", type=float, default=0.1, show_default=True,
              help="Diagnostics only: a task counts as learned below this final test loss in bits (*_oracle).")
@click.option("--counts", default=None, metavar="K1,K2,...", help="Cluster counts of the sweep (default: a grid).")
@click.option("--project", type=int, default=0, show_default=True, help="Sketch dimension (0: exact gradients).")
@click.option("--n-neighbors", type=int, default=None,
              help="Cluster a kNN graph with this many neighbours instead of the dense affinity.")
@click.option("--similarity", type=click.Choice(["angular", "abs_angular", "abs_cosine"]), default="abs_cosine",
              show_default=True, help="Affinity: the paper's angular one, or a sign-invariant one (see docs/qdg.md).")
@click.option("--affinity-power", type=int, default=1, show_default=True,
              help="Raise the affinity to this power (sharpens it; see docs/qdg.md).")
@click.option("--params", "params", multiple=True, metavar="GLOB",
              help="Parameters to take gradients of (glob; repeatable), e.g. layers.0.bias for the hidden units' "
                   "backprop signal. Default: every linear weight.")
@click.option("--precondition", type=click.Choice(["none", "diag"]), default="none", show_default=True,
              help="diag: divide every gradient coordinate by its RMS over the samples (reads the task code of the "
                   "input: see docs/qdg.md).")
@click.option("--null-control/--no-null-control", default=True, show_default=True,
              help="Also score the same pipeline on the model's initial weights (ari_null).")
@click.option("--n-boot", type=int, default=200, show_default=True,
              help="Bootstrap replicates of the Zipf fit's bias correction and interval.")
@out_option()
@seed_option
@device_option
@force_option
def parity(run_dir, model_id, n_samples, threshold, n_clusters, k_max, learned_bits, counts, project, n_neighbors,
           similarity, affinity_power, params, precondition, null_control, n_boot, out, seed, device, force):
    """QDG on one model of a `quanta parity run`, label-free; scored afterwards against the true task ids."""
    from quanta.qdg.parity import ParityQDGConfig, run_qdg_parity

    cfg = ParityQDGConfig(run_dir=str(run_dir), model_id=model_id, n_samples=n_samples, threshold=threshold,
                          n_clusters=n_clusters, k_max=k_max, learned_bits=learned_bits,
                          counts=_int_list(counts, "--counts"),
                          project=project or None, n_neighbors=n_neighbors, similarity=similarity,
                          affinity_power=affinity_power, params=tuple(params) or None, precondition=precondition,
                          null_control=null_control, n_boot=n_boot, seed=0 if seed is None else seed)
    summary = run_qdg_parity(cfg, out, device=device, force=force)
    echo_summary(summary, out, keys=PARITY_KEYS)
