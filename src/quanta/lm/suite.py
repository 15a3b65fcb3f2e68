"""Model suites: ordered lists of causal LMs that share one tokenizer.

A suite spec (``--suite``) is one item or a comma-separated list of items, read in order:

``pythia`` / ``pythia-deduped``
    EleutherAI's Pythia suite, 70m ... 12b (the deduped variant with ``-deduped``), small to large.
``pythia-410m``, ``pythia-1b-deduped``, ...
    One Pythia model.
``owner/name``
    Any causal LM on the Hugging Face hub (or in the local hub cache).
a local directory
    Either a model saved with ``save_pretrained`` (``config.json``), or a suite trained by
    ``quanta lm train-suite`` (``suite.json``), which expands to its models in size order.

``revisions`` pick checkpoints: ``stepN`` (a Pythia branch, or a saved checkpoint of a trained model),
``main`` / ``final`` (the final weights), or ``all`` (every checkpoint of a trained model).
Hub models need the hub or its cache; offline, :func:`load_model` raises a one-line
:class:`~quanta.errors.QuantaError` that says how to use a local directory instead.
"""

from __future__ import annotations


import contextlib
import functools
import json
import logging
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from quanta.errors import QuantaError

log = logging.getLogger(__name__)

PYTHIA_SIZES = ("70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b")
PYTHIA_FINAL_STEP = 143000
SUITE_FILE = "suite.json"
CHECKPOINTS_DIR = "checkpoints"
_STEP_RE = re.compile(r"^step-?(\d+)$")


@dataclass(frozen=True)
class ModelRef:
    """One model (or checkpoint) of a suite, before loading.

    Attributes
    ----------
    name : str
        The name used in tables, e.g. ``pythia-70m`` or ``pythia-70m@step1000``.
    path : str
        A local directory or a hub id.
    revision : str or None
        The hub revision (branch) to load; None for local directories.
    step : int
        Training step of the weights, -1 if unknown.
    hub : bool
        Whether ``path`` is a hub id.
    n_params, n_params_nonembed : int or None
        Parameter counts when known without loading (trained suites).
    """

    name: str
    path: str
    revision: str | None = None
    step: int = -1
    hub: bool = False
    n_params: int | None = None
    n_params_nonembed: int | None = None


def _step_of(revision: str | None) -> int | None:
    if revision is None:
        return None
    m = _STEP_RE.match(revision)
    return int(m.group(1)) if m else None


def _pythia_ids(item: str) -> list[str] | None:
    item = item.strip()
    low = item.lower()
    if low in ("pythia", "pythia-deduped"):
        suffix = "-deduped" if low.endswith("deduped") else ""
        return [f"EleutherAI/pythia-{s}{suffix}" for s in PYTHIA_SIZES]
    m = re.fullmatch(r"pythia-([0-9.]+[mb])(-deduped)?", low)
    if m:
        if m.group(1) not in PYTHIA_SIZES:
            raise QuantaError(f"suite: unknown Pythia size {m.group(1)!r}",
                              f"Pythia sizes are {', '.join(PYTHIA_SIZES)}")
        return [f"EleutherAI/pythia-{m.group(1)}{m.group(2) or ''}"]
    return None


def read_suite_manifest(path: str | Path) -> dict:
    """The ``suite.json`` of a trained suite directory."""
    p = Path(path) / SUITE_FILE
    try:
        return json.loads(p.read_text())
    except FileNotFoundError as exc:
        raise QuantaError(f"suite: {path} has no {SUITE_FILE}", "pass a directory written by quanta lm train-suite") \
            from exc


def _checkpoints(model_dir: Path) -> dict[int, Path]:
    out = {}
    ck = model_dir / CHECKPOINTS_DIR
    if ck.is_dir():
        for d in ck.iterdir():
            m = _STEP_RE.match(d.name)
            if m and (d / "config.json").is_file():
                out[int(m.group(1))] = d
    return out


