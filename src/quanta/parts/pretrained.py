"""Published sparse autoencoders, read from their safetensors files (no sae-lens or sparsify import).

Two on-disk formats are read:

* **EleutherAI sparsify** (``SparseCoder.save_to_disk``): a directory with ``cfg.json`` (``d_in``, ``k``,
  ``num_latents`` or ``expansion_factor``, ``activation``, ``transcode``, ``skip_connection``) and
  ``sae.safetensors`` (``encoder.weight`` latents×d, ``encoder.bias``, ``W_dec`` latents×d, ``b_dec``). The
  codes are ``TopK_k(ReLU(encoder(x - b_dec)))``. A hub repository such as ``EleutherAI/sae-pythia-70m-32k``
  holds one such directory per hookpoint (``layers.3``: the output of block 3, a module name under the model's
  ``base_model``).
* **SAELens** (``SAE.save_model``): ``cfg.json`` (``d_in``, ``d_sae``, ``architecture``,
  ``apply_b_dec_to_input``, ``normalize_activations``, ...) and ``sae_weights.safetensors`` (``W_enc`` d×latents,
  ``b_enc``, ``W_dec`` latents×d, ``b_dec``, and ``threshold`` for jumprelu). Architectures ``standard``
  (ReLU), ``topk`` (top k of the pre-activations, then ReLU) and ``jumprelu`` (ReLU times ``pre > threshold``);
  the input is ``x - b_dec`` when ``apply_b_dec_to_input`` (the default), else ``x``.

Anything else (sparsify's groupmax, transcoders or skip connections; SAELens's gated or batchtopk architectures,
activation normalisation, hook_z reshaping, a fine-tuning scaling factor) is refused with a one-line
:class:`~quanta.errors.QuantaError` that names the setting.

Hookpoints: sparsify's ``layers.N`` is the residual stream after block N, which is quanta's ``--site resid
--layer N+1`` (``hidden_states[N+1]``, :mod:`quanta.parts.activations`); ``layers.N.mlp`` is block N's MLP output,
quanta's ``--site mlp --layer N``. SAELens names its hook by TransformerLens (``hook_name`` in cfg.json, or in
``cfg["metadata"]`` from SAELens 6): ``blocks.N.hook_resid_pre`` is ``(N, resid)``, ``blocks.N.hook_resid_post``
``(N+1, resid)``, ``blocks.N.hook_mlp_out`` ``(N, mlp)``; other hooks are refused. See :func:`hookpoint_site`. The
SAE's *effective hookpoint* (:attr:`PretrainedInfo.hookpoint`) is SAELens's hook name when cfg.json has one, else
the ``:sub`` of a hub id, else ``--hookpoint``, else the name of the folder read when it is a hookpoint
(:func:`spec_hookpoint` finds it from the spec alone, without reading weights).

Centring: TransformerLens with ``center_writing_weights`` on (a LayerNorm model only) gives a residual stream and
MLP output centred across d_model per token. SAELens loads its model with ``from_pretrained_no_processing``, where
it is off unless ``model_from_pretrained_kwargs`` sets it; :attr:`PretrainedInfo.centred_input` records that it was
set, and :func:`quanta.parts.run.run_parts_sae_lm` then centres each activation row of a LayerNorm model.

BOS: SAELens collects its training activations from contexts that begin with the tokenizer's BOS token
(``prepend_bos``, true by default in its runner and in TransformerLens's ``to_tokens``), so every later position
saw it. :attr:`PretrainedInfo.prepend_bos` is cfg.json's ``prepend_bos`` (SAELens 6: in ``metadata``), true when
absent; :func:`quanta.parts.run.run_parts_sae_lm` then runs the model on BOS + each window and drops the BOS row.
sparsify trains on windows of concatenated documents without one (false).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from quanta.errors import QuantaError

__all__ = ["PretrainedSAE", "PretrainedInfo", "load_pretrained_sae", "hookpoint_site", "resolve_sae_dir",
           "check_width", "spec_hookpoint"]

SPARSIFY_WEIGHTS = "sae.safetensors"
SAELENS_WEIGHTS = "sae_weights.safetensors"
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*(:[^:]+)?$")
# sparsify names a hookpoint after the model's list of blocks: layers.N (GPT-NeoX, Llama), h.N (GPT-2), blocks.N
_HOOKPOINT = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*\.)*(?:layers|h|blocks)\.(\d+)(\.mlp)?$")
_TL_HOOK = re.compile(r"^blocks\.(\d+)\.hook_(resid_pre|resid_post|mlp_out)$")


@dataclass(frozen=True)
class PretrainedInfo:
    """What a loaded SAE is: its format, size, sparsity rule and where it was read from."""

    format: str  # "sparsify" or "saelens"
    n_latents: int
    d_in: int
    k: int | None  # TopK's k; None for ReLU and JumpReLU
    activation: str  # "topk", "relu" or "jumprelu"
    source: str  # the directory read
    hookpoint: str | None = None  # the effective hookpoint (module doc); None when nothing names one
    centred_input: bool = False  # trained on TransformerLens activations with center_writing_weights on
    prepend_bos: bool = False  # trained on contexts that began with the tokenizer's BOS token (SAELens)


class PretrainedSAE(torch.nn.Module):
    """A published SAE in one form for both formats: ``encode`` (rows × latents, nonnegative) and ``decode``.

    ``pre = (x - b_dec·subtract_b_dec) @ W_enc + b_enc``; codes are ``ReLU(pre)``, then the top ``k`` per row
    (``k`` set) or only where ``pre > threshold`` (``threshold`` set). ``decode(z) = z @ W_dec + b_dec``.
    Float32 throughout, whatever the stored dtype.
    """

    def __init__(self, W_enc, b_enc, W_dec, b_dec, *, k: int | None = None, threshold=None,
                 subtract_b_dec: bool = True):
        super().__init__()
        f32 = dict(dtype=torch.float32)
        self.register_buffer("W_enc", torch.as_tensor(W_enc).to(**f32).contiguous())  # (d, n_latents)
        self.register_buffer("b_enc", torch.as_tensor(b_enc).to(**f32))  # (n_latents,)
        self.register_buffer("W_dec", torch.as_tensor(W_dec).to(**f32).contiguous())  # (n_latents, d)
        self.register_buffer("b_dec", torch.as_tensor(b_dec).to(**f32))  # (d,)
        self.register_buffer("threshold", None if threshold is None else torch.as_tensor(threshold).to(**f32))
        self.k = None if k is None else int(k)
        self.subtract_b_dec = bool(subtract_b_dec)

    @property
    def d_in(self) -> int:
        return int(self.W_enc.shape[0])

    @property
    def n_latents(self) -> int:
        return int(self.W_enc.shape[1])

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.W_enc.device, torch.float32)
        if self.subtract_b_dec:
            x = x - self.b_dec
        return x @ self.W_enc + self.b_enc  # (B, n_latents)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre_acts(x)
        a = torch.relu(pre)
        if self.threshold is not None:
            a = a * (pre > self.threshold)
        if self.k is not None:
            top = a.topk(self.k, dim=1)
            a = torch.zeros_like(a).scatter_(1, top.indices, top.values)
        return a  # (B, n_latents)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z.to(self.W_dec.device, torch.float32) @ self.W_dec + self.b_dec  # (B, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def hookpoint_site(hookpoint: str | None) -> tuple[int, str] | None:
    """quanta's ``(layer, site)`` for a hookpoint, or None when it names neither site.

    sparsify: ``layers.N`` (output of block N: the residual stream after it) is ``(N + 1, "resid")``;
    ``layers.N.mlp`` (block N's MLP output) is ``(N, "mlp")``; a prefix such as ``gpt_neox.`` is allowed, and the
    block list may be called ``h`` (GPT-2) or ``blocks`` as well.
    TransformerLens (SAELens): ``blocks.N.hook_resid_pre`` is ``(N, "resid")``, ``blocks.N.hook_resid_post``
    ``(N + 1, "resid")``, ``blocks.N.hook_mlp_out`` ``(N, "mlp")``.
    """
    if not isinstance(hookpoint, str) or not hookpoint:
        return None
    m = _TL_HOOK.match(hookpoint)
    if m is not None:
        n, hook = int(m.group(1)), m.group(2)
        return {"resid_pre": (n, "resid"), "resid_post": (n + 1, "resid"), "mlp_out": (n, "mlp")}[hook]
    m = _HOOKPOINT.match(hookpoint)
    if m is None:
        return None
    n = int(m.group(1))
    return (n, "mlp") if m.group(2) else (n + 1, "resid")


def _split_spec(spec: str) -> tuple[Path | None, str | None, str | None]:
    """``(local path, hub repo id, hub subfolder)`` of a spec: a path that exists, else a hub id, else neither."""
    path = Path(spec).expanduser()
    if path.exists():
        return path, None, None
    if _HUB_ID.match(spec) and not spec.startswith((".", "/", "~")):
        repo_id, _, sub = spec.partition(":")
        return None, repo_id, sub or None
    return None, None, None


def _named_hookpoint(spec: str, hookpoint: str | None, sae_dir: Path | None) -> str | None:
    """The hookpoint the spec and ``--hookpoint`` name: the hub id's ``:sub``, else ``hookpoint``, else the name of
    the SAE folder read when it is a hookpoint. Refuses a ``:sub`` or SAE folder name that ``hookpoint`` contradicts.
    """
    path, repo_id, sub = _split_spec(spec)
    if sub is not None:
        if hookpoint is not None and hookpoint != sub:
            raise QuantaError(f"pretrained {spec!r} names subfolder {sub!r}, but --hookpoint {hookpoint} was given",
                              f"drop --hookpoint, or pass --pretrained {repo_id}:{hookpoint}")
        return sub
    folder = None
    if path is not None and path.is_dir() and _has_sae(path) and _HOOKPOINT.match(path.name):
        folder = path.name  # the SAE folder itself was passed
        if hookpoint is not None and hookpoint != folder:
            raise QuantaError(f"pretrained {spec!r} is the SAE of hookpoint {folder}, but --hookpoint {hookpoint} "
                              "was given", f"drop --hookpoint, or pass the folder of {hookpoint}")
    if hookpoint is not None:
        return hookpoint
    if folder is not None:
        return folder
    if sae_dir is not None and _HOOKPOINT.match(sae_dir.name):
        return sae_dir.name
    return None


def spec_hookpoint(spec: str, hookpoint: str | None = None) -> str | None:
    """The effective hookpoint of ``spec`` found without reading weights (the CLI's defaults for --layer/--site).

    SAELens's hook name from the cfg.json of a local SAE folder (``spec`` itself, or its ``hookpoint`` subfolder),
    else the hub id's ``:sub``, else ``hookpoint``, else the last component of a local SAE folder when it is a
    hookpoint. None when nothing names one (a hub SAELens SAE's hook name is known only once it is downloaded:
    :func:`load_pretrained_sae` then reports it). Refuses a ``:sub`` or folder name that ``hookpoint``
    contradicts, in one line.
    """
    if not isinstance(spec, str) or not spec:
        return hookpoint
    path, _, _ = _split_spec(spec)
    sae_dir = None
    if path is not None and path.is_dir():
        if _has_sae(path):
            sae_dir = path
        elif hookpoint and _has_sae(path / hookpoint):
            sae_dir = path / hookpoint
    named = _named_hookpoint(spec, hookpoint, sae_dir)
    if sae_dir is not None:
        try:
            cfg = json.loads((sae_dir / "cfg.json").read_text())
            hook = _saelens_hook(cfg, sae_dir) if (sae_dir / SAELENS_WEIGHTS).is_file() else None
        except (OSError, ValueError, QuantaError):  # unreadable: the library says so, in one line, when it loads
            hook = None
        if hook is not None:
            return hook
    return named


def _has_sae(path: Path) -> bool:
    return (path / "cfg.json").is_file() and any((path / w).is_file() for w in (SPARSIFY_WEIGHTS, SAELENS_WEIGHTS))


def _download(repo_id: str, subfolder: str | None) -> Path:
    """The local snapshot of a hub repository (only ``subfolder`` when given); a one-line error offline."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, allow_patterns=[f"{subfolder}/*"] if subfolder else None))
    except Exception as exc:  # offline, not cached, no such repo, no network: all bad input here
        kind = type(exc).__name__
        raise QuantaError(f"pretrained SAE {repo_id!r} is no local folder and could not be fetched from the hub "
                          f"({kind})",
                          "download it on a machine with hub access (huggingface-cli download "
                          f"{repo_id}), then pass the directory to --pretrained") from None


def resolve_sae_dir(spec: str, hookpoint: str | None = None) -> Path:
    """The directory holding the SAE's ``cfg.json`` and weights, for a local path or a hub id.

    ``spec`` is a directory (the SAE itself, or a folder of hookpoint subfolders picked by ``hookpoint``), or
    ``owner/name`` / ``owner/name:subfolder`` on the Hugging Face hub (``subfolder`` defaults to ``hookpoint``).
    """
    if not isinstance(spec, str) or not spec:
        raise QuantaError(f"pretrained: a directory or hub id is needed, got {spec!r}",
                          "pass --pretrained DIR or --pretrained OWNER/NAME")
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise QuantaError(f"pretrained {spec!r} is a file, not a directory",
                              "pass the directory that holds cfg.json and the .safetensors weights")
        root, sub = path, None
    elif _HUB_ID.match(spec) and not spec.startswith((".", "/", "~")):
        repo_id, _, sub = spec.partition(":")
        sub = sub or hookpoint
        root = _download(repo_id, sub)
    else:
        raise QuantaError(f"pretrained SAE: no such folder {spec!r}",
                          "pass an existing directory, or a hub id OWNER/NAME[:SUBFOLDER]")
    if _has_sae(root):
        return root
    pick = sub or hookpoint
    if pick and _has_sae(root / pick):
        return root / pick
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and _has_sae(p))
    if found:
        raise QuantaError(f"pretrained {spec!r} holds SAEs for several hookpoints"
                          + (f", none named {pick!r}" if pick else ""),
                          f"pass --hookpoint one of {', '.join(found[:8])}{' ...' if len(found) > 8 else ''}")
    raise QuantaError(f"pretrained {spec!r} holds no SAE: cfg.json with {SPARSIFY_WEIGHTS} (sparsify) or "
                      f"{SAELENS_WEIGHTS} (SAELens) is needed", "pass the directory the SAE was saved to")


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:
        raise QuantaError(f"cannot read {path}: {type(exc).__name__}", "download the weights file again") from None


def _shape(tensors: dict, name: str, shape: tuple, where: Path) -> torch.Tensor:
    if name not in tensors:
        raise QuantaError(f"{where}: tensor {name!r} is missing (has {', '.join(sorted(tensors))})",
                          "pass an SAE saved by sparsify or SAELens")
    t = tensors[name]
    if tuple(t.shape) != shape:
        raise QuantaError(f"{where}: tensor {name!r} has shape {tuple(t.shape)}, cfg.json implies {shape}",
                          "the weights and cfg.json do not belong together")
    return t


def _refuse(where: Path, setting: str, value, fmt: str) -> None:
    raise QuantaError(f"{where}: {fmt} setting {setting}={value!r} is not supported",
                      "quanta reads plain TopK, ReLU and JumpReLU SAEs without input normalisation")


def _bad(where: Path, setting: str, value, want: str) -> None:
    raise QuantaError(f"{where / 'cfg.json'}: setting {setting}={value!r} is not {want}",
                      "pass an SAE saved by sparsify or SAELens (or fix its cfg.json)")


def _int(cfg: dict, key: str, default, where: Path) -> int | None:
    """``cfg[key]`` as an int (an integral float is accepted, a bool or a string is not); ``default`` if absent."""
    value = cfg.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value):
        _bad(where, key, value, "a whole number")
    return int(value)


def _size(cfg: dict, key: str, where: Path) -> int:
    """A width in cfg.json: a whole number of at least 1."""
    value = _int(cfg, key, None, where)
    if value is None or value < 1:
        _bad(where, key, cfg.get(key), "a whole number of at least 1")
    return value


def _bool(cfg: dict, key: str, default: bool, where: Path) -> bool:
    """``cfg[key]`` when it is a real JSON boolean; ``default`` if absent; anything else (``"false"``) refused."""
    if key not in cfg:
        return default
    value = cfg[key]
    if not isinstance(value, bool):
        _bad(where, key, value, "true or false")
    return value


def _str(cfg: dict, key: str, default, where: Path):
    """``cfg[key]`` when it is a string (or null: ``default``)."""
    value = cfg.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        _bad(where, key, value, "a string")
    return value


def _dict(cfg: dict, key: str, where: Path) -> dict:
    """``cfg[key]`` when it is an object; ``{}`` if absent or null."""
    value = cfg.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        _bad(where, key, value, "an object")
    return value


def _saelens_field(cfg: dict, key: str, where: Path):
    """A SAELens field that SAELens 6 keeps in ``cfg["metadata"]`` and earlier versions at the top level."""
    meta = _dict(cfg, "metadata", where)
    return meta[key] if meta.get(key) is not None else cfg.get(key)


def _saelens_hook(cfg, where: Path) -> str | None:
    """SAELens's ``hook_name`` (None if cfg.json has none); refused unless it names a site quanta reads."""
    if not isinstance(cfg, dict):
        return None
    hook = _saelens_field(cfg, "hook_name", where)
    if hook is None:
        return None
    if not isinstance(hook, str) or hookpoint_site(hook) is None:
        raise QuantaError(f"{where}: SAELens hook_name {hook!r} is no site quanta reads",
                          "quanta reads blocks.N.hook_resid_pre, blocks.N.hook_resid_post and blocks.N.hook_mlp_out "
                          "(or a module layers.N / layers.N.mlp)")
    return hook


def _saelens_centred(cfg: dict, where: Path) -> bool:
    """Whether the SAE saw TransformerLens activations with ``center_writing_weights`` on.

    SAELens loads a ``HookedTransformer`` with ``from_pretrained_no_processing``, where it is off, and passes
    ``model_from_pretrained_kwargs`` on: so on exactly when those kwargs set it to true (older SAEs such as
    gpt2-small-res-jb record ``{"center_writing_weights": true}``). A model class other than HookedTransformer
    (``AutoModelForCausalLM``) is never centred.
    """
    kwargs = _saelens_field(cfg, "model_from_pretrained_kwargs", where)
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        _bad(where, "model_from_pretrained_kwargs", kwargs, "an object")
    cls = _saelens_field(cfg, "model_class_name", where)
    if cls not in (None, "HookedTransformer"):
        return False
    return _bool(kwargs, "center_writing_weights", False, where)


def _load_sparsify(path: Path, cfg: dict) -> tuple[PretrainedSAE, PretrainedInfo]:
    act = _str(cfg, "activation", "topk", path)
    if act != "topk":
        _refuse(path, "activation", act, "sparsify")
    for flag in ("transcode", "skip_connection"):
        if cfg.get(flag):
            _refuse(path, flag, cfg[flag], "sparsify")
    d = _size(cfg, "d_in", path)
    n = _int(cfg, "num_latents", 0, path) or d * _int(cfg, "expansion_factor", 32, path)
    if n < 1:
        _bad(path, "num_latents", n, "a whole number of at least 1")
    k = _int(cfg, "k", 32, path)
    t = _tensors(path / SPARSIFY_WEIGHTS)
    W_enc = _shape(t, "encoder.weight", (n, d), path)  # (n_latents, d): an nn.Linear's weight
    b_enc = _shape(t, "encoder.bias", (n,), path)
    W_dec = _shape(t, "W_dec", (n, d), path)
    b_dec = _shape(t, "b_dec", (d,), path)
    if not 1 <= k <= n:
        _refuse(path, "k", k, "sparsify")
    sae = PretrainedSAE(W_enc.t(), b_enc, W_dec, b_dec, k=k, subtract_b_dec=True)
    return sae, PretrainedInfo("sparsify", n, d, k, "topk", str(path))


def _load_saelens(path: Path, cfg: dict) -> tuple[PretrainedSAE, PretrainedInfo]:
    arch = _str(cfg, "architecture", "standard", path)
    act = cfg.get("activation_fn", cfg.get("activation_fn_str", "relu"))
    if act is not None and not isinstance(act, str):
        _bad(path, "activation_fn", act, "a string")
    if arch == "standard" and act == "topk":  # SAELens before 6.0 wrote TopK SAEs as standard + activation_fn
        arch = "topk"
    elif act not in ("relu", "topk", None):
        _refuse(path, "activation_fn", act, "SAELens")
    if arch not in ("standard", "topk", "jumprelu"):
        _refuse(path, "architecture", arch, "SAELens")
    norm = cfg.get("normalize_activations", "none")
    if norm not in ("none", None, False):
        _refuse(path, "normalize_activations", norm, "SAELens")
    if cfg.get("reshape_activations", "none") not in ("none", None):
        _refuse(path, "reshape_activations", cfg["reshape_activations"], "SAELens")
    if cfg.get("finetuning_scaling_factor"):
        _refuse(path, "finetuning_scaling_factor", cfg["finetuning_scaling_factor"], "SAELens")
    rescale = _bool(cfg, "rescale_acts_by_decoder_norm", False, path)
    if rescale and arch != "topk":  # SAELens defines it for TopK SAEs only
        _refuse(path, "rescale_acts_by_decoder_norm", True, f"SAELens {arch}")
    subtract_b_dec = _bool(cfg, "apply_b_dec_to_input", True, path)
    hook = _saelens_hook(cfg, path)
    centred = _saelens_centred(cfg, path)
    bos = _saelens_field(cfg, "prepend_bos", path)
    if bos is not None and not isinstance(bos, bool):
        _bad(path, "prepend_bos", bos, "true or false")
    d, n = _size(cfg, "d_in", path), _size(cfg, "d_sae", path)
    t = _tensors(path / SAELENS_WEIGHTS)
    if "scaling_factor" in t and not torch.all(t["scaling_factor"] == 1):
        _refuse(path, "scaling_factor", "not all ones", "SAELens")
    W_enc = _shape(t, "W_enc", (d, n), path)
    b_enc = _shape(t, "b_enc", (n,), path)
    W_dec = _shape(t, "W_dec", (n, d), path)
    b_dec = _shape(t, "b_dec", (d,), path)
    k = threshold = None
    if arch == "topk":
        k = _int(cfg, "k", None, path)
        if k is None:
            k = _int(_dict(cfg, "activation_fn_kwargs", path), "k", None, path)
        if k is None or not 1 <= k <= n:
            _refuse(path, "k", k, "SAELens")
    if arch == "jumprelu":
        threshold = _shape(t, "threshold", (n,), path)
    if rescale:  # SAELens: pre-activations times the decoder rows' norms, codes divided by them before decoding;
        # the same SAE as plain TopK with the norms folded into the encoder and out of the decoder
        norms = W_dec.float().norm(dim=1)
        if not bool(torch.all(norms > 0)):
            raise QuantaError(f"{path}: rescale_acts_by_decoder_norm with a zero decoder row cannot be read",
                              "pass an SAE whose decoder rows are all nonzero")
        W_enc, b_enc, W_dec = W_enc.float() * norms, b_enc.float() * norms, W_dec.float() / norms[:, None]
    sae = PretrainedSAE(W_enc, b_enc, W_dec, b_dec, k=k, threshold=threshold, subtract_b_dec=subtract_b_dec)
    activation = {"standard": "relu", "topk": "topk", "jumprelu": "jumprelu"}[arch]
    return sae, PretrainedInfo("saelens", n, d, k, activation, str(path), hook, centred, bos is not False)


def load_pretrained_sae(spec: str, *, hookpoint: str | None = None,
                        device=None) -> tuple[PretrainedSAE, PretrainedInfo]:
    """Load a published SAE (sparsify or SAELens format) from a directory or the Hugging Face hub.

    Parameters
    ----------
    spec : str
        A directory holding ``cfg.json`` and ``sae.safetensors`` (sparsify) or ``sae_weights.safetensors``
        (SAELens); a directory of such folders, one per hookpoint; or a hub id ``owner/name[:subfolder]``
        (downloaded with ``huggingface_hub.snapshot_download``; offline and not cached, a QuantaError).
    hookpoint : str, optional
        The subfolder to read when ``spec`` holds several (sparsify's ``layers.N``). A ``:subfolder`` or an SAE
        folder named as a hookpoint that it contradicts is refused.
    device : str or torch.device, optional
        Where the weights go (default CPU).

    Returns
    -------
    (sae, info) : a :class:`PretrainedSAE` in eval mode and its :class:`PretrainedInfo`, whose ``hookpoint`` is the
    effective hookpoint (SAELens's hook name, else ``:subfolder``, else ``hookpoint``, else the folder's name when
    it is a hookpoint; module doc) and ``centred_input`` whether the SAE expects rows centred across d_model.
    """
    if isinstance(spec, str) and spec:
        _named_hookpoint(spec, hookpoint, None)  # a contradiction is refused before any download
    path = resolve_sae_dir(spec, hookpoint)
    try:
        cfg = json.loads((path / "cfg.json").read_text())
    except (OSError, ValueError) as exc:
        raise QuantaError(f"{path / 'cfg.json'} is not valid JSON ({exc.__class__.__name__})",
                          "download the SAE again") from None
    if not isinstance(cfg, dict) or "d_in" not in cfg:
        raise QuantaError(f"{path / 'cfg.json'} has no d_in", "pass an SAE saved by sparsify or SAELens")
    try:
        if (path / SPARSIFY_WEIGHTS).is_file():
            sae, info = _load_sparsify(path, cfg)
        else:
            if "d_sae" not in cfg:
                raise QuantaError(f"{path / 'cfg.json'} has no d_sae", "pass an SAE saved by SAELens")
            sae, info = _load_saelens(path, cfg)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a backstop: the reads above check types
        raise QuantaError(f"{path / 'cfg.json'}: unreadable setting ({exc.__class__.__name__}: {exc})",
                          "pass an SAE saved by sparsify or SAELens") from None
    named = _named_hookpoint(spec, hookpoint, path)
    if info.hookpoint is None:
        info = replace(info, hookpoint=named)
    elif hookpoint_site(named) not in (None, hookpoint_site(info.hookpoint)):
        raise QuantaError(f"{path}: SAELens hook_name {info.hookpoint} is not hookpoint {named}, which the folder "
                          "or --hookpoint names", "pass the folder of the SAE you mean, without a contradicting "
                          "--hookpoint")
    return sae.to(device or "cpu").eval(), info


def check_width(info: PretrainedInfo, d: int, *, layer: int, site: str) -> None:
    """Refuse an SAE whose input width is not the activations' (``d``), in one line."""
    if info.d_in != int(d):
        raise QuantaError(f"pretrained SAE takes inputs of width {info.d_in}, but {site} layer {layer} of this "
                          f"model has width {d}",
                          "pass the SAE trained on this model and site (--hookpoint, --layer, --site)")
