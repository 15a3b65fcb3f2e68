"""``quanta lm losses``: per-token losses of every model of a suite on a corpus."""

from __future__ import annotations

import click

from quanta.cli.common import device_option, echo_summary, force_option, out_option, resume_option


@click.command("losses")
@click.option("--suite", "suite", multiple=True, required=True,
              help="pythia, pythia-deduped, pythia-70m, a hub id, a model directory or a train-suite directory; "
                   "repeatable or comma-separated, in order.")
@click.option("--corpus", default="stdlib:test", show_default=True,
              help="Corpus spec: stdlib[:train|:test], a text/jsonl/jsonl.zst/parquet file, a folder or a glob.")
@click.option("--revision", "revisions", multiple=True,
              help="Checkpoint of every model: stepN, main, or all (trained suites); repeatable.")
@click.option("--max-tokens", type=int, default=None, help="Predictions per model at most (leading documents).")
@click.option("--max-docs", type=int, default=None, help="Documents read from the corpus at most.")
@click.option("--context-length", type=int, default=None,
              help="Tokens per document (truncation). Default: a trained suite's, else 1024 (the paper).")
@click.option("--windows", "n_windows", type=int, default=1, show_default=True,
              help="Windows of --context-length tokens per document (1 truncates, as in the paper).")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto", show_default=True,
              help="auto: fp32 on CPU, bf16 on CUDA.")
@click.option("--batch-tokens", type=int, default=None, help="Padded tokens per batch (default 8192 CPU, 65536 CUDA).")
@click.option("--docs-per-shard", type=int, default=256, show_default=True,
              help="Documents per output file (the unit of resuming and of the split across torchrun ranks).")
@click.option("--text-field", default="text", show_default=True, help="jsonl field / parquet column of the text.")
@out_option()
@device_option
@force_option
@resume_option
def losses(suite, corpus, revisions, max_tokens, max_docs, context_length, n_windows, precision, batch_tokens,
           docs_per_shard, text_field, out, device, force, resume):
    """Per-token cross-entropy (nats) of every model of a suite at every position of every document.

    Writes losses/part-*.parquet (doc, pos, token_id, model, loss), models.parquet, docs.parquet and the
    tokenizer. Under `torchrun --nproc-per-node K -m quanta lm losses ...` documents are split across ranks.
    """
    from quanta.lm.losses import LossesConfig, compute_losses

    cfg = LossesConfig(suite=tuple(suite), corpus=corpus, revisions=tuple(revisions), context_length=context_length,
                       n_windows=n_windows, max_tokens=max_tokens, max_docs=max_docs, precision=precision,
                       batch_tokens=batch_tokens, docs_per_shard=docs_per_shard, text_field=text_field)
    summary = compute_losses(cfg, out, device=device, force=force, resume=resume)
    if summary:
        echo_summary(summary, out)
