"""A planted-quanta language: a corpus whose skills, their Zipf frequencies and the skill of every token are known.

The language model side of the calibration (docs/planted.md). A document is a line of two-letter words, each
preceded by one space. Most words are *background*: drawn uniformly from ``background`` lowercase words
(``ba be bi ...``), so no rule predicts them. At a rate of ``rate`` per slot an *episode* of one of ``skills``
skills is written instead; skill ``k`` (``k = 1 .. K``, 1 the most frequent) is drawn with probability
``p_k ∝ k**-(alpha + 1)``. Every skill has its own trigger, a pair of uppercase words (``KA TO``), and a rule of
one of three kinds that determines exactly one word, the *predicted token of skill k*:

``complete``
    ``T1 T2 a`` : the trigger is followed by the skill's fixed answer word ``a`` (lowercase vowel-consonant,
    ``ab ek ...``): a memorised fact.
``copy``
    ``T1 T2 w`` : the trigger is followed by a copy of the word ``d_k`` words (1 to 4) before ``T1``.
``count``
    ``T1 T2 x y`` : a random digit ``x`` (not determined), then the digit ``y = (x + s_k) mod 10``: counting on
    by the skill's step ``s_k`` (1 to 9).

Each episode determines one word, so the skills' shares of the determined words follow the planted Zipf law
exactly (up to sampling). The kinds cycle with the rank (skill 1 complete, 2 copy, 3 count, 4 complete, ...), so
every kind spans all frequencies.

The words are chosen so that a byte-level BPE trained on the corpus (the ``cpu`` preset's vocabulary of 512)
keeps each word, with its leading space, as one token: every pre-token is a space and two characters, and the
merges needed (one per first character and one per word, under 200 for the defaults) fit the 255 merges of a
512-token vocabulary. The labels do not rely on that: they map the determined word's characters to token
positions through the tokenizer's offsets (:func:`document_token_skills`).

The labels are the planted truth. They are used only to score (per-skill losses here; QDG's parts in
:func:`quanta.lm.planted_score.score_against_planted`); nothing on the path to a measurement (training, losses,
QDG) reads them.

Corpus spec (:func:`parse_planted_spec`): ``planted``, ``planted:KEY=VALUE,KEY=VALUE...`` with an optional
``:train`` / ``:test`` split, e.g. ``planted:skills=200,alpha=0.5,seed=1:test``. Documents are numbered by
generation index, with source ``planted/NNNNNN``; the split is by source, the rule
:func:`quanta.lm.corpus.held_out` that the stdlib split and ``quanta lm train-suite`` use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from quanta.errors import QuantaError

__all__ = ["PLANTED", "PlantedSpec", "PlantedDoc", "parse_planted_spec", "is_planted_spec", "skill_table",
           "generate_document", "planted_sources", "skill_probabilities", "document_token_skills",
           "window_skills", "row_skills", "skill_losses", "loss_floor", "KINDS"]

PLANTED = "planted"
KINDS = ("complete", "copy", "count")
SPLITS = ("all", "train", "test")

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
BACKGROUND_WORDS = tuple(c + v for c in _CONSONANTS for v in _VOWELS)  # 70
TRIGGER_WORDS = tuple((c + v).upper() for c in _CONSONANTS for v in _VOWELS)  # 70
ANSWER_WORDS = tuple(v + c for v in _VOWELS for c in _CONSONANTS)  # 70
DIGITS = tuple(str(i) for i in range(10))
MAX_COPY_OFFSET = 4
_LEAD = MAX_COPY_OFFSET  # background words at the start of every document, so a copy always has a source


@dataclass(frozen=True)
class PlantedSpec:
    """The settings of a planted corpus (the keys of a ``planted:...`` spec).

    Attributes
    ----------
    skills : int, default 200
        Number of skills K (2 .. 4900: the triggers are pairs of up to 70 uppercase words).
    alpha : float, default 0.5
        Skill ``k`` is used with probability ∝ ``k**-(alpha + 1)`` (so the planted α_N is ``alpha``).
    seed : int, default 0
        Seeds the skills (triggers, answers, offsets, steps) and every document.
    docs : int, default 6000
        Documents generated (before the split). 6000 documents of 256 words are about 1.6M tokens: more than
        the ``cpu`` preset's 1.23M training tokens, so it trains for about one epoch.
    doc_len : int, default 256
        Words per document at least (an episode at the end is completed).
    rate : float, default 0.3
        Probability that a slot holds an episode instead of a background word (0 < rate < 1).
    background : int, default 48
        Background words (2 .. 70).
    answers : int, default 32
        Answer words of the ``complete`` skills (2 .. 70).
    kinds : str, default "complete+copy+count"
        The kinds of rules, ``+``-separated; skill ``k`` has kind ``kinds[(k - 1) % len(kinds)]``.
    """

    skills: int = 200
    alpha: float = 0.5
    seed: int = 0
    docs: int = 6000
    doc_len: int = 256
    rate: float = 0.3
    background: int = 48
    answers: int = 32
    kinds: str = "+".join(KINDS)

    def __post_init__(self):
        def need_int(name, lo, hi):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
                raise QuantaError(f"planted corpus: {name} must be an integer in [{lo}, {hi}], got {v!r}",
                                  f"e.g. {name}={getattr(PlantedSpec, name)}")
            object.__setattr__(self, name, int(v))

        need_int("skills", 2, len(TRIGGER_WORDS) ** 2)
        need_int("seed", 0, 2**63 - 1)
        need_int("docs", 1, 10_000_000)
        need_int("doc_len", 16, 1_000_000)
        need_int("background", 2, len(BACKGROUND_WORDS))
        need_int("answers", 2, len(ANSWER_WORDS))
        for name, lo, hi, open_lo in (("alpha", 0.0, 10.0, True), ("rate", 0.0, 1.0, True)):
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo < v
            ok = ok and (v < hi if name == "rate" else v <= hi)
            if not ok:
                close = ")" if name == "rate" else "]"
                raise QuantaError(f"planted corpus: {name} must be a number in ({lo}, {hi}{close}, got {v!r}",
                                  f"e.g. {name}={getattr(PlantedSpec, name)}")
            object.__setattr__(self, name, float(v))
        kinds = tuple(k for k in str(self.kinds).split("+") if k)
        bad = [k for k in kinds if k not in KINDS]
        if not kinds or bad or len(set(kinds)) != len(kinds):
            raise QuantaError(f"planted corpus: kinds must be distinct names from {', '.join(KINDS)} joined by +, "
                              f"got {self.kinds!r}", "e.g. kinds=complete+copy+count or kinds=complete")
        object.__setattr__(self, "kinds", "+".join(kinds))

    @property
    def kind_list(self) -> tuple[str, ...]:
        return tuple(self.kinds.split("+"))

    @property
    def n_triggers(self) -> int:
        """Trigger words used: the fewest whose pairs give every skill its own trigger."""
        return max(2, math.ceil(math.sqrt(self.skills)))

    def to_spec(self, split: str = "all") -> str:
        """The corpus spec string of these settings (every key written)."""
        keys = ",".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))
        return f"{PLANTED}:{keys}" + ("" if split == "all" else f":{split}")


def is_planted_spec(spec: str) -> bool:
    """Whether a corpus spec string names the planted language."""
    s = str(spec).strip()
    return s == PLANTED or s.startswith(PLANTED + ":")


def parse_planted_spec(spec: str) -> tuple[PlantedSpec, str]:
    """``planted[:KEY=VALUE,...][:train|:test]`` → (settings, split).

    Raises
    ------
    QuantaError
        For an unknown key, a malformed part, a repeated key or split, or a value out of range (one line).
    """
    s = str(spec).strip()
    if not is_planted_spec(s):
        raise QuantaError(f"corpus: {spec!r} is not a planted spec", "write planted:skills=200,alpha=0.5,seed=1")
    parts = s.split(":")[1:]
    split = "all"
    values: dict = {}
    known = {f.name: f for f in fields(PlantedSpec)}
    seen_split = False
    for part in parts:
        part = part.strip()
        if not part:
            continue
        if part in SPLITS:
            if seen_split:
                raise QuantaError(f"corpus: {spec!r} names the split twice", "end the spec with one :train or :test")
            split, seen_split = part, True
            continue
        for item in part.split(","):
            item = item.strip()
            if not item:
                continue
            key, eq, raw = item.partition("=")
            key = key.strip()
            if not eq:
                raise QuantaError(f"corpus: {spec!r}: {item!r} is neither KEY=VALUE nor a split",
                                  f"keys: {', '.join(known)}; splits: train, test")
            if key not in known:
                raise QuantaError(f"corpus: {spec!r}: unknown key {key!r}", f"keys: {', '.join(known)}")
            if key in values:
                raise QuantaError(f"corpus: {spec!r}: the key {key!r} is given twice", "give each key once")
            raw = raw.strip()
            if key == "kinds":
                values[key] = raw
                continue
            try:
                values[key] = float(raw) if key in ("alpha", "rate") else int(raw)
            except ValueError:
                kind = "a number" if key in ("alpha", "rate") else "an integer"
                raise QuantaError(f"corpus: {spec!r}: {key} must be {kind}, got {raw!r}",
                                  f"e.g. {key}={getattr(PlantedSpec, key)}") from None
    return PlantedSpec(**values), split


# --------------------------------------------------------------------------- the skills
def skill_probabilities(spec: PlantedSpec) -> np.ndarray:
    """``(K,)`` planted use probabilities ``p_k ∝ k**-(alpha+1)`` of skills ``k = 1 .. K`` (index ``k - 1``)."""
    k = np.arange(1, spec.skills + 1, dtype=np.float64)
    w = k ** -(spec.alpha + 1.0)
    return w / w.sum()


def skill_table(spec: PlantedSpec) -> pd.DataFrame:
    """The planted skills: ``skill`` (1 .. K, by frequency), ``kind``, ``trigger`` (two words), ``answer``
    (complete), ``offset`` (copy: words before the trigger), ``step`` (count), ``probability``.

    A function of ``skills``, ``seed``, ``answers`` and ``kinds`` only: the number of documents does not change it.
    """
    rng = np.random.default_rng([spec.seed, 0x5C111])
    t = spec.n_triggers
    pairs = rng.choice(t * t, size=spec.skills, replace=False)
    answer = rng.integers(spec.answers, size=spec.skills)
    offset = rng.integers(1, MAX_COPY_OFFSET + 1, size=spec.skills)
    step = rng.integers(1, 10, size=spec.skills)
    kinds = spec.kind_list
    kind = [kinds[i % len(kinds)] for i in range(spec.skills)]
    return pd.DataFrame({
        "skill": np.arange(1, spec.skills + 1, dtype=np.int32),
        "kind": kind,
        "trigger": [f"{TRIGGER_WORDS[p // t]} {TRIGGER_WORDS[p % t]}" for p in pairs],
        "answer": [ANSWER_WORDS[a] if k == "complete" else "" for a, k in zip(answer, kind)],
        "offset": np.where(np.asarray(kind) == "copy", offset, 0).astype(np.int32),
        "step": np.where(np.asarray(kind) == "count", step, 0).astype(np.int32),
        "probability": skill_probabilities(spec),
    })


@dataclass(frozen=True)
class _Rules:
    t1: np.ndarray  # (K,) trigger word indices
    t2: np.ndarray
    kind: np.ndarray  # (K,) 0 complete, 1 copy, 2 count
    answer: np.ndarray
    offset: np.ndarray
    step: np.ndarray
    cdf: np.ndarray


_RULES_CACHE: dict = {}


def _rules(spec: PlantedSpec) -> _Rules:
    key = (spec.skills, spec.seed, spec.answers, spec.kinds, spec.alpha)
    if key not in _RULES_CACHE:
        tab = skill_table(spec)
        idx = {w: i for i, w in enumerate(TRIGGER_WORDS)}
        t1 = np.array([idx[s.split()[0]] for s in tab["trigger"]])
        t2 = np.array([idx[s.split()[1]] for s in tab["trigger"]])
        aidx = {w: i for i, w in enumerate(ANSWER_WORDS)}
        answer = np.array([aidx.get(a, 0) for a in tab["answer"]])
        kind = np.array([KINDS.index(k) for k in tab["kind"]])
        cdf = np.cumsum(skill_probabilities(spec))
        cdf[-1] = 1.0
        _RULES_CACHE[key] = _Rules(t1, t2, kind, answer, tab["offset"].to_numpy(), tab["step"].to_numpy(), cdf)
    return _RULES_CACHE[key]


# --------------------------------------------------------------------------- documents
@dataclass(frozen=True)
class PlantedDoc:
    """One generated document and its planted truth.

    Attributes
    ----------
    text : str
        ``" w1 w2 w3 ..."``: every word preceded by one space.
    episodes : numpy.ndarray
        ``(n, 4)`` int64 rows ``(skill, context_start, start, end)``: the skill, the character where the text
        its rule reads begins (the trigger, or the copied word for ``copy``), and the character span
        ``[start, end)`` of the word the rule determines (without its space).
    """

    text: str
    episodes: np.ndarray


def generate_document(spec: PlantedSpec, index: int) -> PlantedDoc:
    """Document ``index`` of the planted corpus; a function of (spec, index) alone, so any document can be
    regenerated without the others."""
    R = _rules(spec)
    rng = np.random.default_rng([spec.seed, 1, int(index)])
    n = spec.doc_len
    is_ep = rng.random(n) < spec.rate
    is_ep[:_LEAD] = False
    skill0 = np.searchsorted(R.cdf, rng.random(n), side="right")  # 0-based skill of each slot
    bg = rng.integers(spec.background, size=n)
    dig = rng.integers(10, size=n)
    words: list[str] = []
    eps: list[tuple[int, int, int]] = []  # (skill0, context word index, determined word index)
    B, T, A, D = BACKGROUND_WORDS, TRIGGER_WORDS, ANSWER_WORDS, DIGITS
    slot = 0
    while len(words) < n:
        i = slot % n
        if not is_ep[i]:
            words.append(B[bg[i]])
        else:
            k = int(skill0[i])
            start = len(words)
            words.append(T[R.t1[k]])
            words.append(T[R.t2[k]])
            kind = R.kind[k]
            if kind == 0:
                eps.append((k, start, len(words)))
                words.append(A[R.answer[k]])
            elif kind == 1:
                src = start - int(R.offset[k])
                eps.append((k, src, len(words)))
                words.append(words[src])
            else:
                x = int(dig[i])
                words.append(D[x])
                eps.append((k, start, len(words)))
                words.append(D[(x + int(R.step[k])) % 10])
        slot += 1
    lens = np.fromiter((len(w) + 1 for w in words), dtype=np.int64, count=len(words))
    starts = np.cumsum(lens) - lens + 1  # character where each word begins (after its space)
    ends = starts + lens - 1
    text = "".join(" " + w for w in words)
    if eps:
        e = np.asarray(eps, dtype=np.int64)
        episodes = np.stack([e[:, 0] + 1, starts[e[:, 1]], starts[e[:, 2]], ends[e[:, 2]]], axis=1)
    else:
        episodes = np.zeros((0, 4), dtype=np.int64)
    return PlantedDoc(text, episodes)


def source_name(index: int) -> str:
    """The ``source`` of planted document ``index`` (the key of the held-out split)."""
    return f"{PLANTED}/{int(index):06d}"


def _index_of(source: str) -> int:
    head, _, num = str(source).partition("/")
    if head != PLANTED or not num.isdigit():
        raise QuantaError(f"document source {source!r} is not a planted document", "pass documents that "
                          "load_corpus read from a planted:... spec")
    return int(num)


def planted_sources(spec: str, *, held_out) -> Iterable[tuple[str, str]]:
    """``(source, text)`` of the documents of a ``planted:...`` spec in its split, in generation order.

    ``held_out(source) -> bool`` is the split rule (:func:`quanta.lm.corpus.load_corpus` passes
    :func:`quanta.lm.corpus.held_out` at its ``test_fraction``; this module does not import the corpus module).
    """
    ps, split = parse_planted_spec(spec)
    for i in range(ps.docs):
        src = source_name(i)
        if split != "all" and held_out(src) != (split == "test"):
            continue
        yield src, generate_document(ps, i).text


# --------------------------------------------------------------------------- labels of tokens
def _as_spec(spec) -> PlantedSpec:
    if isinstance(spec, PlantedSpec):
        return spec
    return parse_planted_spec(spec)[0]


def _encode_with_offsets(tokenizer, texts: Sequence[str], add_special_tokens: bool):
    if hasattr(tokenizer, "encode_batch") and not hasattr(tokenizer, "batch_decode"):  # tokenizers.Tokenizer
        enc = tokenizer.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        return [(e.ids, e.offsets) for e in enc]
    out = tokenizer(list(texts), add_special_tokens=add_special_tokens, return_offsets_mapping=True,
                    return_attention_mask=False, verbose=False)
    return list(zip(out["input_ids"], out["offset_mapping"]))


def document_token_skills(docs, tokenizer, spec, *, add_special_tokens: bool = True) -> dict[int, tuple]:
    """The planted skill of every token of every document's full tokenisation.

    A token is *of skill k* when its character span (the tokenizer's offsets) overlaps the word that an episode
    of skill ``k`` determines; every other token (background words, triggers, the random digit of a count) is
    ``-1``. With the words of this language each determined word is one token in a tokenizer trained on the
    corpus (a test checks it at the ``cpu`` preset's vocabulary of 512), so this is the one token the rule
    predicts.

    Parameters
    ----------
    docs : sequence of quanta.lm.corpus.Document
        Documents read from ``spec`` by :func:`quanta.lm.corpus.load_corpus` (any split, any ``max_docs``); each
        is regenerated from its source and checked against its text.
    tokenizer : transformers tokenizer or tokenizers.Tokenizer
        The one that made the token ids.
    spec : str or PlantedSpec
    add_special_tokens : bool, default True
        As passed to :func:`quanta.lm.corpus.tokenize_documents`.

    Returns
    -------
    dict
        ``doc id -> (ids, skill, context)``: ``(n,)`` token ids, ``(n,)`` int32 skills, and ``(n,)`` int64 the
        position of the token where the rule's context begins (``-1`` for background).
    """
    ps = _as_spec(spec)
    docs = list(docs)
    out: dict[int, tuple] = {}
    for b in range(0, len(docs), 256):
        chunk = docs[b:b + 256]
        gen = []
        for d in chunk:
            g = generate_document(ps, _index_of(d.source))
            if g.text != d.text:
                raise QuantaError(f"document {d.doc} ({d.source}) is not the one the spec {ps.to_spec()} generates",
                                  "pass the spec the corpus was read from")
            gen.append(g)
        for d, g, (ids, offs) in zip(chunk, gen, _encode_with_offsets(tokenizer, [d.text for d in chunk],
                                                                         add_special_tokens)):
            offs = np.asarray(offs, dtype=np.int64).reshape(-1, 2)
            n = len(ids)
            skill = np.full(n, -1, dtype=np.int32)
            ctx = np.full(n, -1, dtype=np.int64)
            real = offs[:, 1] > offs[:, 0]
            a = np.where(real, offs[:, 0], -1)
            e_end = np.maximum.accumulate(np.where(real, offs[:, 1], 0))  # ends, made non-decreasing
            for k, c0, s, e in g.episodes:
                first = int(np.searchsorted(e_end, s, side="right"))  # first token ending after s
                j = first
                while j < n and (not real[j] or a[j] < e):
                    if real[j]:
                        skill[j] = k
                        ctx[j] = np.searchsorted(e_end, c0, side="right")
                    j += 1
            out[d.doc] = (np.asarray(ids, dtype=np.int64), skill, ctx)
    return out


def window_skills(windows, docs, tokenizer, spec, *, add_special_tokens: bool = True) -> list[np.ndarray]:
    """The planted skill of every predicted token of tokenised windows.

    Parameters
    ----------
    windows : sequence of quanta.lm.corpus.TokenizedWindow
        From :func:`quanta.lm.corpus.tokenize_documents` of ``docs`` with ``tokenizer``.
    docs, tokenizer, spec, add_special_tokens
        See :func:`document_token_skills`.

    Returns
    -------
    list of numpy.ndarray
        One ``(len(ids) - 1,)`` int32 array per window: entry ``i`` is the skill of ``ids[i + 1]``, ``-1`` for a
        background token and also for a determined token whose rule reads text before the window's first token
        (the window cannot determine it).
    """
    by_doc = {d.doc: d for d in docs}
    need = sorted({w.doc for w in windows})
    missing = [d for d in need if d not in by_doc]
    if missing:
        raise QuantaError(f"windows name documents {missing[:5]} that are not among docs", "pass the same documents")
    labels = document_token_skills([by_doc[d] for d in need], tokenizer, spec, add_special_tokens=add_special_tokens)
    out = []
    for w in windows:
        ids, skill, ctx = labels[w.doc]
        span = slice(w.start, w.start + len(w.ids))
        if not np.array_equal(ids[span], w.ids):
            raise QuantaError(f"the tokens of document {w.doc} at {w.start} differ from the tokenizer's",
                              "pass the tokenizer the windows were made with")
        lab = skill[span][1:].copy()
        lab[ctx[span][1:] < w.start] = -1
        out.append(lab)
    return out


def row_skills(rows: pd.DataFrame, docs, tokenizer, spec, *, context_length: int | None = None,
               add_special_tokens: bool = True) -> np.ndarray:
    """The planted skill of ``(doc, pos)`` rows: a ``quanta lm losses`` table or QDG's ``tokens`` table.

    ``pos`` is the position of the predicted token in its document's tokens. With ``context_length`` the rows
    come from windows of that length (``quanta lm losses --windows``): a token whose rule reads text before
    its window is ``-1``, as in :func:`window_skills`. Without it every window starts at the document's start.

    Returns
    -------
    numpy.ndarray
        ``(len(rows),)`` int32 skills (``-1`` background).
    """
    doc = rows["doc"].to_numpy(np.int64)
    pos = rows["pos"].to_numpy(np.int64)
    by_doc = {d.doc: d for d in docs}
    need = sorted(set(doc.tolist()))
    missing = [d for d in need if d not in by_doc]
    if missing:
        raise QuantaError(f"rows name documents {missing[:5]} that are not among docs", "pass the same documents")
    labels = document_token_skills([by_doc[d] for d in need], tokenizer, spec, add_special_tokens=add_special_tokens)
    out = np.full(len(rows), -1, dtype=np.int32)
    for d in need:
        ids, skill, ctx = labels[d]
        m = np.nonzero(doc == d)[0]
        p = pos[m]
        if p.size and p.max() >= len(ids):
            raise QuantaError(f"row position {int(p.max())} is beyond document {d}'s {len(ids)} tokens",
                              "pass the tokenizer the rows were made with")
        lab = skill[p]
        if context_length is not None:
            wstart = (p // int(context_length)) * int(context_length)
            lab = np.where(ctx[p] < wstart, -1, lab)
        out[m] = lab
    return out


# --------------------------------------------------------------------------- scoring
def skill_losses(losses: pd.DataFrame, skills: np.ndarray, *, learned_below: float = 0.1) -> pd.DataFrame:
    """Mean loss of every (model, skill) from a per-token loss table and the rows' planted skills.

    Parameters
    ----------
    losses : pandas.DataFrame
        Columns ``model`` and ``loss`` (one row per token and model, as ``quanta lm losses`` writes).
    skills : numpy.ndarray
        ``(len(losses),)`` planted skill of every row (:func:`row_skills`), ``-1`` background.
    learned_below : float, default 0.1
        A skill counts as learned by a model when its mean loss is below this many nats.

    Returns
    -------
    pandas.DataFrame
        ``model``, ``skill`` (``-1``: background), ``n_tokens``, ``mean_loss``, ``learned``.
    """
    df = pd.DataFrame({"model": losses["model"].to_numpy(), "skill": np.asarray(skills, dtype=np.int32),
                       "loss": losses["loss"].to_numpy(np.float64)})
    g = df.groupby(["model", "skill"], sort=True)["loss"].agg(["size", "mean"]).reset_index()
    g = g.rename(columns={"size": "n_tokens", "mean": "mean_loss"})
    g["learned"] = (g["skill"] > 0) & (g["mean_loss"] < learned_below)
    return g


def loss_floor(spec) -> dict:
    """The loss of the ideal predictor (the generating process itself), per token, in nats, for long documents.

    A slot is a background word with probability ``1 - rate`` (loss ``-log((1 - rate)/background)``) or an
    episode of skill ``k`` with probability ``rate·p_k``: its trigger pair costs ``-log(rate·p_k)`` in all, the
    random digit of a ``count`` costs ``log 10``, and the determined word costs 0. The floor is the expected
    loss per slot over the expected words per slot (the background words that open every document and the
    document ends are left out). A model's loss on skill tokens can fall to 0; the rest is irreducible.

    Returns
    -------
    dict
        ``per_token`` (the mean floor over all tokens), ``background_word`` (the floor of one background word),
        ``skill_token_share`` (the expected share of determined tokens).
    """
    ps = _as_spec(spec)
    p = skill_probabilities(ps)
    is_count = np.asarray([k == "count" for k in skill_table(ps)["kind"]])
    r, nb = ps.rate, ps.background
    h = float(-(p * np.log(p)).sum())
    p_count = float(p[is_count].sum())
    loss_slot = (1 - r) * -math.log((1 - r) / nb) + r * (-math.log(r) + h + p_count * math.log(10))
    words_slot = (1 - r) + r * (3 + p_count)
    return {"per_token": loss_slot / words_slot, "background_word": -math.log((1 - r) / nb),
            "skill_token_share": r / words_slot}
