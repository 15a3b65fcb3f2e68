"""QDG end to end on a language model at the paper's scale, timed as a user runs it (issue 18's 100k-token target).

No pretrained model can be fetched here or on the device machine, so this builds a randomly initialised GPT-NeoX of
the given shape (``pythia-70m``: hidden 512, 6 layers, vocabulary 50,304) and a byte-level BPE tokenizer trained
offline on the corpus (:func:`quanta.lm.train.train_tokenizer`), saves both with ``save_pretrained`` into a work
folder, and then times :func:`quanta.qdg.run_qdg_lm`, the call behind ``quanta qdg --model DIR``, from loading the
model to the finished run directory (tokens, gradients, kNN graph, spectral sweep, Zipf fits, contexts, figures).

A random network predicts every token with a loss near log(vocabulary), so the loss threshold is set above that
(``--threshold``, default 1e6 nats): every prediction is a candidate except the induction tokens, which are still
dropped. The run measures time and memory; its clusters mean nothing. Usage::

    python benchmarks/qdg_e2e.py count --context 1024 --max-docs 300          # CPU: are there 100k candidates?
    python benchmarks/qdg_e2e.py run --shape pythia-70m --context 1024 --n-tokens 100000 --max-docs 300 \\
        --counts 50,100,200,300 --n-clusters 300 --device cuda --json e2e.json   # GPU target: <= 600 s end to end
    python benchmarks/qdg_e2e.py run --shape small --context 32 --n-tokens 300 --max-docs 40 --vocab 512 \\
        --dense-max 100 --device cpu                                          # the CPU dry run (seconds)

``chunks DIR`` writes a corpus of many short documents cut from the stdlib (a CPU check at many tokens needs a
short context, and the stdlib has only about 730 files): docs/data/qdg_e2e_cpu.json is such a run at 30k tokens.
``count`` tokenizes the documents as the run will (one window of ``--context`` tokens per document) and counts the
candidates left once the induction tokens are dropped, without a model, so that ``--max-docs`` can be chosen on the
CPU. ``run`` prints one line per stage and writes the figures with ``--json``: ``seconds`` (the run, end to end),
``setup_seconds`` (tokenizer, model, saving: not part of the target), the stage timings the run directory records,
the tokens clustered and candidates found, the graph, the eigensolver, and on CUDA the peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QUANTA_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHAPES = {
    # hidden, layers, heads, intermediate, vocab
    "pythia-70m": (512, 6, 8, 2048, 50304),
    "small": (128, 2, 4, 512, 4096),
}


def documents(corpus: str, max_docs: int):
    from quanta.lm.corpus import load_corpus

    return load_corpus(corpus, max_docs=max_docs)


def tokenizer_for(docs, vocab: int):
    from quanta.lm.train import train_tokenizer

    return train_tokenizer([d.text for d in docs], vocab_size=vocab)


def candidates(docs, tok, context: int, drop_induction: bool = True) -> tuple[int, int, int]:
    """(windows, predictions, candidates) as run_qdg_lm finds them when every loss is below the threshold."""
    import numpy as np

    from quanta.lm.corpus import tokenize_documents
    from quanta.qdg.select import select_tokens

    windows = tokenize_documents(docs, tok, context_length=context, n_windows=1, min_tokens=3)
    contexts = [w.ids for w in windows]
    zeros = [np.zeros(len(c), dtype=np.float32) for c in contexts]
    for z in zeros:
        z[0] = np.nan
    sel = select_tokens(contexts, zeros, threshold=1.0, drop_induction=drop_induction, n_tokens=None,
                        doc_ids=[w.doc for w in windows])
    return len(windows), sum(len(c) - 1 for c in contexts), len(sel)


def build_model_dir(path: Path, shape: str, context: int, tok, seed: int = 0) -> int:
    """A random GPT-NeoX of ``shape`` and the tokenizer, saved into ``path``; returns the parameter count."""
    from quanta.lm.train import build_neox, neox_config

    h, L, heads, inter, vocab = SHAPES[shape]
    if len(tok) > vocab:
        raise SystemExit(f"the tokenizer has {len(tok)} tokens, more than the {shape} vocabulary ({vocab}): "
                         "lower --vocab")
    cfg = neox_config(vocab_size=vocab, hidden_size=h, n_layers=L, n_heads=heads, intermediate_size=inter,
                      max_positions=max(2048, context))
    model = build_neox(cfg, seed=seed)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return sum(p.numel() for p in model.parameters())


def cmd_chunks(a) -> None:
    """Cut the stdlib's .py files (sorted by path) into documents of ``--chars`` characters (those of at least
    ``--min-chars``), up to ``--n`` of them, into the folder ``a.out``: a corpus of many short documents, for a
    CPU check at many tokens with a short context."""
    from quanta.lm.corpus import stdlib_root

    out = Path(a.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        print(f"{out} is not empty: name a new folder (an earlier cut's documents would stay in the corpus)")
        raise SystemExit(2)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in sorted(p for p in stdlib_root().rglob("*.py") if "site-packages" not in p.parts):
        try:
            text = f.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        for i in range(0, len(text), a.chars):
            piece = text[i:i + a.chars]
            if len(piece) >= a.min_chars and n < a.n:  # exactly --n documents (or all there are)
                (out / f"c{n:06d}.txt").write_text(piece)
                n += 1
        if n >= a.n:
            break
    print(f"{n} documents in {out}")


def cmd_count(a) -> None:
    t0 = time.perf_counter()
    docs = documents(a.corpus, a.max_docs)
    tok = tokenizer_for(docs, a.vocab)
    n_win, n_pred, n_cand = candidates(docs, tok, a.context)
    print(f"corpus={a.corpus} documents={len(docs)} windows={n_win} context={a.context} predictions={n_pred} "
          f"candidates (induction tokens dropped)={n_cand} ({time.perf_counter() - t0:.1f} s)")
    _write_json(a.json, {"corpus": a.corpus, "max_docs": a.max_docs, "documents": len(docs), "windows": n_win,
                         "context": a.context, "vocab": len(tok), "predictions": n_pred, "candidates": n_cand})


def cmd_run(a) -> None:
    import torch

    from quanta.qdg import QDGConfig, run_qdg_lm

    if a.threads:
        torch.set_num_threads(a.threads)
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="quanta-qdg-e2e-"))
    model_dir, out = work / "model", work / "run"
    t0 = t1 = time.perf_counter()
    stages, on_stage = stage_log()
    setup = None  # the seconds of the untimed set-up, once it is done
    try:
        docs = documents(a.corpus, a.max_docs)
        tok = tokenizer_for(docs, a.vocab)
        n_params = build_model_dir(model_dir, a.shape, a.context, tok, seed=a.seed)
        setup = time.perf_counter() - t0
        print(f"setup: {len(docs)} documents, tokenizer of {len(tok)} tokens, random {a.shape} "
              f"({n_params / 1e6:.1f}M parameters) saved in {setup:.1f} s (not timed below)", flush=True)
        cfg = QDGConfig(model=str(model_dir), corpus=a.corpus, max_docs=a.max_docs, context_length=a.context,
                        threshold=a.threshold, n_tokens=a.n_tokens, project=a.project or None, dense_max=a.dense_max,
                        counts=tuple(int(k) for k in a.counts.split(",")) if a.counts else None,
                        n_clusters=a.n_clusters, batch_size=a.batch_size, seed=a.seed)
        device = torch.device(a.device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t1 = time.perf_counter()
        summary = run_qdg_lm(cfg, out, device=a.device, force=True, on_stage=on_stage)
    except KeyboardInterrupt:  # gpu_run.sh's timeout (SIGINT): keep how far it got, stage by stage
        now = time.perf_counter()
        wall = now - t1 if setup is not None else 0.0
        done = {st["stage"]: st["seconds"] for st in stages if st["finished"]}
        cut = next(({"stage": st["stage"], "seconds": st["seconds"]} for st in stages if not st["finished"]), None)
        if setup is None:  # cut short before QDG began: in the set-up, which is not timed as part of the run
            cut = {"stage": "setup", "seconds": now - t0}
        print(f"qdg end to end: interrupted after {wall:.1f} s; stages finished: {done}; cut short: {cut}")
        _write_json(a.json, {"shape": a.shape, "context": a.context, "n_tokens_asked": a.n_tokens,
                             "device": a.device, "interrupted": True, "seconds": wall, "setup_seconds": setup,
                             "timings_s": done, "cut_stage": cut, **_provenance(a.argv)})
        raise SystemExit(130)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t1
    timings = summary.get("timings_s", {})
    stages = " ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    print(f"qdg end to end: {wall:.1f} s for {summary['n_tokens']} tokens ({summary['n_candidates']} candidates, "
          f"{summary['n_documents']} documents of up to {a.context} tokens); stages: {stages}")
    print(f"graph {summary['graph']}, eigensolver {summary['eigen_solver']}, k = {summary['n_clusters']}, "
          f"{len(summary['counts'])} counts; gradient dim {summary['grad_dim']} sketched to {summary['project']}")
    record = {**_provenance(a.argv), "shape": a.shape, "n_params": n_params, "context": a.context, "corpus": a.corpus,
              "max_docs": a.max_docs, "vocab": len(tok), "threshold": a.threshold, "n_tokens_asked": a.n_tokens,
              "device": str(device), "seconds": wall, "setup_seconds": setup, "timings_s": timings}
    for key in ("n_tokens", "n_candidates", "n_documents", "n_predictions", "grad_dim", "project", "graph",
                "eigen_solver", "n_clusters", "counts"):
        record[key] = summary.get(key)
    if device.type == "cuda":
        record["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
        record["gpu"] = torch.cuda.get_device_name()
        print(f"peak GPU memory {record['peak_gpu_gib']:.1f} GiB")
    if summary["n_tokens"] < a.n_tokens:
        print(f"only {summary['n_tokens']} of the {a.n_tokens} tokens asked for were candidates: raise --max-docs")
    _write_json(a.json, record)
    if not a.work and not a.keep:
        shutil.rmtree(work, ignore_errors=True)


def stage_log():
    """The stages of a run as they start and end, and the ``on_stage`` callback (``quanta.store.Stage``) that keeps
    them: a list of ``{"stage", "seconds", "finished"}``. Read from here, not from the run's manifest, because a run
    interrupted in its first stages removes its directory (it holds nothing yet), and the manifest adds a cut
    stage's partial time as if it had finished; here a cut stage is the one left ``finished: False``, with the
    seconds it ran."""
    stages: list[dict] = []
    running: dict[str, dict] = {}  # the stages started and not ended yet, by name (a stage may hold another)

    def on_stage(st) -> None:
        if st.state == "started":
            running[st.name] = {"stage": st.name, "seconds": 0.0, "finished": False}
            stages.append(running[st.name])
        else:
            running.pop(st.name).update(seconds=st.seconds, finished=st.state == "finished")

    return stages, on_stage


def _provenance(argv: list[str]) -> dict:
    """When, from which commit (+changes where src/ or benchmarks/ differ from it) and with which command line a
    record was made, and the load average then."""
    import datetime as dt

    from provenance import commit

    return {"date": dt.date.today().isoformat(), "commit": commit(),
            "command": " ".join(["python benchmarks/qdg_e2e.py", *argv]), "load_average": os.getloadavg()[0]}


def _write_json(path, record) -> None:
    if path:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump(record, f, indent=1)
        os.replace(tmp, path)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("chunks")
    c.add_argument("out")
    c.add_argument("--n", type=int, default=6000)
    c.add_argument("--chars", type=int, default=1500)
    c.add_argument("--min-chars", type=int, default=600)
    for name in ("count", "run"):
        s = sub.add_parser(name)
        s.add_argument("--corpus", default="stdlib", help="corpus spec (quanta.lm.corpus.load_corpus)")
        s.add_argument("--max-docs", type=int, default=600)
        s.add_argument("--context", type=int, default=1024)
        s.add_argument("--vocab", type=int, default=8192, help="BPE vocabulary trained on the documents")
        s.add_argument("--json", default=None, help="also write the figures to this JSON file")
        if name == "run":
            s.add_argument("--shape", choices=sorted(SHAPES), default="small")
            s.add_argument("--n-tokens", type=int, default=100000)
            s.add_argument("--threshold", type=float, default=1e6, help="nats (above a random model's losses)")
            s.add_argument("--project", type=int, default=8192, help="sketch dimension (0: exact)")
            s.add_argument("--dense-max", type=int, default=20000)
            s.add_argument("--counts", default=None, metavar="K1,K2,...",
                           help="cluster counts of the sweep (default: quanta's grid, up to 1,500 at 100k tokens)")
            s.add_argument("--n-clusters", type=int, default=None, help="the headline count (default n_tokens/25, "
                                                                         "at most 400)")
            s.add_argument("--batch-size", type=int, default=8)
            s.add_argument("--device", default="cuda" if _cuda() else "cpu")
            s.add_argument("--threads", type=int, default=None)
            s.add_argument("--seed", type=int, default=0)
            s.add_argument("--work", default=None, help="keep the model and the run directory here")
            s.add_argument("--keep", action="store_true", help="keep the temporary work folder (printed)")
    a = p.parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)
    if getattr(a, "counts", None) is not None:
        try:
            counts = [int(k) for k in a.counts.split(",")]
        except ValueError:
            counts = []
        if not counts or min(counts) < 2:
            print(f"--counts takes cluster counts of at least 2 separated by commas, got {a.counts!r}; "
                  "e.g. --counts 50,100,200,300")
            raise SystemExit(2)
    from quanta.errors import QuantaError

    try:
        {"chunks": cmd_chunks, "count": cmd_count, "run": cmd_run}[a.cmd](a)
    except QuantaError as exc:  # a setting the run refuses (a count, a headline, a corpus): one line
        print(exc)
        raise SystemExit(2) from None


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    sys.exit(main())
