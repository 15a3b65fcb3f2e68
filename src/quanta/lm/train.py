"""Training a suite offline: GPT-NeoX models of several sizes on one corpus (``quanta lm train-suite``).

:func:`train_suite` trains every size of a :class:`SuiteConfig` on the same rows in the same order, evaluates
each on held-out documents at log-spaced checkpoints (with :func:`quanta.lm.losses.per_token_losses`), and saves a
suite directory that :func:`quanta.lm.models.resolve_suite` and :func:`quanta.lm.models.load_model` read back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from quanta.errors import QuantaError
from quanta.lm.losses import per_token_losses
from quanta.lm.models import CHECKPOINTS_DIR, SUITE_FILE, _quiet_transformers, count_params, load_tokenizer
from quanta.validation import MAX_SEED, is_real, seed_range

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- building and training a suite
def neox_config(*, vocab_size: int, hidden_size: int, n_layers: int, n_heads: int, max_positions: int,
                intermediate_size: int | None = None, rotary_pct: float = 0.25, eos_token_id: int = 0):
    """A GPT-NeoX (Pythia architecture) config; works on transformers 4.45+ and 5.x.

    Pythia's choices: parallel residual, rotary embeddings on ``rotary_pct`` of each head, untied embeddings,
    intermediate size 4x hidden.
    """
    import inspect

    from transformers import GPTNeoXConfig

    kw = dict(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=n_layers,
              num_attention_heads=n_heads, intermediate_size=intermediate_size or 4 * hidden_size,
              max_position_embeddings=max_positions, use_parallel_residual=True, tie_word_embeddings=False,
              bos_token_id=eos_token_id, eos_token_id=eos_token_id, hidden_dropout=0.0, attention_dropout=0.0)
    if "rope_parameters" in inspect.signature(GPTNeoXConfig.__init__).parameters:  # transformers 5.x
        kw["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": rotary_pct}
    else:  # transformers 4.x
        kw["rotary_pct"] = rotary_pct
        kw["rotary_emb_base"] = 10000
    return GPTNeoXConfig(**kw)


def build_neox(config, *, seed: int):
    """A randomly initialised ``GPTNeoXForCausalLM`` in fp32 (the dtype set explicitly, see OFFLINE.md)."""
    import torch
    from transformers import GPTNeoXForCausalLM

    torch.manual_seed(seed)
    return GPTNeoXForCausalLM(config).to(torch.float32)


@dataclass(frozen=True)
class ModelSize:
    """One member of a trained suite: width, depth, heads and its peak learning rate."""

    hidden_size: int
    n_layers: int
    n_heads: int
    lr: float

    @property
    def name(self) -> str:
        return f"neox-d{self.hidden_size}-l{self.n_layers}"


def _sizes(rows) -> tuple[ModelSize, ...]:
    return tuple(ModelSize(*r) for r in rows)


# name -> settings. The sizes span >= 1.5 decades of non-embedding parameters (cpu), >= 2 (gpu).
PRESETS: dict[str, dict] = {
    "tiny": dict(sizes=_sizes([(16, 1, 2, 3e-3), (32, 2, 2, 3e-3)]), vocab_size=384, context_length=32,
                 batch_size=8, steps=12, warmup_steps=2, n_checkpoints=3, tokenizer_chars=150_000,
                 eval_tokens=2_000),
    "cpu": dict(sizes=_sizes([(16, 2, 2, 1e-2), (32, 2, 2, 1e-2), (48, 3, 4, 8e-3), (64, 3, 4, 7e-3),
                              (96, 3, 4, 5e-3)]),
                vocab_size=512, context_length=128, batch_size=16, steps=600, warmup_steps=60, n_checkpoints=6,
                tokenizer_chars=1_500_000, eval_tokens=32_000),
    "gpu": dict(sizes=_sizes([(64, 2, 2, 2e-3), (128, 3, 4, 1.5e-3), (192, 4, 4, 1.2e-3), (256, 5, 8, 1e-3),
                              (384, 6, 8, 8e-4), (512, 8, 8, 6e-4)]),
                vocab_size=8192, context_length=512, batch_size=64, steps=4000, warmup_steps=200,
                n_checkpoints=20, tokenizer_chars=20_000_000, eval_tokens=500_000),
}


@dataclass(frozen=True)
class SuiteConfig:
    """Settings of ``quanta lm train-suite``. Unset fields (None) come from the preset.

    Attributes
    ----------
    corpus : str
        Corpus spec (see :mod:`quanta.lm.corpus`); documents are split into train and held-out by source.
    preset : {"tiny", "cpu", "gpu"}
    sizes : tuple of ModelSize
        (hidden_size, n_layers, n_heads, lr) of every model, small to large.
    vocab_size : int
        Byte-level BPE vocabulary (the tokenizer is trained on the training split).
    context_length : int
        Tokens per training row (and the held-out evaluation's truncation).
    batch_size, steps, warmup_steps : int
        Rows per step, optimizer steps (the same data order for every size), linear warmup steps.
    n_checkpoints : int
        Checkpoints at log-spaced steps (the last one is the final model).
    tokenizer_chars : int
        Characters of training text the tokenizer is trained on.
    eval_tokens : int
        Held-out predictions used for the evaluation at each checkpoint.
    eval_windows : int
        Windows of ``context_length`` tokens per held-out document at most (16: most of each file).
    test_fraction : float
        Held-out share of documents.
    weight_decay : float
    seed : int
    """

    corpus: str = "stdlib"
    preset: str = "cpu"
    sizes: tuple | None = None
    vocab_size: int | None = None
    context_length: int | None = None
    batch_size: int | None = None
    steps: int | None = None
    warmup_steps: int | None = None
    n_checkpoints: int | None = None
    tokenizer_chars: int | None = None
    eval_tokens: int | None = None
    eval_windows: int = 16
    test_fraction: float = 0.1
    weight_decay: float = 0.01
    seed: int = 0

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise QuantaError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}",
                              "cpu trains in minutes on 2 cores; gpu needs a GPU; tiny is for tests")
        base = PRESETS[self.preset]
        for key, value in base.items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        def _size(s):
            if isinstance(s, ModelSize):
                return s
            if isinstance(s, dict) and set(s) == {"hidden_size", "n_layers", "n_heads", "lr"}:  # asdict's form
                s = [s["hidden_size"], s["n_layers"], s["n_heads"], s["lr"]]
            ok = (isinstance(s, (list, tuple)) and len(s) == 4 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                       for v in s[:3])
                  and is_real(s[3]))
            if not ok:
                raise QuantaError(f"sizes: each model is [hidden_size, n_layers, n_heads, lr], got {s!r}",
                                  "e.g. sizes=[[32,1,2,0.003],[64,2,4,0.002]]")
            return ModelSize(*s)

        if not isinstance(self.sizes, (list, tuple)):
            raise QuantaError(f"sizes must be a list of models, got {self.sizes!r}",
                              "e.g. sizes=[[32,1,2,0.003],[64,2,4,0.002]]")
        sizes = tuple(_size(s) for s in self.sizes)
        object.__setattr__(self, "sizes", sizes)
        if not sizes:
            raise QuantaError("sizes: at least one model size is needed", "e.g. sizes=[[32,1,2,0.003]]")
        for s in sizes:
            if s.hidden_size % s.n_heads or s.hidden_size < 4 or s.n_layers < 1 or not s.lr > 0:
                raise QuantaError(f"sizes: {s} is invalid (hidden_size must be divisible by n_heads, "
                                  "n_layers >= 1, lr > 0)", "e.g. [64, 2, 4, 0.002]")
        names = [s.name for s in sizes]
        if len(set(names)) != len(names):
            raise QuantaError(f"sizes: two models have the same shape ({', '.join(names)})", "list each shape once")
        for key, low in (("vocab_size", 260), ("context_length", 4), ("batch_size", 1), ("steps", 1),
                         ("n_checkpoints", 1), ("tokenizer_chars", 1000), ("eval_tokens", 1),
                         ("eval_windows", 1)):
            value = getattr(self, key)
            if not isinstance(value, int) or value < low:
                raise QuantaError(f"{key} must be an integer >= {low}, got {value!r}", f"e.g. {base.get(key, low)}")
        if not (isinstance(self.warmup_steps, int) and 0 <= self.warmup_steps < self.steps):
            raise QuantaError(f"warmup_steps must be in [0, steps), got {self.warmup_steps!r}", "e.g. steps // 10")
        if not (is_real(self.test_fraction) and 0.0 < self.test_fraction < 1.0):
            raise QuantaError(f"test_fraction must be in (0, 1), got {self.test_fraction!r}", "e.g. 0.1")
        if not (is_real(self.weight_decay) and 0.0 <= self.weight_decay < 1.0):
            raise QuantaError(f"weight_decay must be in [0, 1), got {self.weight_decay!r}", "e.g. 0.01")
        if not seed_range().is_satisfied_by(self.seed):
            raise QuantaError(f"seed must be an integer in [0, {MAX_SEED}], got {self.seed!r}", "e.g. 0")


def checkpoint_steps(steps: int, n: int) -> list[int]:
    """About ``n`` log-spaced steps from 1 to ``steps`` (both included), distinct and sorted."""
    if n <= 1:
        return [steps]
    grid = np.unique(np.round(np.logspace(0, np.log10(steps), n)).astype(int))
    return sorted(set(int(s) for s in grid) | {steps})


def train_tokenizer(texts, *, vocab_size: int):
    """A byte-level BPE tokenizer (GPT-2/Pythia style, ``<|endoftext|>`` as its one special token) trained offline.

    Returns a ``transformers`` fast tokenizer whose eos, bos and pad are ``<|endoftext|>`` (id 0).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOT, eos_token=EOT, unk_token=EOT,
                                   pad_token=EOT, model_max_length=1_000_000)


