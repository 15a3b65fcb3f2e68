"""The per-token loss engine: the cross-entropy of every next-token prediction of every model on a corpus.

Batching. Windows (documents truncated to the context length) are sorted by length and grouped into batches of
at most ``batch_tokens`` padded tokens. Rows are right-padded. A causal LM's prediction at position ``i`` attends
only to positions ``<= i``, and in a right-padded row every position ``<= i`` of a real token is real, so padding
can never leak into a real prediction and documents never mix (each row is one document). The padded positions
are dropped before the output head, so they are neither computed nor reported. No attention mask is needed for
that; leaving it out keeps the fused causal attention kernels (``is_causal``) on GPU.

Precision. fp32 on CPU (matches a plain batch-1 computation within 1e-3 nats, a test). On GPU the body runs under
bf16 (or fp16) autocast and the log-softmax is taken in fp32 on the upcast logits; docs/lm.md gives the measured
bf16 deviation.

Output (``quanta lm losses``, docs/tables.md): ``losses/part-SSSSS-mMMM.parquet`` holds the losses of model
``MMM`` on document shard ``SSSSS`` (documents ``S*docs_per_shard ..``), columns ``doc``, ``pos``, ``token_id``,
``model``, ``loss``; ``models.parquet``, ``docs.parquet``; the tokenizer in ``tokenizer/``. A shard file that
exists is finished (writes are atomic), so a killed run resumes where it stopped. Under ``torchrun`` the shards
are split across ranks (shard ``s`` goes to rank ``s % world_size``); the files are the same as in one process.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from quanta.errors import QuantaError
from quanta.lm.corpus import TokenizedWindow
from quanta.lm.models import (SUITE_FILE, count_params, held_out_fraction, load_model, load_tokenizer, resolve_dtype,
                              resolve_suite, suite_dir_of)

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LOSSES_DIR = "losses"
TOKENIZER_DIR = "tokenizer"
# Model families whose base model returns the final (normed) hidden states that the output embedding maps to
# logits with nothing in between, so the head can be applied to the real positions only.
_HEAD_SPLIT_TYPES = {"gpt_neox", "llama", "gpt2", "mistral", "qwen2", "qwen3", "gptj", "phi3"}


# --------------------------------------------------------------------------- batching
def make_batches(lengths: Sequence[int], *, batch_tokens: int, max_batch_size: int | None = None) -> list[list[int]]:
    """Group window indices into batches of at most ``batch_tokens`` padded tokens.

    Windows are taken longest first, so each batch pads to its first window's length. A window longer than
    ``batch_tokens`` gets a batch of its own.

    Returns
    -------
    list of list of int
        Indices into ``lengths``.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    width = 0
    for i in order:
        w = width if cur else lengths[i]
        if cur and ((len(cur) + 1) * w > batch_tokens or (max_batch_size and len(cur) >= max_batch_size)):
            batches.append(cur)
            cur, w = [], lengths[i]
        cur.append(i)
        width = w
    if cur:
        batches.append(cur)
    return batches


def resolve_precision(precision: str | None, device) -> str:
    """``auto`` becomes bf16 on CUDA (fp16 where bf16 is unsupported) and fp32 elsewhere."""
    import torch

    precision = precision or "auto"
    if precision not in PRECISIONS:
        raise QuantaError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}",
                          "fp32 on CPU; bf16 on GPU")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    return precision


