"""Parts runs: ``quanta parts sae`` and ``quanta parts acts``, each on an LM site or a parity model's hidden layer.

The contract's tables are written by :mod:`quanta.parts.tables`; this module loads the inputs (an LM's
activations, a parity model's hidden layer), runs the method and writes the run directory.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from quanta.errors import QuantaError
from quanta.parts.law import DENSE_SHARE
from quanta.parts.tables import parity_sample_text, write_parts_tables
from quanta.qdg.parity import ParityQDGConfig as _QDG
from quanta.validation import Interval, seed_range, validate_config

log = logging.getLogger(__name__)

__all__ = ["SAEPartsConfig", "SAEParityConfig", "ActsPartsConfig", "ActsParityConfig", "run_parts_sae_lm",
           "run_parts_sae_parity", "run_parts_acts_lm", "run_parts_acts_parity", "parity_hidden"]


#: Settings every parts method on an LM site shares (SAEPartsConfig, ActsPartsConfig).
_LM_SITE_CONSTRAINTS = {
    "max_docs": [Interval(int, 1, None), None],
    "context_length": [Interval(int, 2, None)],
    "layer": [Interval(int, 0, None)],
    "batch_size": [Interval(int, 1, None)],
    "n_contexts": [Interval(int, 1, None)],
    "n_boot": [Interval(int, 0, None)],
    "seed": [seed_range()],
}


def _check_lm_site(cfg, constraints: dict) -> None:
    """The model is named, and the shared LM-site settings and the method's own ``constraints`` hold."""
    if not isinstance(cfg.model, str) or not cfg.model:
        raise QuantaError(f"model: a model directory or name is needed, got {cfg.model!r}", "pass --model PATH|NAME")
    validate_config(cfg, {**_LM_SITE_CONSTRAINTS, **constraints})