EOT = "<|endoftext|>"


def _training_rows(docs, tokenizer, *, n_rows: int, context_length: int, seed: int) -> np.ndarray:
    """``(n_rows, context_length)`` token rows: documents in a seeded order, joined by EOT, cut into rows.

    Every model of the suite trains on these rows in this order. When the corpus is too small it is reused
    in a new seeded order (another epoch). The rows are then shuffled (seeded), so that a batch holds rows
    from many files: consecutive rows come from one file, and unshuffled batches of one or two files gave
    held-out losses 0.46-0.73 nats worse on the cpu preset.
    """
    from quanta.lm.corpus import encode_texts

    rng = np.random.default_rng(seed)
    eot = tokenizer.convert_tokens_to_ids(EOT)
    need = n_rows * context_length
    stream: list[np.ndarray] = []
    have = 0
    epoch = 0
    while have < need:
        order = rng.permutation(len(docs))
        for a in range(0, len(order), 64):
            chunk = [docs[i].text for i in order[a:a + 64]]
            for ids in encode_texts(tokenizer, chunk, add_special_tokens=False):
                stream.append(np.asarray(ids + [eot], dtype=np.int64))
                have += len(ids) + 1
            if have >= need:
                break
        epoch += 1
        if epoch > 1000:
            raise QuantaError("corpus: too little text to train on", "use a larger corpus")
    flat = np.concatenate(stream)[:need]
    return flat.reshape(n_rows, context_length)[rng.permutation(n_rows)]