def _autocast(device, precision: str):
    import contextlib

    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def per_token_losses(model, windows: Sequence[TokenizedWindow], *, device=None, precision: str = "auto",
                     batch_tokens: int | None = None, max_batch_size: int | None = None,
                     head_chunk: int | None = None) -> pd.DataFrame:
    """Cross-entropy of every next-token prediction of ``model`` on ``windows``.

    Parameters
    ----------
    model : transformers PreTrainedModel
        A causal LM, already on ``device``.
    windows : sequence of TokenizedWindow
        From :func:`quanta.lm.corpus.tokenize_documents`. A window of ``T`` tokens gives ``T - 1`` predictions.
    device : torch.device, optional
        Default: the model's device.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision of the forward pass; the log-softmax is always fp32. ``auto``: bf16 on CUDA, else fp32.
    batch_tokens : int, optional
        Padded tokens per batch. Default 8192 on CPU, 65536 on CUDA.
    max_batch_size : int, optional
        Rows per batch at most.
    head_chunk : int, optional
        Logit elements computed at once (bounds the memory of the output head). Default 2**24 on CPU (64 MB of
        fp32 logits), 2**28 on CUDA.

    Returns
    -------
    pandas.DataFrame
        Columns ``doc`` (int64), ``pos`` (int32: position of the predicted token in its document, >= 1),
        ``token_id`` (int32), ``loss`` (float32, nats), sorted by ``doc`` then ``pos``.
    """
    import torch
    import torch.nn.functional as F

    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    if batch_tokens is None:
        batch_tokens = 65536 if device.type == "cuda" else 8192
    if head_chunk is None:
        head_chunk = 1 << 28 if device.type == "cuda" else 1 << 24
    windows = [w for w in windows if len(w.ids) >= 2]
    n_pred = sum(len(w.ids) - 1 for w in windows)
    out_doc = np.empty(n_pred, dtype=np.int64)
    out_pos = np.empty(n_pred, dtype=np.int32)
    out_tok = np.empty(n_pred, dtype=np.int32)
    out_loss = np.empty(n_pred, dtype=np.float32)
    offsets = np.zeros(len(windows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(w.ids) - 1 for w in windows])
    for k, w in enumerate(windows):
        sl = slice(offsets[k], offsets[k + 1])
        out_doc[sl] = w.doc
        out_pos[sl] = np.arange(w.start + 1, w.start + len(w.ids), dtype=np.int32)
        out_tok[sl] = w.ids[1:]
    if not windows:
        return pd.DataFrame({"doc": out_doc, "pos": out_pos, "token_id": out_tok, "loss": out_loss})
    vocab = model.get_output_embeddings().weight.shape[0] if model.get_output_embeddings() is not None else None
    max_id = max(int(w.ids.max()) for w in windows)
    if vocab is not None and max_id >= vocab:
        raise QuantaError(f"token id {max_id} is outside the model's vocabulary of {vocab}",
                          "the corpus was tokenised with another tokenizer than the model's")
    split_head = (getattr(model.config, "model_type", None) in _HEAD_SPLIT_TYPES
                  and model.get_output_embeddings() is not None
                  and not getattr(model.config, "final_logit_softcapping", None))
    base = getattr(model, model.base_model_prefix) if split_head else None
    head = model.get_output_embeddings() if split_head else None
    lengths = [len(w.ids) for w in windows]
    from quanta.progress import progress

    bar = progress(total=n_pred, desc=f"losses {getattr(model.config, 'name_or_path', '') or 'model'}"[:60], unit="tok")
    with torch.inference_mode(), bar:
        for batch in make_batches(lengths, batch_tokens=batch_tokens, max_batch_size=max_batch_size):
            width = lengths[batch[0]]
            ids = torch.zeros((len(batch), width), dtype=torch.long)  # (B, T), right-padded
            valid = torch.zeros((len(batch), width), dtype=torch.bool)  # (B, T): position predicts a real token
            for r, k in enumerate(batch):
                n = lengths[k]
                ids[r, :n] = torch.from_numpy(windows[k].ids)
                valid[r, :n - 1] = True
            ids = ids.to(device)
            valid_d = valid.to(device)
            targets = ids[:, 1:][valid_d[:, :-1]]  # (M,)
            with _autocast(device, precision):
                if split_head:
                    hidden = base(input_ids=ids, use_cache=False).last_hidden_state  # (B, T, d)
                    h = hidden[valid_d]  # (M, d)
                else:
                    h = model(input_ids=ids, use_cache=False).logits[valid_d]  # (M, V)
                rows = max(1, head_chunk // (vocab or h.shape[-1]))
                pieces = []
                for a in range(0, h.shape[0], rows):
                    logits = head(h[a:a + rows]) if split_head else h[a:a + rows]
                    pieces.append(F.cross_entropy(logits.float(), targets[a:a + rows], reduction="none"))
            loss = torch.cat(pieces).cpu().numpy()  # (M,) in row-major order of (batch row, position)
            # scatter back: row r of the batch holds window batch[r], whose predictions are contiguous
            a = 0
            for r, k in enumerate(batch):
                m = lengths[k] - 1
                out_loss[offsets[k]:offsets[k] + m] = loss[a:a + m]
                a += m
            bar.update(a)
    df = pd.DataFrame({"doc": out_doc, "pos": out_pos, "token_id": out_tok, "loss": out_loss})
    if len(windows) > 1 and not (np.all(np.diff(out_doc) >= 0)):
        df = df.sort_values(["doc", "pos"], kind="stable").reset_index(drop=True)
    return df


def reference_losses(model, window: TokenizedWindow) -> np.ndarray:
    """Per-token losses of one window by the plainest computation: batch 1, fp32, full logits. For tests."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    with torch.inference_mode():
        ids = torch.as_tensor(window.ids, dtype=torch.long, device=device)[None]  # (1, T)
        logits = model(input_ids=ids).logits[0].float()  # (T, V)
        return F.cross_entropy(logits[:-1], ids[0, 1:], reduction="none").cpu().numpy()


# --------------------------------------------------------------------------- the `quanta lm losses` engine
@dataclass(frozen=True)
class LossesConfig:
    """Settings of ``quanta lm losses``.

    Attributes
    ----------
    suite : tuple of str
        Suite items (see :mod:`quanta.lm.models`): ``pythia``, a hub id, a model or trained-suite directory.
    corpus : str
        Corpus spec (see :mod:`quanta.lm.corpus`).
    revisions : tuple of str
        Checkpoints of every model (``stepN``, ``main``, ``all``); empty: final weights.
    context_length : int, optional
        Tokens per document window. Default: the trained suite's context length, else 1024 (the paper).
    n_windows : int
        Windows per document (1: truncate, as in the paper).
    max_tokens : int, optional
        Predictions per model at most (the leading documents' tokens).
    max_docs : int, optional
        Documents read from the corpus at most.
    precision : {"auto", "fp32", "bf16", "fp16"}
        ``auto``: fp32 on CPU, bf16 on CUDA (weights and autocast; log-softmax in fp32).
    batch_tokens : int, optional
        Padded tokens per batch (default 8192 on CPU, 65536 on CUDA).
    docs_per_shard : int
        Documents per output shard (the unit of resumption and of the split across ranks).
    text_field : str
        jsonl field / parquet column of the text.
    """

    suite: tuple = ()
    corpus: str = "stdlib:test"
    revisions: tuple = ()
    context_length: int | None = None
    n_windows: int = 1
    max_tokens: int | None = None
    max_docs: int | None = None
    precision: str = "auto"
    batch_tokens: int | None = None
    docs_per_shard: int = 256
    text_field: str = "text"

    def __post_init__(self):
        suite = (self.suite,) if isinstance(self.suite, str) else tuple(self.suite)
        object.__setattr__(self, "suite", suite)
        revs = (self.revisions,) if isinstance(self.revisions, str) else tuple(self.revisions or ())
        object.__setattr__(self, "revisions", revs)
        if not suite:
            raise QuantaError("suite: no models were given", "pass suite=pythia, suite=DIR or a hub id")
        from quanta.validation import Interval, Options, validate_config

        validate_config(self, {
            "precision": [Options(PRECISIONS)],
            "context_length": [None, Interval(int, 2, None)], "max_tokens": [None, Interval(int, 1, None)],
            "max_docs": [None, Interval(int, 1, None)], "batch_tokens": [None, Interval(int, 2, None)],
            "n_windows": [Interval(int, 1, None)], "docs_per_shard": [Interval(int, 1, None)],
        }, examples={"context_length": 1024, "max_tokens": 100000, "max_docs": 100, "batch_tokens": 16384})


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    initialised_here: bool = False
    backend: str | None = None

    def barrier(self):
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def broadcast(self, obj):
        if self.world == 1:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self):
        if self.initialised_here:
            import torch.distributed as dist

            dist.destroy_process_group()


def _init_distributed(device_arg) -> tuple[_Dist, object]:
    """Join the torchrun process group when WORLD_SIZE > 1 (gloo on CPU, nccl on CUDA); pick this rank's device."""
    import torch

    from quanta.utils import resolve_device

    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device_arg)
    if world <= 1:
        return _Dist(), dev
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    here = False
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
        here = True
    return _Dist(dist.get_rank(), dist.get_world_size(), local_rank, here, backend), dev


def shard_path(out: Path, shard: int, model_index: int) -> Path:
    """Where the losses of model ``model_index`` on document shard ``shard`` go."""
    return Path(out) / LOSSES_DIR / f"part-{shard:05d}-m{model_index:03d}.parquet"


def read_losses(run_dir) -> pd.DataFrame:
    """All per-token losses of a ``quanta lm losses`` run (doc, pos, token_id, model, loss), sorted."""
    files = sorted((Path(run_dir) / LOSSES_DIR).glob("part-*.parquet"))
    if not files:
        raise QuantaError(f"{run_dir} has no {LOSSES_DIR}/part-*.parquet", "pass a quanta lm losses run directory")
    from quanta.store import read_parquet

    df = pd.concat([read_parquet(f) for f in files], ignore_index=True)
    return df.sort_values(["model", "doc", "pos"], kind="stable").reset_index(drop=True)


def _model_positions(config) -> int | None:
    """The most positions a model's config allows (``max_position_embeddings`` or ``n_positions``), or None."""
    get = config.get if isinstance(config, dict) else lambda k: getattr(config, k, None)
    for key in ("max_position_embeddings", "n_positions", "max_seq_len"):
        value = get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _local_positions(path) -> int | None:
    """The position limit of a local model directory's config.json (None for hub ids or unreadable configs)."""
    p = Path(path) / "config.json"
    try:
        return _model_positions(json.loads(p.read_text())) if p.is_file() else None
    except (OSError, ValueError):
        return None


def _check_positions(name: str, limit: int | None, context_length: int) -> None:
    """Refuse windows longer than a model's positions: past them its losses are meaningless, not just worse."""
    if limit is not None and context_length > limit:
        raise QuantaError(f"context_length={context_length} is longer than the {limit} positions model {name} "
                          "was built for", f"pass context_length={limit} or less; n_windows=... covers longer "
                          "documents")


def _default_context_length(refs) -> int:

    for ref in refs:
        suite = suite_dir_of(ref.path)
        if suite is not None:
            return int(json.loads((suite / SUITE_FILE).read_text()).get("context_length", 1024))
    return 1024


def compute_losses(cfg: LossesConfig, out, *, device=None, force: bool = False, resume: bool = False,
                   argv: list[str] | None = None) -> dict:
    """Per-token losses of every model of a suite on a corpus, written as a ``quanta lm losses`` run directory.

    Runs in one process, or in every process of a ``torchrun`` launch (documents split across ranks; rank 0
    writes the manifest and the small tables). Shards already written are skipped, so ``resume`` continues a
    killed run.

    Returns
    -------
    dict
        The summary (written to summary.json): models, their mean loss over the same tokens, counts, throughput.
    """
    from quanta.lm.corpus import limit_tokens, load_corpus, tokenize_documents
    from quanta.store import Run, atomic_write_json, read_json, read_parquet, write_parquet
    from quanta.utils import device_description

    dist_info, dev = _init_distributed(device)
    try:
        precision = resolve_precision(cfg.precision, dev)
        refs = resolve_suite(cfg.suite, revisions=cfg.revisions or None)
        limits = [x for x in (_local_positions(ref.path) for ref in refs) if x is not None]
        context_length = cfg.context_length or _default_context_length(refs)
        if cfg.context_length is None and limits and context_length > min(limits):
            log.info("context length %d capped at %d, the positions of the suite's models", context_length,
                     min(limits))
            context_length = min(limits)  # the default, not the user's choice: cap it at the models' limit
        for ref in refs:  # local models: their position limit is read before anything is written
            _check_positions(ref.name, _local_positions(ref.path), context_length)
        test_fraction = held_out_fraction([ref.path for ref in refs])  # the suite's own split of the corpus
        first = refs[0]
        tokenizer = load_tokenizer(first.path, revision=first.revision)
        run = None
        error = None
        if dist_info.rank == 0:
            try:
                run = Run.create(out, command="lm losses", config=asdict(cfg), device=device_description(dev),
                                 argv=argv, force=force, resume=resume,
                                 inputs=[*([cfg.suite] if isinstance(cfg.suite, str) else cfg.suite),
                                         *(ref.path for ref in refs)])
                run.update_manifest(world_size=dist_info.world, precision=precision, context_length=context_length,
                                    corpus_test_fraction=test_fraction)
            except QuantaError as exc:
                error = exc.one_line()
        error = dist_info.broadcast(error)
        if error is not None:
            raise QuantaError(error)
        out = Path(out)
        t_start = time.perf_counter()
        docs = load_corpus(cfg.corpus, max_docs=cfg.max_docs, text_field=cfg.text_field,
                           test_fraction=test_fraction)
        windows = tokenize_documents(docs, tokenizer, context_length=context_length, n_windows=cfg.n_windows)
        windows = limit_tokens(windows, cfg.max_tokens)
        if not windows:
            raise QuantaError(f"corpus {cfg.corpus!r} gives no window of 2 or more tokens",
                              "use a corpus with longer documents")
        doc_ids = sorted({w.doc for w in windows})
        shard_of = {d: i // cfg.docs_per_shard for i, d in enumerate(doc_ids)}
        n_shards = shard_of[doc_ids[-1]] + 1
        by_shard: dict[int, list] = {}
        for w in windows:
            by_shard.setdefault(shard_of[w.doc], []).append(w)
        mine = [s for s in range(n_shards) if s % dist_info.world == dist_info.rank]
        t_tok = time.perf_counter() - t_start
        meta_dir = out / LOSSES_DIR / "_models"
        n_done = n_new_tokens = 0
        engine_s = 0.0
        first_vocab = tokenizer.get_vocab()
        for mi, ref in enumerate(refs):
            todo = [s for s in mine if not shard_path(out, s, mi).exists()]
            meta_file = meta_dir / f"m{mi:03d}.json"
            need_meta = dist_info.rank == 0 and not meta_file.exists()
            n_done += len(mine) - len(todo)
            if not todo and not need_meta:
                continue
            if need_meta and not todo and ref.n_params is not None:
                atomic_write_json(meta_file, _model_meta(ref, ref.n_params, ref.n_params_nonembed, mi))
                continue
            model, tok = load_model(ref, device=dev, dtype=resolve_dtype(precision, dev))
            _check_positions(ref.name, _model_positions(model.config), context_length)
            if tok.get_vocab() != first_vocab:
                raise QuantaError(f"suite: {ref.name} has another tokenizer than {first.name}",
                                  "a suite's models must share one tokenizer")
            if need_meta:
                n_params, n_nonembed = count_params(model)
                atomic_write_json(meta_file, _model_meta(ref, n_params, n_nonembed, mi))
            for s in todo:
                t0 = time.perf_counter()
                df = per_token_losses(model, by_shard[s], device=dev, precision=precision,
                                      batch_tokens=cfg.batch_tokens)
                engine_s += time.perf_counter() - t0
                df.insert(3, "model", ref.name)
                write_parquet(shard_path(out, s, mi), df)
                n_new_tokens += len(df)
            del model
        dist_info.barrier()
        if dist_info.rank != 0:
            return {}
        models = pd.DataFrame([read_json(meta_dir / f"m{mi:03d}.json") for mi in range(len(refs))])
        models = models.sort_values(["n_params_nonembed", "step", "index"], kind="stable").reset_index(drop=True)
        models["order"] = np.arange(len(models))
        models = models[["model", "n_params", "n_params_nonembed", "step", "order", "family", "revision", "path",
                         "index"]]
        n_tokens = {d: 0 for d in doc_ids}
        for w in windows:
            n_tokens[w.doc] += len(w.ids)
        source = {d.doc: d.source for d in docs}
        docs_df = pd.DataFrame({"doc": np.asarray(doc_ids, dtype=np.int64),
                                "source": [source[d] for d in doc_ids],
                                "n_tokens": np.asarray([n_tokens[d] for d in doc_ids], dtype=np.int64)})
        run.write_table("models", models)
        run.write_table("docs", docs_df)
        tok_out = out / TOKENIZER_DIR
        if tok_out.exists():
            shutil.rmtree(tok_out)
        tokenizer.save_pretrained(str(tok_out))
        means = {}
        for mi, name in enumerate(models.sort_values("index")["model"]):
            parts = [read_parquet(shard_path(out, s, mi), columns=["loss"])["loss"] for s in range(n_shards)]
            means[name] = float(pd.concat(parts).astype("float64").mean())
        ordered = list(models["model"])
        summary = {
            "n_models": len(refs),
            "models": ordered,
            "mean_loss": [means[m] for m in ordered],
            "n_params_nonembed": [int(x) for x in models["n_params_nonembed"]],
            "n_docs": len(doc_ids),
            "n_tokens_per_model": int(sum(w.n_predictions for w in windows)),
            "context_length": context_length,
            "precision": precision,
            "n_shards": n_shards,
            "world_size": dist_info.world,
            "tokenize_seconds": t_tok,
            "engine_tokens_per_second_rank0": (n_new_tokens / engine_s) if engine_s > 0 else None,
            "shards_skipped_rank0": n_done,
        }
        return run.finish(summary)
    except BaseException as exc:
        if dist_info.rank == 0 and 'run' in locals() and run is not None:
            run.fail(exc)
        raise
    finally:
        dist_info.close()


def _model_meta(ref, n_params: int, n_nonembed: int, index: int) -> dict:
    return {"model": ref.name, "n_params": int(n_params), "n_params_nonembed": int(n_nonembed),
            "step": int(ref.step), "family": ref.name.split("@")[0], "revision": ref.revision or "", "path": ref.path,
            "index": index}