@dataclass(frozen=True)
class SAEPartsConfig:
    """Settings of ``quanta parts sae --model ...``: activations of an LM at one site, a TopK SAE, its parts.

    Attributes
    ----------
    model, revision, corpus, max_docs, context_length
        As in :class:`quanta.qdg.QDGConfig` (the model, its checkpoint, the text and how much of it).
    layer : int, default 1
        Block index (``resid``: 0 = embeddings .. n_layers, the last block's output after the final norm; ``mlp``:
        0 .. n_layers - 1).
    site : str, default "resid"
        ``resid`` or ``mlp`` (:mod:`quanta.parts.activations`).
    n_latents, sparsity, n_steps, sae_batch_size, lr
        The SAE (:class:`quanta.parts.sae.SAEConfig`); unused with ``pretrained``.
    k : float, default 0.5
        Mean active latents per token (BatchTopK). Chosen on a tuning world no record reports (planted language
        α 0.5, spec seed 1; ``benchmarks/sae_tuning.py``, docs/parts.md) as the k whose parts' exponent came
        closest to the planted α+1.
    dense_share : float, default 0.5
        Parts firing on more than this share of tokens are dense (excluded from the law).
    batch_size : int, default 8
        Contexts per forward pass.
    n_contexts : int, default 10
    n_boot : int, default 200
    seed : int, default 0
    pretrained : str, optional
        A published SAE to use instead of training one: a directory in sparsify's or SAELens's format, or a hub
        id ``owner/name[:subfolder]`` (:func:`quanta.parts.pretrained.load_pretrained_sae`). The training
        settings above (n_latents, k, sparsity, n_steps, sae_batch_size, lr) are then unused.
    hookpoint : str, optional
        The pretrained SAE's subfolder (sparsify's ``layers.N``). A sparsify hookpoint names a site:
        ``layers.N`` is ``site="resid", layer=N+1`` and ``layers.N.mlp`` is ``site="mlp", layer=N``; ``layer``
        and ``site`` must agree with it (the CLI defaults them from it). The SAE's *effective* hookpoint (its
        SAELens hook name, a hub id's ``:sub``, this, or the SAE folder's name;
        :func:`quanta.parts.pretrained.load_pretrained_sae`) is checked against ``layer`` and ``site`` once the
        SAE is loaded: this class cannot tell a default ``layer``/``site`` from a given one, so a mismatch is
        refused rather than guessed (the CLI defaults them from the effective hookpoint it can see).
    """

    model: str
    revision: str | None = None
    corpus: str = "stdlib:test"
    max_docs: int | None = 100
    context_length: int = 128
    layer: int = 1
    site: str = "resid"
    n_latents: int = 512
    k: float = 0.5
    sparsity: str = "batchtopk"
    n_steps: int = 3000
    sae_batch_size: int = 256
    lr: float = 2e-3
    dense_share: float = DENSE_SHARE
    batch_size: int = 8
    n_contexts: int = 10
    n_boot: int = 200
    seed: int = 0
    pretrained: str | None = None
    hookpoint: str | None = None

    def __post_init__(self):
        _check_lm_site(self, {"dense_share": [Interval(float, 0, 1, closed="right")]})
        self.sae_config()  # checks the SAE's settings now, before anything is loaded
        for name in ("pretrained", "hookpoint"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise QuantaError(f"{name} must be a non-empty string or None, got {value!r}",
                                  f"pass --{name} with a value")
        if self.hookpoint is not None and self.pretrained is None:
            raise QuantaError("hookpoint names a subfolder of a pretrained SAE, but no pretrained SAE was given",
                              "pass --pretrained DIR|OWNER/NAME with --hookpoint, or drop --hookpoint")
        from quanta.parts.pretrained import hookpoint_site

        site = hookpoint_site(self.hookpoint)
        if site is not None and site != (self.layer, self.site):
            raise QuantaError(f"hookpoint {self.hookpoint} is --site {site[1]} --layer {site[0]} in quanta, but "
                              f"--site {self.site} --layer {self.layer} was given",
                              f"drop --layer/--site (they default from --hookpoint), or pass --layer {site[0]}")

    def sae_config(self):
        from quanta.parts.sae import SAEConfig

        return SAEConfig(n_latents=self.n_latents, k=self.k, sparsity=self.sparsity, n_steps=self.n_steps,
                         batch_size=self.sae_batch_size, lr=self.lr, seed=self.seed)


def _load_lm(cfg, dev, *, min_tokens: int):
    """Model, tokenizer, windows, token-id contexts and the corpus split's held-out fraction (the model's suite's) of
    an LM parts run, all checked before anything is written."""
    from quanta.lm.corpus import load_corpus, tokenize_documents
    from quanta.lm.losses import _check_positions, _model_positions
    from quanta.lm.models import held_out_fraction, load_model
    from quanta.parts.activations import check_site

    model, tok = load_model(cfg.model, revision=cfg.revision, device=dev, dtype="float32")
    check_site(model, cfg.layer, cfg.site)
    _check_positions(str(cfg.model), _model_positions(model.config), cfg.context_length)
    test_fraction = held_out_fraction([cfg.model])
    docs = load_corpus(cfg.corpus, max_docs=cfg.max_docs, test_fraction=test_fraction)
    windows = tokenize_documents(docs, tok, context_length=cfg.context_length, n_windows=1, min_tokens=2)
    if not windows:
        raise QuantaError(f"corpus {cfg.corpus!r} gave no document of at least 2 tokens",
                          "pass a corpus with longer documents")
    contexts = [w.ids for w in windows]
    n_tokens = sum(len(c) for c in contexts)
    if n_tokens < min_tokens:
        raise QuantaError(f"{n_tokens} tokens are too few: this run needs at least {min_tokens}",
                          "give more text (--max-docs, --context-length) or ask for fewer parts")
    return model, tok, windows, contexts, test_fraction


def _token_samples(index: pd.DataFrame, contexts, windows, tok) -> pd.DataFrame:
    """The ``samples`` table of LM tokens: where each row comes from and its text (48 tokens before, 12 after)."""
    def dec(ids):
        return tok.decode([int(i) for i in ids])

    before, text, after = [], [], []
    for c, p in zip(index["context"].to_numpy(), index["pos"].to_numpy()):
        ids = contexts[c]
        before.append(dec(ids[max(0, p - 48):p]))
        text.append(dec(ids[p:p + 1]))
        after.append(dec(ids[p + 1:p + 13]))
    return pd.DataFrame({"sample": np.arange(len(index), dtype=np.int64),
                         "doc": [windows[c].doc for c in index["context"]], "pos": index["pos"].to_numpy(),
                         "token_id": index["token_id"].to_numpy(), "context_before": before, "token": text,
                         "context_after": after})


def _check_parts_boot(n_boot: int, n_parts: int, where: str) -> None:
    """Refuse ``n_boot`` before the run directory is created when the parts law's bootstraps (a Zipf fit and the
    plausibility checks, over up to ``n_parts`` ranks) cannot fit in memory."""
    from quanta.fit._shared import check_bootstrap_memory

    check_bootstrap_memory(n_boot, n_parts, ("fit_zipf_from_sizes", "power_law_check"), where)


def run_parts_sae_lm(cfg: SAEPartsConfig, out, *, device=None, force: bool = False, argv=None) -> dict:
    """``quanta parts sae --model ...``: activations at (layer, site) of every token, a TopK SAE, the parts tables.

    With ``cfg.pretrained`` the SAE is a published one (:func:`quanta.parts.pretrained.load_pretrained_sae`),
    loaded and checked against the activations' width before anything is written; nothing is trained. A trained
    SAE needs at least two tokens per latent; a pretrained one is not fitted here, so its size sets no minimum
    (any text of at least two tokens is encoded).

    The pretrained SAE's effective hookpoint, when it names a site, must be ``(cfg.layer, cfg.site)``: a
    mismatch is refused (one line, nothing written), since a default layer and site cannot be told from given ones
    here and guessing would encode the wrong layer. When the SAE was trained on TransformerLens activations with
    ``center_writing_weights`` on and the model has LayerNorm, each activation row is centred across d_model
    before encoding (and for ``fvu``), which is what TransformerLens's hooks give (docs/parts.md). When it was
    trained on contexts that began with a BOS token (SAELens's ``prepend_bos``), the model reads that token
    before each window and its row is dropped, so the rows are the windows' tokens as the SAE saw such tokens.

    Returns the summary (also in ``out/summary.json``): the contract's fields (:func:`write_parts_tables`) plus the
    model, site, number of tokens and the SAE's fraction of variance unexplained (``fvu``) on these activations;
    with ``pretrained`` also ``sae_source``, ``sae_format``, ``sae_activation``, ``sae_k``, ``hookpoint`` (the
    effective one), ``centred_rows`` and ``bos_token_id`` (the token each window was read after, when the SAE's
    cfg.json has ``prepend_bos``; else None).
    """
    import torch

    from quanta.parts.activations import lm_activations
    from quanta.parts.sae import fraction_unexplained, train_sae
    from quanta.progress import progress
    from quanta.store import Run
    from quanta.utils import device_description, resolve_device

    dev = resolve_device(device)
    pre = None
    if cfg.pretrained is not None:
        from quanta.parts.pretrained import load_pretrained_sae

        pre, pinfo = load_pretrained_sae(cfg.pretrained, hookpoint=cfg.hookpoint, device=dev)
    n_latents = cfg.n_latents if pre is None else pinfo.n_latents
    _check_parts_boot(cfg.n_boot, n_latents, "parts sae")
    model, tok, windows, contexts, test_fraction = _load_lm(cfg, dev,
                                                            min_tokens=2 * cfg.n_latents if pre is None else 2)
    bos = None
    if pre is not None:
        _check_pretrained_site(cfg, pinfo, model, contexts, dev)
        if pinfo.prepend_bos:
            bos = _bos_id(cfg, tok, model, pinfo)
    run = Run.create(out, command="parts sae", config=asdict(cfg), seed=cfg.seed, device=device_description(dev),
                     force=force, argv=argv, inputs=[cfg.model, cfg.pretrained])
    with run:
        with run.timer("activations"), progress(total=len(contexts), desc="activations", unit="ctx") as bar:
            X, index = lm_activations(model, contexts, layer=cfg.layer, site=cfg.site, batch_size=cfg.batch_size,
                                      device=dev, progress=bar.update, prefix=bos)
        centred = pre is not None and pinfo.centred_input and has_layernorm(model)
        if centred:  # TransformerLens's centred writing weights: each row minus its mean over d_model
            X = X - X.mean(dim=1, keepdim=True)
        if pre is None:
            with run.timer("sae"), progress(total=cfg.n_steps, desc="sae", unit="step") as bar:
                sae, info = train_sae(X, cfg.sae_config(), device=dev, progress=bar.update)
            extra = {"fvu": info["fvu"], "sae_threshold": sae.threshold if cfg.sparsity == "batchtopk" else None,
                     "n_dead_in_training": info["n_dead_at_end"]}
        else:
            sae = pre
            extra = {"sae_source": cfg.pretrained, "sae_dir": pinfo.source, "sae_format": pinfo.format,
                     "sae_activation": pinfo.activation, "sae_k": pinfo.k, "n_latents": pinfo.n_latents,
                     "hookpoint": pinfo.hookpoint, "centred_rows": bool(centred), "bos_token_id": bos}
        with torch.no_grad(), run.timer("encode"):
            codes = torch.cat([sae.encode(X[i:i + 4096]).cpu() for i in range(0, len(X), 4096)])
            if pre is not None:  # a published SAE's fit on these rows, from the codes just computed
                extra["fvu"] = fraction_unexplained(X, torch.cat([pre.decode(codes[i:i + 4096]).cpu()
                                                                  for i in range(0, len(codes), 4096)]))
        samples = _token_samples(index, contexts, windows, tok)
        summary = write_parts_tables(run, codes, samples, method="sae", dense_share=cfg.dense_share,
                                     n_contexts=cfg.n_contexts, n_boot=cfg.n_boot, seed=cfg.seed,
                                     title=f"{cfg.site} L{cfg.layer}: ")
        summary = {"model": cfg.model, "corpus": cfg.corpus, "corpus_test_fraction": test_fraction,
                   "layer": cfg.layer, "site": cfg.site,
                   "n_documents": len(windows), "d_model": int(X.shape[1]), **extra, **summary,
                   "timings_s": {k: round(v, 3) for k, v in run.manifest.get("timings_s", {}).items()}}
        return run.finish(summary)


def _bos_id(cfg, tok, model, info) -> int:
    """The token a SAELens SAE's contexts began with (``prepend_bos``): the tokenizer's BOS, else its EOS (what
    TransformerLens uses when a tokenizer has no BOS); refused when it has neither, or when a window with it
    would be longer than the model's positions."""
    from quanta.lm.losses import _model_positions

    limit = _model_positions(model.config)
    if limit is not None and cfg.context_length + 1 > limit:
        raise QuantaError(f"context_length={cfg.context_length} and the BOS token the SAE's contexts began with are "
                          f"longer than the {limit} positions model {cfg.model} was built for",
                          f"pass context_length={limit - 1} or less")
    for name in ("bos_token_id", "eos_token_id"):
        tid = getattr(tok, name, None)
        if isinstance(tid, int) and not isinstance(tid, bool):
            return tid
    raise QuantaError(f"the SAE in {info.source} was trained on contexts that begin with a BOS token (prepend_bos "
                      "in its cfg.json, true when absent), but this model's tokenizer has neither a BOS nor an EOS "
                      "token", "pass the model the SAE was trained on, or set \"prepend_bos\": false in its cfg.json "
                      "if it saw no BOS")


def has_layernorm(model) -> bool:
    """Whether the model normalises with LayerNorm (``torch.nn.LayerNorm`` modules; RMSNorm models have none),
    the models whose writing weights TransformerLens centres."""
    import torch

    return any(isinstance(m, torch.nn.LayerNorm) for m in model.modules())


def _check_pretrained_site(cfg: SAEPartsConfig, info, model, contexts, dev) -> None:
    """Before anything is written: the SAE's effective hookpoint is (cfg.layer, cfg.site), its input width is the
    site's, and a hookpoint quanta's ``hidden_states`` cannot give (the last block's output, before the final
    norm) is refused."""
    from quanta.parts.activations import lm_activations, model_blocks
    from quanta.parts.pretrained import check_width, hookpoint_site

    site = hookpoint_site(info.hookpoint)
    if site is None and info.hookpoint:
        log.warning("the pretrained SAE's hookpoint %s names no site quanta knows (layers.N, layers.N.mlp, h.N, "
                    "blocks.N.hook_resid_pre ...): --layer %d --site %s is used without a check", info.hookpoint,
                    cfg.layer, cfg.site)
    if site is not None and site != (cfg.layer, cfg.site):
        raise QuantaError(f"the pretrained SAE's hookpoint {info.hookpoint} is --site {site[1]} --layer {site[0]} in "
                          f"quanta, but --site {cfg.site} --layer {cfg.layer} was asked for",
                          f"pass --layer {site[0]} --site {site[1]} (or the SAE of the site you mean)")
    n_blocks = len(model_blocks(model))
    if site == (n_blocks, "resid"):
        raise QuantaError(f"hookpoint {info.hookpoint} is the last block's output before the final norm, but "
                          f"quanta's resid layer {n_blocks} is hidden_states[{n_blocks}], after it",
                          "use an SAE of an earlier block")
    probe, _ = lm_activations(model, [contexts[0][:2]], layer=cfg.layer, site=cfg.site, device=dev)
    check_width(info, probe.shape[1], layer=cfg.layer, site=cfg.site)


@dataclass(frozen=True)
class ActsPartsConfig:
    """Settings of ``quanta parts acts --model ...``: spectral clustering of one LM site's activations.

    Attributes
    ----------
    model, revision, corpus, max_docs, context_length, layer, site, batch_size, n_contexts, n_boot, seed
        As in :class:`SAEPartsConfig`.
    n_tokens : int, default 1000
        Tokens clustered (a seeded uniform subsample of all tokens).
    n_clusters : int, optional
        Parts; default n_tokens / 25 (QDG's headline rule, :func:`quanta.qdg.pipeline.choose_counts`).
    similarity, affinity_power, dense_max, n_neighbors, assign
        The affinity and spectral step, as in :class:`quanta.qdg.QDGConfig` (the same code). The activations
        are centred on their mean first, so that the residual stream's shared direction does not make every
        pair similar.
    """

    model: str
    revision: str | None = None
    corpus: str = "stdlib:test"
    max_docs: int | None = 100
    context_length: int = 128
    layer: int = 1
    site: str = "resid"
    n_tokens: int = 1000
    n_clusters: int | None = None
    similarity: str = "angular"
    affinity_power: int = 1
    dense_max: int = 20000
    n_neighbors: int = 30
    assign: str = "cluster_qr"
    batch_size: int = 8
    n_contexts: int = 10
    n_boot: int = 200
    seed: int = 0

    def __post_init__(self):
        from quanta.validation import Options

        _check_lm_site(self, {
            "n_tokens": [Interval(int, 10, None)],
            "n_clusters": [Interval(int, 2, None), None],
            "dense_max": [Interval(int, 1, None)],
            "n_neighbors": [Interval(int, 1, None)],
            "assign": [Options(("cluster_qr", "kmeans"))],
        })
        from quanta.qdg.cluster import _check_power, _check_similarity

        _check_similarity(self.similarity)
        _check_power(self.affinity_power)


def run_parts_acts_lm(cfg: ActsPartsConfig, out, *, device=None, force: bool = False, argv=None) -> dict:
    """``quanta parts acts --model ...``: spectral clustering of activations (QDG's affinity and spectral code).

    The parts are a partition: membership weight is each token's centrality (mean affinity to the other members
    of its part), so ``contexts.parquet`` lists the most central members; no part is flagged dense (as for QDG).
    """
    import torch

    from quanta.parts.activations import lm_activations
    from quanta.progress import progress
    from quanta.qdg.cluster import affinity_graph, member_centrality, spectral_sweep
    from quanta.qdg.pipeline import choose_counts
    from quanta.store import Run
    from quanta.utils import device_description, resolve_device

    dev = resolve_device(device)
    _, k = choose_counts(cfg.n_tokens, (), cfg.n_clusters)
    _check_parts_boot(cfg.n_boot, k, "parts acts")
    model, tok, windows, contexts, test_fraction = _load_lm(cfg, dev, min_tokens=cfg.n_tokens)
    run = Run.create(out, command="parts acts", config=asdict(cfg), seed=cfg.seed, device=device_description(dev),
                     force=force, argv=argv, inputs=[cfg.model])
    with run:
        with run.timer("activations"), progress(total=len(contexts), desc="activations", unit="ctx") as bar:
            X, index = lm_activations(model, contexts, layer=cfg.layer, site=cfg.site, batch_size=cfg.batch_size,
                                      device=dev, progress=bar.update)
        rng = np.random.default_rng(cfg.seed)
        keep = np.sort(rng.choice(len(X), cfg.n_tokens, replace=False))
        Xs = X[torch.as_tensor(keep)]
        Xs = Xs - Xs.mean(dim=0)  # (n_tokens, d), centred
        with run.timer("spectral"):
            A = affinity_graph(Xs, dense_max=cfg.dense_max, n_neighbors=min(cfg.n_neighbors, len(Xs) - 1),
                               similarity=cfg.similarity, device=dev, power=cfg.affinity_power)
            labels = spectral_sweep(A, [k], assign=cfg.assign, seed=cfg.seed, device=dev).labels[k]
        labels = np.asarray(labels).astype(np.int64)
        weight = np.maximum(member_centrality(A, labels), 1e-6)  # > 0: every member fires its part
        codes = torch.zeros((len(keep), k))
        codes[torch.arange(len(keep)), torch.as_tensor(labels)] = torch.as_tensor(weight, dtype=torch.float32)
        samples = _token_samples(index.iloc[keep].reset_index(drop=True), contexts, windows, tok)
        summary = write_parts_tables(run, codes, samples, method="acts", dense_share=1.0, n_contexts=cfg.n_contexts,
                                     n_boot=cfg.n_boot, seed=cfg.seed, title=f"{cfg.site} L{cfg.layer}: ")
        summary = {"model": cfg.model, "corpus": cfg.corpus, "corpus_test_fraction": test_fraction,
                   "layer": cfg.layer, "site": cfg.site,
                   "n_documents": len(windows), "d_model": int(X.shape[1]), "n_tokens_total": int(len(X)),
                   "n_clusters": int(k), "similarity": cfg.similarity, "affinity_power": cfg.affinity_power,
                   "graph": "knn" if len(keep) > cfg.dense_max else "dense", **summary,
                   "timings_s": {kk: round(v, 3) for kk, v in run.manifest.get("timings_s", {}).items()}}
        return run.finish(summary)


@dataclass(frozen=True)
class SAEParityConfig:
    """Settings of ``quanta parts sae --parity RUN``: a TopK SAE on the last hidden layer of one parity model.

    Attributes
    ----------
    run_dir : str
        A finished ``quanta parity run``.
    model_id : int, optional
        Model of the sweep (default: the widest, as ``quanta qdg parity``).
    n_samples : int, default 20000
        Inputs drawn from the run's task distribution (every draw is kept: no loss filter).
    k : float, default 1
        Mean active latents per input (BatchTopK), chosen as for :class:`SAEPartsConfig` on a parity tuning world
        (``cpu-small`` α 0.3, training seed 10).
    n_latents, sparsity, n_steps, sae_batch_size, lr, dense_share, n_contexts, n_boot, seed
        As in :class:`SAEPartsConfig`.
    """

    run_dir: str
    model_id: int | None = None
    n_samples: int = 20000
    n_latents: int = 512
    k: float = 1
    sparsity: str = "batchtopk"
    n_steps: int = 3000
    sae_batch_size: int = 256
    lr: float = 2e-3
    dense_share: float = DENSE_SHARE
    n_contexts: int = 10
    n_boot: int = 200
    seed: int = 0

    def __post_init__(self):
        validate_config(self, {
            "model_id": [Interval(int, 0, None), None],
            "n_samples": [Interval(int, 2, None)],
            "dense_share": [Interval(float, 0, 1, closed="right")],
            "n_contexts": [Interval(int, 1, None)],
            "n_boot": [Interval(int, 0, None)],
            "seed": [seed_range()],
        })
        self.sae_config()

    sae_config = SAEPartsConfig.sae_config


def parity_hidden(model, x):
    """The last hidden layer (after its ReLU) of a :class:`quanta.parity.ensemble.ParityMLP`: (B, width)."""
    import torch

    h = x
    for layer in model.layers[:-1]:
        h = torch.relu(layer(h))
    return h


def run_parts_sae_parity(cfg: SAEParityConfig, out, *, device=None, force: bool = False, argv=None) -> dict:
    """``quanta parts sae --parity RUN``: the parts tables of a TopK SAE on a parity model's hidden layer.

    ``samples.parquet`` carries each input's task id, label and loss (for reading the parts afterwards; the SAE
    never sees them). Returns the summary, which adds ``zipf_true`` (the run's planted alpha + 1).
    """
    import torch

    from quanta.parity import ParityTasks, load_member
    from quanta.parts.sae import train_sae
    from quanta.progress import progress
    from quanta.qdg.parity import parity_model
    from quanta.store import Run
    from quanta.utils import device_description, resolve_device

    dev = resolve_device(device)
    _check_parts_boot(cfg.n_boot, cfg.n_latents, "parts sae")
    src, model_id, row = parity_model(cfg.run_dir, cfg.model_id)
    alpha = float(row["alpha"])
    model = load_member(cfg.run_dir, model_id, device=dev)
    if int(model.width) * 2 > cfg.n_samples or cfg.n_latents * 2 > cfg.n_samples:
        raise QuantaError(f"n_samples {cfg.n_samples} is too few for a hidden layer of {model.width} units and "
                          f"{cfg.n_latents} latents (at least two samples per latent and unit)",
                          "raise --n-samples or lower --n-latents")
    run = Run.create(out, command="parts sae", config=asdict(cfg), seed=cfg.seed, device=device_description(dev),
                     force=force, argv=argv, inputs=[cfg.run_dir])
    with run:
        tasks = ParityTasks.from_config(src.config, alpha=alpha, device="cpu")
        g = torch.Generator().manual_seed(cfg.seed)
        x, y, task = tasks.sample(cfg.n_samples, generator=g)
        with torch.no_grad():
            H = torch.cat([parity_hidden(model, x[i:i + 8192].to(dev)).float().cpu()
                           for i in range(0, len(x), 8192)])
            logits = torch.cat([model(x[i:i + 8192].to(dev)).float().cpu() for i in range(0, len(x), 8192)])
            loss = torch.nn.functional.cross_entropy(logits, y, reduction="none")
        with run.timer("sae"), progress(total=cfg.n_steps, desc="sae", unit="step") as bar:
            sae, info = train_sae(H, cfg.sae_config(), device=dev, progress=bar.update)
        with torch.no_grad():
            codes = torch.cat([sae.encode(H[i:i + 4096]) for i in range(0, len(H), 4096)])
        samples = pd.DataFrame({"sample": np.arange(len(x), dtype=np.int64), "task": task.numpy(),
                                "y": y.numpy(), "loss": loss.numpy().astype(np.float32),
                                **parity_sample_text(task.numpy(), x.numpy(), y.numpy(), tasks.n_tasks)})
        summary = write_parts_tables(run, codes, samples, method="sae", dense_share=cfg.dense_share,
                                     n_contexts=cfg.n_contexts, n_boot=cfg.n_boot, seed=cfg.seed,
                                     title=f"parity model {model_id}: ")
        summary = {"run_dir": str(cfg.run_dir), "model_id": int(model_id), "width": int(model.width),
                   "zipf_true": alpha + 1.0, "fvu": info["fvu"],
                   "sae_threshold": sae.threshold if cfg.sparsity == "batchtopk" else None,
                   "n_dead_in_training": info["n_dead_at_end"], **summary}
        return run.finish(summary)


@dataclass(frozen=True)
class ActsParityConfig:
    """Settings of ``quanta parts acts --parity RUN``: QDG parity's clustering on the hidden layer instead of gradients.

    The samples, the count rule and the affinity are those of ``quanta qdg parity``
    (:class:`quanta.qdg.parity.ParityQDGConfig`, whose defaults were chosen on docs/qdg.md's tuning
    configurations); only the rows clustered differ: the last hidden layer's activations, centred on their mean
    over the samples, instead of per-sample gradients. So the two methods are compared on the same samples.

    Attributes
    ----------
    run_dir : str
        A finished ``quanta parity run``.
    model_id : int, optional
        Model of the sweep (default: the widest, as ``quanta qdg parity``).
    n_samples, threshold, n_clusters, similarity, affinity_power, n_boot, seed
        As in :class:`quanta.qdg.parity.ParityQDGConfig` (2000 samples of loss below 0.1 nats, the stability
        count, ``abs_cosine`` to the power 1): QDG parity's defaults, not tuned for activations.
    n_contexts : int, default 10
        Top contexts kept per part.
    """

    run_dir: str
    model_id: int | None = None
    # QDG parity's defaults, read from its config so that the two cannot drift apart
    n_samples: int = _QDG.n_samples
    threshold: float = _QDG.threshold
    n_clusters: int | str = _QDG.n_clusters
    similarity: str = _QDG.similarity
    affinity_power: int = _QDG.affinity_power
    n_contexts: int = 10
    n_boot: int = _QDG.n_boot
    seed: int = 0

    def __post_init__(self):
        validate_config(self, {"n_contexts": [Interval(int, 1, None)], "seed": [seed_range()]})
        self.qdg_config()  # checks the shared settings now, before anything is loaded

    def qdg_config(self):
        from quanta.qdg.parity import ParityQDGConfig

        return ParityQDGConfig(run_dir=self.run_dir, model_id=self.model_id, n_samples=self.n_samples,
                               threshold=self.threshold, n_clusters=self.n_clusters, similarity=self.similarity,
                               affinity_power=self.affinity_power, null_control=False, n_boot=self.n_boot,
                               seed=self.seed)


def run_parts_acts_parity(cfg: ActsParityConfig, out, *, device=None, force: bool = False, argv=None) -> dict:
    """``quanta parts acts --parity RUN``: spectral clustering of a parity model's centred hidden activations.

    The samples (the model's own loss below ``threshold``), the count rule and the affinity are QDG parity's
    (:func:`quanta.qdg.parity.decompose_parity` with the activations as its rows). The parts are a partition;
    membership weight is each sample's centrality in its part. ``samples.parquet`` carries each sample's task id,
    label and loss for reading the parts afterwards (the clustering never sees them). Returns the summary, which
    adds ``zipf_true`` (the run's planted alpha + 1).
    """
    import torch

    from quanta.parity import ParityTasks, load_member
    from quanta.qdg.cluster import member_centrality
    from quanta.qdg.parity import check_decompose_memory, check_parts_boot_memory, decompose_parity, parity_model
    from quanta.store import Run
    from quanta.utils import device_description, resolve_device

    dev = resolve_device(device)
    qcfg = cfg.qdg_config()
    src, model_id, row = parity_model(cfg.run_dir, cfg.model_id)
    alpha = float(row["alpha"])
    check_decompose_memory(qcfg, int(src.config.get("n_tasks", 0)) + int(src.config.get("n", 0)), dev)
    check_parts_boot_memory(qcfg, int(src.config.get("n_tasks", 0)), where="parts acts",
                            fits=("fit_zipf_from_sizes", "fit_rank_frequency", "power_law_check"))
    run = Run.create(out, command="parts acts", config=asdict(cfg), seed=cfg.seed, device=device_description(dev),
                     force=force, argv=argv, inputs=[cfg.run_dir])
    with run:
        model = load_member(cfg.run_dir, model_id, device=dev)
        tasks = ParityTasks.from_config(src.config, alpha=alpha, device="cpu")

        def centred_hidden(x, _y):
            with torch.no_grad():
                H = torch.cat([parity_hidden(model, x[i:i + 8192].to(dev)).float() for i in range(0, len(x), 8192)])
            return H - H.mean(dim=0)

        with run.timer("decompose"):
            parts = decompose_parity(model, tasks, qcfg, train_seed=int(row["seed"]), model_id=model_id, device=dev,
                                     gradients_of=centred_hidden)
        k = parts.n_clusters
        labels = np.asarray(parts.labels[k]).astype(np.int64)
        weight = np.maximum(member_centrality(parts.affinity, labels), 1e-6)  # > 0: every member fires its part
        codes = torch.zeros((len(labels), int(labels.max()) + 1))
        codes[torch.arange(len(labels)), torch.as_tensor(labels)] = torch.as_tensor(weight, dtype=torch.float32)
        samples = pd.DataFrame({"sample": np.arange(len(labels), dtype=np.int64), "task": parts.task,
                                "y": parts.y.numpy(), "loss": np.asarray(parts.loss, dtype=np.float32),
                                **parity_sample_text(parts.task, parts.x.numpy(), parts.y.numpy(), tasks.n_tasks)})
        summary = write_parts_tables(run, codes, samples, method="acts", dense_share=1.0, n_contexts=cfg.n_contexts,
                                     n_boot=cfg.n_boot, seed=cfg.seed, title=f"parity model {model_id}: ")
        summary = {"run_dir": str(cfg.run_dir), "model_id": int(model_id), "width": int(model.width),
                   "zipf_true": alpha + 1.0, "n_clusters": int(k), "cluster_count_rule": parts.count_rule,
                   "similarity": cfg.similarity, "affinity_power": cfg.affinity_power,
                   "selection": f"loss < {cfg.threshold} nats (the model's own; no task id)",
                   "n_drawn": parts.n_drawn, "n_dropped": int(sum(parts.n_dropped_by_task.values())),
                   "n_isolated": parts.n_isolated, **summary,
                   "timings_s": {kk: round(v, 3) for kk, v in run.manifest.get("timings_s", {}).items()}}
        return run.finish(summary)