def _heldout_windows(docs, tokenizer, *, context_length: int, eval_tokens: int, n_windows: int):
    """Held-out windows: up to ``n_windows`` per document, so the evaluation sees whole files and not only their
    beginnings; documents are taken round-robin (first windows of all documents, then second windows, ...)
    until ``eval_tokens`` predictions."""
    from quanta.lm.corpus import limit_tokens, tokenize_documents

    wins = tokenize_documents(docs, tokenizer, context_length=context_length, n_windows=n_windows,
                              add_special_tokens=False)
    wins.sort(key=lambda w: (w.start, w.doc))
    return limit_tokens(wins, eval_tokens)


def _lr_at(step: int, cfg: SuiteConfig, peak: float) -> float:
    """Linear warmup, then cosine decay to 10% of the peak (step counts from 1)."""
    if step <= cfg.warmup_steps:
        return peak * step / max(cfg.warmup_steps, 1)
    frac = (step - cfg.warmup_steps) / max(cfg.steps - cfg.warmup_steps, 1)
    return peak * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac)))


def train_suite(cfg: SuiteConfig, out, *, device=None, force: bool = False, resume: bool = False,
                argv: list[str] | None = None) -> dict:
    """Train a suite of GPT-NeoX models of several sizes on a corpus and save it as a run directory.

    Writes ``suite.json`` (models in size order, their parameter counts and checkpoints), ``tokenizer/``,
    ``models/<name>/`` (``save_pretrained`` directories, each with the tokenizer, and
    ``checkpoints/step-N/``), and the tables ``models.parquet`` (name, n_params, n_params_nonembed, step,
    order, hidden_size, n_layers, n_heads, lr, heldout_loss, train_seconds), ``train.parquet`` (model, step,
    loss, lr) and ``eval.parquet`` (model, step, heldout_loss). With ``resume``, models already trained are
    kept.

    Returns
    -------
    dict
        The summary: held-out loss per model, whether it falls with every size, the parameter span in decades.
    """
    import pandas as pd
    import torch

    from quanta.lm.corpus import load_corpus, split_documents
    from quanta.store import Run, atomic_write_json
    from quanta.utils import device_description, resolve_device

    dev = resolve_device(device)
    cfg_dict = asdict(cfg)
    # read and check the corpus before anything is written, so bad input leaves no run directory behind
    docs = load_corpus(cfg.corpus)
    train_docs, test_docs = split_documents(docs, test_fraction=cfg.test_fraction)
    if not train_docs or not test_docs:
        raise QuantaError(f"corpus {cfg.corpus!r}: {len(docs)} documents give an empty train or held-out "
                          "split", "use a corpus with more documents (each file or record is one)")
    with Run.create(out, command="lm train-suite", config=cfg_dict, seed=cfg.seed, device=device_description(dev),
                    argv=argv, force=force, resume=resume) as run:
        tok_dir = run.path / "tokenizer"
        with run.timer("tokenizer"):
            if resume and (tok_dir / "tokenizer.json").is_file():
                tokenizer = load_tokenizer(str(tok_dir))
            else:
                rng = np.random.default_rng(cfg.seed)
                order = rng.permutation(len(train_docs))

                def texts():
                    left = cfg.tokenizer_chars
                    for i in order:
                        if left <= 0:
                            return
                        t = train_docs[i].text[:left]
                        left -= len(t)
                        yield t

                tokenizer = train_tokenizer(texts(), vocab_size=cfg.vocab_size)
                tokenizer.save_pretrained(str(tok_dir))
        with run.timer("data"):
            rows = torch.from_numpy(_training_rows(train_docs, tokenizer, n_rows=cfg.steps * cfg.batch_size,
                                                   context_length=cfg.context_length, seed=cfg.seed))
            rows = rows.view(cfg.steps, cfg.batch_size, cfg.context_length)  # (S, B, T)
            heldout = _heldout_windows(test_docs, tokenizer, context_length=cfg.context_length,
                                       eval_tokens=cfg.eval_tokens, n_windows=cfg.eval_windows)
        ck_steps = checkpoint_steps(cfg.steps, cfg.n_checkpoints)
        entries, train_rows, eval_rows = [], [], []
        for order_i, size in enumerate(cfg.sizes):
            mdir = run.path / "models" / size.name
            meta_path = mdir / "quanta_model.json"
            meta = json.loads(meta_path.read_text()) if (resume and meta_path.is_file()) else {}
            if "entry" in meta:
                entries.append(meta["entry"])
                train_rows.extend(meta["train"])
                eval_rows.extend(meta["eval"])
                continue
            with run.timer(f"train_{size.name}"):
                t0 = time.perf_counter()
                (n_params, n_nonembed), m_train, m_eval = _train_model(
                    size, cfg=cfg, tokenizer=tokenizer, rows=rows, heldout=heldout, ck_steps=ck_steps, device=dev,
                    model_dir=mdir)
                tokenizer.save_pretrained(str(mdir))
            entry = {"name": size.name, "path": f"models/{size.name}", "n_params": n_params,
                     "n_params_nonembed": n_nonembed, "step": cfg.steps, "order": order_i,
                     "hidden_size": size.hidden_size, "n_layers": size.n_layers, "n_heads": size.n_heads,
                     "lr": size.lr, "heldout_loss": m_eval[-1]["heldout_loss"],
                     "train_seconds": time.perf_counter() - t0,
                     "checkpoints": [s for s in ck_steps if s != cfg.steps]}
            atomic_write_json(meta_path, {"step": cfg.steps, "entry": entry, "train": m_train, "eval": m_eval})
            entries.append(entry)
            train_rows.extend(m_train)
            eval_rows.extend(m_eval)
            log.info("%s: %d non-embedding parameters, held-out loss %.4f", size.name, n_nonembed,
                     entry["heldout_loss"])
        entries.sort(key=lambda e: (e["n_params_nonembed"], e["order"]))
        for i, e in enumerate(entries):
            e["order"] = i
        atomic_write_json(run.path / SUITE_FILE, {
            "format": 1, "tokenizer": "tokenizer", "context_length": cfg.context_length, "corpus": cfg.corpus,
            "test_fraction": cfg.test_fraction, "models": entries})
        run.write_table("models", pd.DataFrame([{k: v for k, v in e.items() if k != "checkpoints"} for e in entries]))
        run.write_table("train", pd.DataFrame(train_rows))
        run.write_table("eval", pd.DataFrame(eval_rows))
        losses = [e["heldout_loss"] for e in entries]
        nonembed = [e["n_params_nonembed"] for e in entries]
        summary = {
            "n_models": len(entries),
            "models": [e["name"] for e in entries],
            "n_params_nonembed": nonembed,
            "heldout_loss": losses,
            "decades_nonembed": float(np.log10(max(nonembed) / min(nonembed))),
            "loss_falls_with_size": bool(all(b < a for a, b in zip(losses, losses[1:]))),
            "tokens_per_model": cfg.steps * cfg.batch_size * cfg.context_length,
            "n_train_docs": len(train_docs),
            "n_heldout_docs": len(test_docs),
            "heldout_tokens": int(sum(w.n_predictions for w in heldout)),
        }
        return run.finish(summary)