def _local_refs(model_dir: Path, name: str, final_step: int, revisions: Sequence[str] | None,
                counts: dict | None = None) -> list[ModelRef]:
    counts = counts or {}
    base = ModelRef(name=name, path=str(model_dir), step=final_step, n_params=counts.get("n_params"),
                    n_params_nonembed=counts.get("n_params_nonembed"))
    if not revisions:
        return [base]
    ckpts = _checkpoints(model_dir)
    refs: list[ModelRef] = []
    for rev in revisions:
        if rev in ("main", "final"):
            refs.append(base)
        elif rev == "all":
            for step in sorted(ckpts):
                if step != final_step:
                    refs.append(replace(base, name=f"{name}@step{step}", path=str(ckpts[step]), step=step))
            refs.append(replace(base, name=f"{name}@step{final_step}" if final_step >= 0 else name))
        else:
            step = _step_of(rev)
            if step is None:
                raise QuantaError(f"suite: revision {rev!r} is not stepN, main or all", "write e.g. --revision step1000")
            if step == final_step:
                refs.append(replace(base, name=f"{name}@step{step}"))
            elif step in ckpts:
                refs.append(replace(base, name=f"{name}@step{step}", path=str(ckpts[step]), step=step))
            else:
                have = ", ".join(f"step{s}" for s in sorted(ckpts)) or "none"
                raise QuantaError(f"suite: {model_dir} has no checkpoint {rev!r}", f"saved checkpoints: {have}")
    return refs


