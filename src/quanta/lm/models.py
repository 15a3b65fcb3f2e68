"""Model suites by name: ordered lists of causal LMs that share one tokenizer.

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

Training a suite offline is :mod:`quanta.lm.train` (``train_suite``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

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
        out = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(out, dict):
            raise ValueError("not a JSON object")
        return out
    except (ValueError, UnicodeDecodeError) as exc:  # json's decode error is a ValueError
        raise QuantaError(f"suite: {p} cannot be read ({exc})"[:200], "the file is damaged; train the suite again") \
            from exc
    except FileNotFoundError as exc:
        raise QuantaError(f"suite: {path} has no {SUITE_FILE}", "pass a directory written by quanta lm train-suite") \
            from exc


def suite_dir_of(path: str | Path) -> Path | None:
    """The trained suite a local model belongs to: the nearest folder at or above ``path`` with a ``suite.json``."""
    here = Path(path)
    return next((p for p in (here, *here.parents) if (p / SUITE_FILE).is_file()), None)


def held_out_fraction(paths: Sequence[str | Path]) -> float:
    """The held-out fraction of the corpus split the models' suites were trained with.

    A suite trained by ``quanta lm train-suite`` records its ``test_fraction`` in ``suite.json``; a ``:test``
    (or ``:train``) corpus read for its models must split at the same fraction, or part of the held-out text was
    trained on. Models outside a local suite (the hub's) give :func:`quanta.lm.corpus.load_corpus`'s default,
    0.1. Models of suites with different fractions are refused: no one split is held out for all of them.
    """
    found = {}
    for p in paths:
        suite = suite_dir_of(p) if Path(p).exists() else None
        if suite is None:
            continue
        frac = read_suite_manifest(suite).get("test_fraction")
        if frac is None:
            frac = 0.1  # suites trained before the field was recorded used the default
        if not (isinstance(frac, (int, float)) and 0 < frac < 1):
            raise QuantaError(f"{suite / SUITE_FILE}: test_fraction {frac!r} is not a fraction",
                              "the file is damaged; train the suite again")
        found[str(suite)] = float(frac)
    fracs = sorted(set(found.values()))
    if len(fracs) > 1:
        listed = ", ".join(f"{k} ({v:g})" for k, v in found.items())
        raise QuantaError(f"the models come from suites trained with different held-out fractions: {listed}",
                          "compare models of one suite, or of suites trained with the same test_fraction")
    return fracs[0] if fracs else 0.1


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
                raise QuantaError(f"suite: revision {rev!r} is not stepN, main or all", "write e.g. revision=step1000")
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
        raise QuantaError("suite: no models were given", "pass e.g. suite=pythia or suite=DIR")
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
            _refuse_unfinished_suite(path)
            raise QuantaError(f"suite: {path} holds neither a model (config.json) nor a suite ({SUITE_FILE})",
                              "pass a save_pretrained directory or a quanta lm train-suite output")
        else:
            hub_ids = _pythia_ids(item)
            if hub_ids is None and _looks_local(item, path):
                raise QuantaError(f"suite: no such folder {item}", _near_miss(path))
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
                        raise QuantaError("suite: revision=all works only for suites trained by quanta",
                                          "list hub checkpoints, e.g. revision=step1000 and revision=step143000")
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


def _looks_local(item: str, path: Path) -> bool:
    """Whether a name that is no folder was meant as a local path: it starts like one (./, ../, /, ~) or its
    parent folder exists here (``runs/siute`` where ``runs/`` exists), so it is not looked up on the hub."""
    if item.startswith((".", "/", "~")) or item.endswith("/"):
        return True
    return "/" in item and path.parent.is_dir() and str(path.parent) not in (".", "")


def _near_miss(path: Path) -> str:
    """A hint for a mistyped folder: the closest existing name next to it, if any."""
    import difflib

    parent = path.parent if str(path.parent) else Path(".")
    names = sorted(p.name for p in parent.iterdir() if p.is_dir()) if parent.is_dir() else []
    close = difflib.get_close_matches(path.name, names, n=1)
    if close:
        return f"did you mean {parent / close[0]}?"
    return "check the path: a model directory, or a quanta lm train-suite output"


def _refuse_unfinished_suite(path: Path) -> None:
    """Say so when ``path`` is a ``quanta lm train-suite`` run that did not finish (killed, or failed)."""
    man = path / "manifest.json"
    if not man.is_file():
        return
    try:
        manifest = json.loads(man.read_text())
    except (OSError, ValueError):
        return
    if manifest.get("command") == "lm train-suite" and manifest.get("status") != "complete":
        raise QuantaError(f"suite: {path} is an unfinished lm train-suite run (status {manifest.get('status')!r})",
                          f"resume it: re-run quanta lm train-suite with resume=True out={path}")


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


def _first_sentence(text: str, limit: int = 200) -> str:
    """The first sentence of an error text, whole (cut at a word, with an ellipsis, only past ``limit``)."""
    text = " ".join(text.split())
    end = text.find(". ")
    first = text if end < 0 else text[:end + 1]
    if len(first) > limit:
        first = first[:limit].rsplit(" ", 1)[0] + " …"
    return first


def _hub_error(path: str, revision: str | None, exc: BaseException) -> QuantaError:
    rev = f" (revision {revision})" if revision else ""
    return QuantaError(
        f"model {path}{rev} could not be loaded from the Hugging Face hub or its cache "
        f"({type(exc).__name__}: {_first_sentence(str(exc))})",
        f"on a machine with hub access run `huggingface-cli download {path}"
        + (f" --revision {revision}" if revision else "")
        + " --local-dir DIR`, copy DIR here and pass suite=DIR (or train a suite offline: quanta lm train-suite)")


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