def _train_model(size: ModelSize, *, cfg: SuiteConfig, tokenizer, rows, heldout, ck_steps, device, model_dir: Path):
    """Train one member of a suite on ``rows`` ``(S, B, T)``; save checkpoints at ``ck_steps`` (the last into
    ``model_dir``). Returns ((n_params, n_params_nonembed), training rows, held-out rows)."""
    import torch
    import torch.nn.functional as F

    from quanta.progress import progress

    config = neox_config(vocab_size=len(tokenizer), hidden_size=size.hidden_size, n_layers=size.n_layers,
                         n_heads=size.n_heads, max_positions=max(cfg.context_length, 64),
                         eos_token_id=tokenizer.convert_tokens_to_ids(EOT))
    model = build_neox(config, seed=cfg.seed).to(device)
    counts = count_params(model)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=size.lr, betas=(0.9, 0.95))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    m_train, m_eval = [], []
    model.train()
    bar = progress(total=cfg.steps, desc=size.name, unit="step")
    for step in range(1, cfg.steps + 1):
        lr = _lr_at(step, cfg, size.lr)
        for g in opt.param_groups:
            g["lr"] = lr
        x = rows[step - 1].to(device)  # (B, T)
        with autocast:  # bf16 on CUDA (fp32 master weights), nothing on CPU
            logits = model(input_ids=x, use_cache=False).logits  # (B, T, V)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        m_train.append({"model": size.name, "step": step, "loss": float(loss.detach()), "lr": lr})
        bar.update(1)
        if step in ck_steps:
            model.eval()
            h = float(per_token_losses(model, heldout, device=device, precision="fp32")["loss"].mean())
            model.train()
            m_eval.append({"model": size.name, "step": step, "heldout_loss": h})
            target = model_dir if step == cfg.steps else model_dir / CHECKPOINTS_DIR / f"step-{step:06d}"
            _save_model(model, target, step)
    bar.close()
    return counts, m_train, m_eval


def _save_model(model, target: Path, step: int) -> None:
    """``save_pretrained`` into a temporary folder, then move its files into ``target`` (atomic per file)."""
    import tempfile

    _quiet_transformers()
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(str(tmp), safe_serialization=True)
        (tmp / "quanta_model.json").write_text(json.dumps({"step": step}) + "\n")
        for f in sorted(tmp.iterdir(), key=lambda f: f.name == "quanta_model.json"):
            os.replace(f, target / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