def resolve_suite(spec: str | Sequence[str], *, revisions: Sequence[str] | None = None) -> list[ModelRef]:
    """Expand a suite spec into an ordered list of :class:`ModelRef` (nothing is loaded).

    Parameters
    ----------
    spec : str or sequence of str
        Items as described in the module docstring; a string may hold several, comma-separated.
    revisions : sequence of str, optional
        Checkpoints to take of every model (``stepN``, ``main``, ``all``); None takes the final weights.

    Returns
    -------
    list of ModelRef
        Every model, in the order given (suites in size order), each followed by its revisions in order.
    """
    items: list[str] = []
    for s in ([spec] if isinstance(spec, str) else list(spec)):
        items.extend(x.strip() for x in str(s).split(",") if x.strip())
    if not items:
        raise QuantaError("suite: no models were given", "pass e.g. --suite pythia or --suite DIR")
    revisions = [r.strip() for r in (revisions or []) if r and r.strip()] or None
    refs: list[ModelRef] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir() and (path / SUITE_FILE).is_file():
            manifest = read_suite_manifest(path)
            for m in manifest["models"]:
                refs.extend(_local_refs(path / m["path"], m["name"], int(m.get("step", -1)), revisions, m))
        elif path.is_dir() and (path / "config.json").is_file():
            refs.extend(_local_refs(path, path.name, _final_step_of_dir(path), revisions))
        elif path.is_dir():
            raise QuantaError(f"suite: {path} holds neither a model (config.json) nor a suite ({SUITE_FILE})",
                              "pass a save_pretrained directory or a quanta lm train-suite output")
        else:
            hub_ids = _pythia_ids(item)
            if hub_ids is None:
                if item.count("/") != 1 or item.startswith((".", "/", "~")):
                    raise QuantaError(f"suite: {item!r} is not a local directory, a Pythia name or a hub id owner/name",
                                      "check the path, or use pythia, pythia-70m, EleutherAI/pythia-160m, ...")
                hub_ids = [item]
            for hub_id in hub_ids:
                short = hub_id.split("/")[-1]
                is_pythia = hub_id.startswith("EleutherAI/pythia-")
                for rev in (revisions or [None]):
                    if rev == "all":
                        raise QuantaError("suite: --revision all works only for suites trained by quanta",
                                          "list hub checkpoints, e.g. --revision step1000 --revision step143000")
                    step = _step_of(rev)
                    if step is None:
                        step = PYTHIA_FINAL_STEP if (is_pythia and rev in (None, "main")) else -1
                    name = short if rev in (None, "main") else f"{short}@{rev}"
                    refs.append(ModelRef(name=name, path=hub_id, revision=None if rev in (None, "main") else rev,
                                         step=step, hub=True))
    names = [r.name for r in refs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise QuantaError(f"suite: model names repeat ({', '.join(dup)})", "list every model once")
    return refs


def _final_step_of_dir(path: Path) -> int:
    meta = path / "quanta_model.json"
    if meta.is_file():
        try:
            return int(json.loads(meta.read_text()).get("step", -1))
        except (ValueError, json.JSONDecodeError):
            return -1
    return -1


# --------------------------------------------------------------------------- loading
def _dtype_kwarg(dtype) -> dict:
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    return {key: dtype}


def resolve_dtype(dtype, device=None):
    """A ``torch.dtype`` from a dtype or a name (``float32``/``fp32``, ``bfloat16``/``bf16``, ``float16``/``fp16``)."""
    import torch

    if dtype is None or dtype == "auto":
        dev = device if hasattr(device, "type") else torch.device(device or "cpu")
        return torch.bfloat16 if dev.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if str(dtype) not in table:
        raise QuantaError(f"dtype must be one of fp32, bf16, fp16, got {dtype!r}", "fp32 on CPU, bf16 on GPU")
    return table[str(dtype)]


def _hub_error(path: str, revision: str | None, exc: BaseException) -> QuantaError:
    rev = f" (revision {revision})" if revision else ""
    return QuantaError(
        f"model {path}{rev} could not be loaded from the Hugging Face hub or its cache "
        f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]})",
        f"on a machine with hub access run `huggingface-cli download {path}"
        + (f" --revision {revision}" if revision else "")
        + " --local-dir DIR`, copy DIR here and pass --suite DIR (or train a suite offline: quanta lm train-suite)")


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers a TCP connection within ``timeout`` seconds.

    False at once when ``HF_HUB_OFFLINE`` is set; True when a proxy is configured (not probed). Used to load hub models from the local cache only
    (``local_files_only=True``) when there is no network, instead of letting huggingface_hub retry for
    half a minute before failing.
    """
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # behind a proxy a direct connection says nothing; let huggingface_hub go through the proxy
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def load_tokenizer(name_or_path: str, *, revision: str | None = None):
    """The tokenizer of a local model directory, a trained suite or a hub model (a ``transformers`` tokenizer)."""
    from transformers import AutoTokenizer

    path = Path(str(name_or_path)).expanduser()
    if path.is_dir():
        if (path / SUITE_FILE).is_file():
            path = path / read_suite_manifest(path).get("tokenizer", "tokenizer")
        # a checkpoint inside a trained model's folder has its tokenizer in a parent folder
        found = next((p for p in [path, *path.parents] if _has_tokenizer(p)), None)
        if found is None:
            raise QuantaError(f"tokenizer: neither {path} nor a folder above it holds a tokenizer "
                              "(tokenizer.json or tokenizer_config.json)",
                              "save one there with tokenizer.save_pretrained(DIR)")
        try:
            tok = AutoTokenizer.from_pretrained(str(found))
        except (OSError, ValueError) as exc:
            raise QuantaError(f"tokenizer: {found} holds no loadable tokenizer ({type(exc).__name__})",
                              "save it with tokenizer.save_pretrained(DIR)") from exc
        if len(tok) < 2:
            raise QuantaError(f"tokenizer: the tokenizer in {found} is empty", "save it with tokenizer.save_pretrained(DIR)")
        return tok
    hub = (_pythia_ids(str(name_or_path)) or [str(name_or_path)])[0]
    try:
        return AutoTokenizer.from_pretrained(hub, revision=revision, local_files_only=not hub_reachable())
    except OSError as exc:
        raise _hub_error(hub, revision, exc) from exc


def load_model(name_or_path: str | ModelRef, *, revision: str | None = None, device=None, dtype=None):
    """Load a causal LM and its tokenizer, in eval mode on ``device``.

    Parameters
    ----------
    name_or_path : str or ModelRef
        A local model directory (``save_pretrained``), a trained model's directory inside a suite, a Pythia
        name (``pythia-70m``) or a hub id; or a :class:`ModelRef` from :func:`resolve_suite`.
    revision : str, optional
        ``stepN`` for a checkpoint (hub branch, or a saved checkpoint of a local model); None for final weights.
    device : str or torch.device, optional
        Default: cuda if available, else cpu.
    dtype : str or torch.dtype, optional
        Weight dtype. Default (``"auto"``/None): bf16 on CUDA, fp32 on CPU.

    Returns
    -------
    (model, tokenizer)
        A ``transformers`` ``PreTrainedModel`` (``.eval()``) and its tokenizer.

    Raises
    ------
    QuantaError
        When a hub model cannot be reached (offline), or a path or checkpoint does not exist.
    """
    from transformers import AutoModelForCausalLM

    from quanta.utils import resolve_device

    dev = resolve_device(device if not hasattr(device, "type") else str(device))
    torch_dtype = resolve_dtype(dtype, dev)
    _quiet_transformers()
    if isinstance(name_or_path, ModelRef):
        ref = name_or_path
    else:
        refs = resolve_suite(str(name_or_path), revisions=[revision] if revision else None)
        if len(refs) != 1:
            raise QuantaError(f"load_model: {name_or_path!r} names {len(refs)} models, not one",
                              "pass one model's directory or name (see resolve_suite for suites)")
        ref = refs[0]
    if ref.hub:
        try:
            model = AutoModelForCausalLM.from_pretrained(ref.path, revision=ref.revision,
                                                         local_files_only=not hub_reachable(),
                                                         **_dtype_kwarg(torch_dtype))
        except OSError as exc:
            raise _hub_error(ref.path, ref.revision, exc) from exc
        tokenizer = load_tokenizer(ref.path, revision=ref.revision)
    else:
        try:
            model = AutoModelForCausalLM.from_pretrained(ref.path, **_dtype_kwarg(torch_dtype))
        except (OSError, ValueError) as exc:
            raise QuantaError(f"model: {ref.path} could not be loaded ({type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:160]})",
                              "pass a directory written by save_pretrained or quanta lm train-suite") from exc
        tokenizer = load_tokenizer(ref.path)
    model.to(device=dev, dtype=torch_dtype)
    model.eval()
    return model, tokenizer


def _quiet_transformers() -> None:
    """Route transformers' own progress bars through quanta's switch (QUANTA_PROGRESS)."""
    from transformers.utils import logging as hf_logging

    from quanta.progress import enabled

    if not enabled():
        hf_logging.disable_progress_bar()


def _has_tokenizer(path: Path) -> bool:
    return (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file()


def count_params(model) -> tuple[int, int]:
    """(n_params, n_params_nonembed): all parameters, and those outside the input and output embeddings.

    Tied embeddings are counted once. The non-embedding count is the paper's N (Pythia counts).
    """
    params = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in params.values())
    embed = {}
    for getter in ("get_input_embeddings", "get_output_embeddings"):
        mod = getattr(model, getter, lambda: None)()
        if mod is not None:
            for p in mod.parameters():
                embed[id(p)] = p
    return int(total), int(total - sum(p.numel() for p in embed.values()))


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
        sizes = tuple(s if isinstance(s, ModelSize) else ModelSize(*s) for s in self.sizes)
        object.__setattr__(self, "sizes", sizes)
        if not sizes:
            raise QuantaError("sizes: at least one model size is needed", "e.g. --set 'sizes=[[32,1,2,0.003]]'")
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
        if not 0.0 < self.test_fraction < 1.0:
            raise QuantaError(f"test_fraction must be in (0, 1), got {self.test_fraction}", "e.g. 0.1")


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

    from quanta.lm.losses import per_token_losses
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
