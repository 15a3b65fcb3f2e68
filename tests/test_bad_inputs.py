"""A table of bad inputs to every command: each one gives exit status 2, one line on stderr, no traceback, and
leaves nothing half-written in --out (no failed run). For a subset, the corrected command into the same --out
then succeeds.

Fixtures are built once per module and kept small (a cpu-tiny parity run, two random tiny GPT-NeoX models, a
losses run on them); most entries fail on a cheap check before any work.
"""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import run_cli

TEXT = ["def add(a, b):\n    return a + b\n", "for i in range(10):\n    print(i)\n",
        "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
        "import os\nimport sys\nprint(os.path.join('a', 'b'))\n"]

THEORY_SMALL = ["--set", "n_max=300", "--set", "n_budgets=10", "--set", "n_samples=20"]


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Paths the table refers to by name."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("bad_inputs")
    w = {"T": root}
    # a cpu-tiny parity run (finished) and a copy with a truncated table
    code, _, err = run_cli("parity", "run", "--preset", "cpu-tiny", "--set", "steps=40", "--out", root / "parity")
    assert code == 0, err
    w["P"] = root / "parity"
    shutil.copytree(w["P"], root / "parity_trunc")
    _truncate(root / "parity_trunc" / "models.parquet")
    w["TRUNC_P"] = root / "parity_trunc"
    # two random tiny LMs sharing a tokenizer, a corpus of short files
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(TEXT * 5, trainers.BpeTrainer(vocab_size=300, show_progress=False,
                                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok)
    for name, hidden in (("m16", 16), ("m32", 32)):
        torch.manual_seed(hidden)
        model = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=len(fast), hidden_size=hidden, num_hidden_layers=1,
                                                 num_attention_heads=2, intermediate_size=2 * hidden,
                                                 max_position_embeddings=128))
        model.save_pretrained(root / name)
        fast.save_pretrained(root / name)
    w["M"], w["M16"] = root / "m32", root / "m16"
    (root / "corpus").mkdir()
    for i, t in enumerate(TEXT * 2):
        (root / "corpus" / f"doc{i:02d}.py").write_text(t * 3)
    w["C"] = root / "corpus"
    code, _, err = run_cli("lm", "losses", "--suite", f"{w['M16']},{w['M']}", "--corpus", w["C"], "--out",
                           root / "losses")
    assert code == 0, err
    w["L"] = root / "losses"
    shutil.copytree(w["L"], root / "losses_trunc")
    _truncate(sorted((root / "losses_trunc" / "losses").glob("part-*.parquet"))[0])
    w["TRUNC_L"] = root / "losses_trunc"
    # files and folders of the wrong kind
    (root / "empty").mkdir()
    w["EMPTY"] = root / "empty"
    (root / "binary.dat").write_bytes(bytes(range(256)) * 40)
    w["BIN"] = root / "binary.dat"
    (root / "file.txt").write_text("not a folder\n")
    w["F"] = root / "file.txt"
    (root / "mine").mkdir()
    (root / "mine" / "notes.txt").write_text("keep me")
    w["MINE"] = root / "mine"
    w["MISSING"] = root / "missing"
    (root / "docs.jsonl").write_text("".join(json.dumps({"body": t}) + "\n" for t in TEXT))
    w["JSONL"] = root / "docs.jsonl"
    (root / "suite_killed").mkdir()
    (root / "suite_killed" / "manifest.json").write_text(json.dumps({"command": "lm train-suite",
                                                                      "status": "running", "config": {}}))
    w["KILLED"] = root / "suite_killed"
    # published SAEs in sparsify's layout (cfg.json + sae.safetensors), of width 32 (the m32 model's) and 16
    from safetensors.torch import save_file

    for name, d in (("sae32", 32), ("sae16", 16)):
        (root / name).mkdir()
        g = torch.Generator().manual_seed(d)
        save_file({"encoder.weight": torch.randn(8, d, generator=g), "encoder.bias": torch.zeros(8),
                   "W_dec": torch.randn(8, d, generator=g), "b_dec": torch.zeros(d)},
                  str(root / name / "sae.safetensors"))
        (root / name / "cfg.json").write_text(json.dumps({"activation": "topk", "num_latents": 8, "k": 2,
                                                          "transcode": False, "d_in": d}))
    w["SAE32"], w["SAE16"] = root / "sae32", root / "sae16"
    # a SAELens cfg.json whose apply_b_dec_to_input is the string "false" (read as true before it was refused)
    (root / "sae_badcfg").mkdir()
    save_file({"W_enc": torch.zeros(32, 8), "b_enc": torch.zeros(8), "W_dec": torch.zeros(8, 32),
               "b_dec": torch.zeros(32)}, str(root / "sae_badcfg" / "sae_weights.safetensors"))
    (root / "sae_badcfg" / "cfg.json").write_text(json.dumps({"architecture": "standard", "d_in": 32, "d_sae": 8,
                                                              "apply_b_dec_to_input": "false"}))
    w["SAEBADCFG"] = root / "sae_badcfg"
    # copies that an --out equal to them must leave intact (--force cleared them before it was refused)
    for key, src in (("P_COPY", w["P"]), ("L_COPY", w["L"])):
        w[key] = shutil.copytree(src, root / key.lower())
    # a finished run that owns a model folder (as a trained suite owns models/)
    from quanta.store import Run

    suite = Run.create(root / "suite_run", command="lm train-suite", config={})
    shutil.copytree(w["M"], suite.path / "models" / "m32")
    suite.finish({})
    w["SUITE_RUN"] = suite.path
    # a manifest that is JSON but not an object, and one that is not text
    for key, data in (("BADMAN", b"[]"), ("BINMAN", b"\xff\xfe{}")):
        (root / key.lower()).mkdir()
        (root / key.lower() / "manifest.json").write_bytes(data)
        w[key] = root / key.lower()
    (root / "outs").mkdir()
    return w


# (id, arguments, corrected arguments or None). "{X}" names a path of the world fixture; "{O}" is a fresh --out
# for the entry (appended as --out {O} when the arguments name no --out).
CASES = [
    # ------------------------------------------------------------------ quanta, unknown commands and options
    ("unknown-command", ["nonsense"], None),
    ("unknown-subcommand", ["parity", "nonsense"], None),
    ("unknown-option", ["theory", "--bogus"], None),
    # ------------------------------------------------------------------ theory
    ("theory-alpha-negative", ["theory", "--alpha", "-1"], ["theory", *THEORY_SMALL]),
    ("theory-alpha-zero", ["theory", "--alpha", "0"], ["theory", "--alpha", "0.3", *THEORY_SMALL]),
    ("theory-alpha-nan", ["theory", "--alpha", "nan"], None),
    ("theory-alpha-text", ["theory", "--alpha", "abc"], None),
    ("theory-n-quanta-2", ["theory", "--n-quanta", "2"], None),
    ("theory-n-quanta-0", ["theory", "--n-quanta", "0"], None),
    ("theory-n-max-huge", ["theory", "--set", "n_max=1000000000000"], ["theory", *THEORY_SMALL]),
    ("theory-n-quanta-huge", ["theory", "--n-quanta", "1000000000000", "--set", "n_max=100000000000"], None),
    ("theory-n-max-small", ["theory", "--set", "n_max=5"], None),
    ("theory-set-unknown", ["theory", "--set", "bogus=1"], None),
    ("theory-set-tau-0", ["theory", "--set", "tau=0"], ["theory", "--set", "tau=1", *THEORY_SMALL]),
    ("theory-set-genes-empty", ["theory", "--set", "genes=[]"], None),
    ("theory-set-not-a-number", ["theory", "--set", "n_budgets=x"], None),
    ("theory-set-no-equals", ["theory", "--set", "noequals"], None),
    ("theory-set-empty-key", ["theory", "--set", "=3"], None),
    ("theory-seed-text", ["theory", "--seed", "x"], None),
    ("theory-no-out", ["theory", "--alpha", "0.4", "--no-out"], None),
    ("theory-out-proc", ["theory", "--out", "/proc/quanta-test/out"], None),
    ("theory-out-sys", ["theory", "--out", "/sys/quanta-test"], None),
    ("theory-out-under-file", ["theory", "--out", "{F}/sub"], None),
    ("theory-out-is-file", ["theory", "--out", "{F}"], None),
    ("theory-out-foreign-folder", ["theory", "--out", "{MINE}"], None),
    ("theory-out-finished-run", ["theory", "--out", "{P}"], None),
    # ------------------------------------------------------------------ parity run
    ("parity-run-preset-unknown", ["parity", "run", "--preset", "nope"], None),
    ("parity-run-no-preset", ["parity", "run"], None),
    ("parity-run-k-too-big", ["parity", "run", "--preset", "cpu-tiny", "--set", "k=50"],
     ["parity", "run", "--preset", "cpu-tiny", "--set", "steps=20"]),
    ("parity-run-width-huge", ["parity", "run", "--preset", "cpu-tiny", "--set", "widths=[100000000]"],
     ["parity", "run", "--preset", "cpu-tiny", "--set", "steps=20"]),
    ("parity-run-widths-empty", ["parity", "run", "--preset", "cpu-tiny", "--set", "widths=[]"], None),
    ("parity-run-width-zero", ["parity", "run", "--preset", "cpu-tiny", "--set", "widths=[0]"], None),
    ("parity-run-steps-zero", ["parity", "run", "--preset", "cpu-tiny", "--set", "steps=0"], None),
    ("parity-run-lr-negative", ["parity", "run", "--preset", "cpu-tiny", "--set", "lr=-1"], None),
    ("parity-run-set-unknown", ["parity", "run", "--preset", "cpu-tiny", "--set", "unknown=1"], None),
    ("parity-run-task-dist", ["parity", "run", "--preset", "cpu-tiny", "--set", "task_dist=weird"], None),
    ("parity-run-kernel", ["parity", "run", "--preset", "cpu-tiny", "--set", "kernel=cuda"], None),
    ("parity-run-alpha-negative", ["parity", "run", "--preset", "cpu-tiny", "--set", "alphas=[-0.4]"], None),
    ("parity-run-betas", ["parity", "run", "--preset", "cpu-tiny", "--set", "betas=[2,0.9]"], None),
    ("parity-run-too-many-tasks", ["parity", "run", "--preset", "cpu-tiny", "--set", "n_tasks=100000"], None),
    ("parity-run-eval-batch-zero", ["parity", "run", "--preset", "cpu-tiny", "--set", "eval_batch=0"], None),
    ("parity-run-bf16-text", ["parity", "run", "--preset", "cpu-tiny", "--set", "bf16=maybe"], None),
    ("parity-run-device-unknown", ["parity", "run", "--preset", "cpu-tiny", "--device", "tpu"], None),
    ("parity-run-resume-force", ["parity", "run", "--preset", "cpu-tiny", "--resume", "--force"], None),
    ("parity-run-out-proc", ["parity", "run", "--preset", "cpu-tiny", "--out", "/proc/quanta-test"], None),
    ("parity-run-out-finished", ["parity", "run", "--preset", "cpu-tiny", "--out", "{P}"], None),
    ("parity-run-resume-finished", ["parity", "run", "--preset", "cpu-tiny", "--set", "steps=40", "--out", "{P}",
                                    "--resume"], None),
    ("parity-run-out-is-file", ["parity", "run", "--preset", "cpu-tiny", "--out", "{F}"], None),
    # ------------------------------------------------------------------ parity analyze
    ("parity-analyze-missing", ["parity", "analyze", "{MISSING}"], None),
    ("parity-analyze-empty", ["parity", "analyze", "{EMPTY}"], None),
    ("parity-analyze-file", ["parity", "analyze", "{F}"], None),
    ("parity-analyze-truncated", ["parity", "analyze", "{TRUNC_P}"], None),
    ("parity-analyze-wrong-kind", ["parity", "analyze", "{L}"], None),
    ("parity-analyze-n-boot", ["parity", "analyze", "{P}", "--n-boot", "-1"],
     ["parity", "analyze", "{P}", "--n-boot", "20", "--no-figures"]),
    # a bootstrap beyond memory: refused before the analysis, then the corrected command into the same --out works
    ("parity-analyze-n-boot-huge", ["parity", "analyze", "{P}", "--n-boot", "10000000000"],
     ["parity", "analyze", "{P}", "--n-boot", "20", "--no-figures"]),
    ("parity-analyze-ci", ["parity", "analyze", "{P}", "--ci", "2"], None),
    ("parity-analyze-fit-range", ["parity", "analyze", "{P}", "--fit-range", "N=bad"], None),
    ("parity-analyze-fit-axis", ["parity", "analyze", "{P}", "--fit-range", "Q=1:2"], None),
    ("parity-analyze-threshold", ["parity", "analyze", "{P}", "--threshold-bits", "-1"], None),
    ("parity-analyze-into-itself", ["parity", "analyze", "{P}", "--out", "{P}"], None),
    ("parity-analyze-emergence-width", ["parity", "analyze", "{P}", "--emergence-width", "-5"], None),
    ("parity-analyze-out-proc", ["parity", "analyze", "{P}", "--out", "/proc/quanta-test"], None),
    ("parity-analyze-out-is-file", ["parity", "analyze", "{P}", "--out", "{F}"], None),
    # ------------------------------------------------------------------ lm train-suite
    ("suite-corpus-missing", ["lm", "train-suite", "--preset", "tiny", "--corpus", "{MISSING}"], None),
    ("suite-corpus-empty", ["lm", "train-suite", "--preset", "tiny", "--corpus", "{EMPTY}"], None),
    ("suite-corpus-binary", ["lm", "train-suite", "--preset", "tiny", "--corpus", "{BIN}"], None),
    ("suite-preset-unknown", ["lm", "train-suite", "--preset", "nope"], None),
    ("suite-sizes-empty", ["lm", "train-suite", "--preset", "tiny", "--set", "sizes=[]"], None),
    ("suite-set-unknown", ["lm", "train-suite", "--preset", "tiny", "--set", "bogus=1"], None),
    ("suite-steps-zero", ["lm", "train-suite", "--preset", "tiny", "--set", "steps=0"], None),
    ("suite-test-fraction", ["lm", "train-suite", "--preset", "tiny", "--set", "test_fraction=2"], None),
    ("suite-out-proc", ["lm", "train-suite", "--preset", "tiny", "--out", "/proc/quanta-test"], None),
    ("suite-out-is-file", ["lm", "train-suite", "--preset", "tiny", "--out", "{F}"], None),
    # ------------------------------------------------------------------ lm losses
    ("losses-suite-typo", ["lm", "losses", "--suite", "{T}/losess"], None),
    ("losses-suite-dot-path", ["lm", "losses", "--suite", "./no-such-suite"], None),
    ("losses-suite-empty-folder", ["lm", "losses", "--suite", "{EMPTY}"], None),
    ("losses-suite-killed", ["lm", "losses", "--suite", "{KILLED}"], None),
    ("losses-corpus-empty", ["lm", "losses", "--suite", "{M}", "--corpus", "{EMPTY}"],
     ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--max-docs", "2"]),
    ("losses-corpus-binary", ["lm", "losses", "--suite", "{M}", "--corpus", "{BIN}"],
     ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--max-docs", "2"]),
    ("losses-corpus-missing", ["lm", "losses", "--suite", "{M}", "--corpus", "{MISSING}"], None),
    ("losses-context-too-long", ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--context-length", "100000"],
     ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--context-length", "64", "--max-docs", "2"]),
    ("losses-context-1", ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--context-length", "1"], None),
    ("losses-max-tokens-0", ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--max-tokens", "0"], None),
    ("losses-revision-missing", ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--revision", "step999"],
     None),
    ("losses-revision-bogus", ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--revision", "bogus"], None),
    ("losses-precision", ["lm", "losses", "--suite", "{M}", "--precision", "fp64"], None),
    ("losses-batch-tokens", ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--batch-tokens", "1"], None),
    ("losses-docs-per-shard", ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--docs-per-shard", "0"], None),
    ("losses-windows-0", ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--windows", "0"], None),
    ("losses-suite-twice", ["lm", "losses", "--suite", "{M},{M}", "--corpus", "{C}"], None),
    ("losses-text-field", ["lm", "losses", "--suite", "{M}", "--corpus", "{JSONL}", "--text-field", "nope"],
     ["lm", "losses", "--suite", "{M}", "--corpus", "{JSONL}", "--text-field", "body"]),
    ("losses-device", ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--device", "bogus"], None),
    ("losses-resume-force", ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--resume", "--force"], None),
    ("losses-out-proc", ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--out", "/proc/quanta-test"], None),
    ("losses-out-is-file", ["lm", "losses", "--suite", "{M}", "--corpus", "{C}", "--out", "{F}"], None),
    # ------------------------------------------------------------------ lm analyze
    ("analyze-missing", ["lm", "analyze", "{MISSING}"], None),
    ("analyze-file", ["lm", "analyze", "{F}"], None),
    ("analyze-empty", ["lm", "analyze", "{EMPTY}"], None),
    ("analyze-wrong-kind", ["lm", "analyze", "{P}"], None),
    ("analyze-truncated", ["lm", "analyze", "{TRUNC_L}"], None),
    ("analyze-set-unknown", ["lm", "analyze", "{L}", "--set", "bogus=1"], None),
    ("analyze-n-examples", ["lm", "analyze", "{L}", "--n-examples", "-1"], None),
    ("analyze-n-boot", ["lm", "analyze", "{L}", "--set", "n_boot=-5"], None),
    ("analyze-n-boot-huge", ["lm", "analyze", "{L}", "--set", "fit_offset=false", "--set", "n_boot=10000000000"],
     ["lm", "analyze", "{L}", "--set", "fit_offset=false", "--set", "n_boot=20"]),
    ("analyze-mode", ["lm", "analyze", "{L}", "--mode", "x"], None),
    ("analyze-out-proc", ["lm", "analyze", "{L}", "--out", "/proc/quanta-test"], None),
    # ------------------------------------------------------------------ qdg (LM)
    ("qdg-no-model", ["qdg", "--threshold", "0.5"], None),
    ("qdg-model-typo", ["qdg", "--model", "{T}/m3"], None),
    ("qdg-model-empty-folder", ["qdg", "--model", "{EMPTY}"], None),
    ("qdg-model-file", ["qdg", "--model", "{F}"], None),
    ("qdg-counts", ["qdg", "--model", "{M}", "--counts", "a,b"], None),
    ("qdg-threshold", ["qdg", "--model", "{M}", "--threshold", "-1"], None),
    ("qdg-n-tokens", ["qdg", "--model", "{M}", "--n-tokens", "0"], None),
    ("qdg-no-token-under-threshold", ["qdg", "--model", "{M}", "--corpus", "{C}"], None),
    ("qdg-project", ["qdg", "--model", "{M}", "--project", "-1"], None),
    ("qdg-context-too-long", ["qdg", "--model", "{M}", "--corpus", "{C}", "--context-length", "100000"], None),
    ("qdg-rank-range", ["qdg", "--model", "{M}", "--rank-range", "5"], None),
    ("qdg-options-before-subcommand", ["qdg", "--model", "{M}", "parity", "{P}"], None),
    ("qdg-out-proc", ["qdg", "--model", "{M}", "--out", "/proc/quanta-test"], None),
    # ------------------------------------------------------------------ qdg parity
    ("qdg-parity-missing", ["qdg", "parity", "{MISSING}"], None),
    ("qdg-parity-wrong-kind", ["qdg", "parity", "{L}"], None),
    ("qdg-parity-truncated", ["qdg", "parity", "{TRUNC_P}"], None),
    ("qdg-parity-n-clusters-0", ["qdg", "parity", "{P}", "--n-clusters", "0"], None),
    ("qdg-parity-n-clusters-word", ["qdg", "parity", "{P}", "--n-clusters", "nope"], None),
    ("qdg-parity-n-clusters-huge", ["qdg", "parity", "{P}", "--n-clusters", "10000"], None),
    ("qdg-parity-counts-beyond-samples", ["qdg", "parity", "{P}", "--n-samples", "100", "--counts", "50,120"], None),
    ("qdg-parity-n-samples-huge", ["qdg", "parity", "{P}", "--n-samples", "100000000000"], None),
    ("qdg-parity-n-boot-huge", ["qdg", "parity", "{P}", "--n-boot", "10000000000"], None),
    ("qdg-parity-file", ["qdg", "parity", "{F}"], None),
    ("qdg-parity-model-id", ["qdg", "parity", "{P}", "--model-id", "999"], None),
    ("qdg-parity-n-samples", ["qdg", "parity", "{P}", "--n-samples", "0"], None),
    ("qdg-parity-threshold", ["qdg", "parity", "{P}", "--threshold", "-1"], None),
    ("qdg-parity-counts", ["qdg", "parity", "{P}", "--counts", "x"], None),
    ("qdg-parity-k-max", ["qdg", "parity", "{P}", "--k-max", "1"], None),
    ("qdg-parity-affinity-power", ["qdg", "parity", "{P}", "--affinity-power", "0"], None),
    ("qdg-parity-out-proc", ["qdg", "parity", "{P}", "--out", "/proc/quanta-test"], None),
    ("qdg-parity-out-is-file", ["qdg", "parity", "{P}", "--out", "{F}"], None),
    # ------------------------------------------------------------------ falsify
    ("falsify-nothing", ["falsify"], None),
    ("falsify-both-modes", ["falsify", "{P}", "--scaling", "{P}", "--parts", "{P}"], None),
    ("falsify-resume-force", ["falsify", "{P}", "--resume", "--force"], None),
    ("falsify-wrong-kinds", ["falsify", "--scaling", "{P}", "--parts", "{P}"], None),
    ("falsify-n-clusters-huge", ["falsify", "{P}", "--n-clusters", "10000"], None),
    ("falsify-n-clusters-word", ["falsify", "{P}", "--n-clusters", "zero"], None),
    ("falsify-n-samples-huge", ["falsify", "{P}", "--n-samples", "100000000000"], None),
    ("falsify-n-boot-huge", ["falsify", "{P}", "--n-boot", "10000000000"], None),
    ("falsify-file", ["falsify", "{F}"], None),
    ("falsify-out-is-file", ["falsify", "{P}", "--out", "{F}"], None),
    ("falsify-n-draws", ["falsify", "{P}", "--n-draws", "0"], None),
    ("falsify-level", ["falsify", "{P}", "--level", "2"], None),
    ("falsify-rank-range", ["falsify", "{P}", "--rank-range", "10", "5"], None),
    ("falsify-missing", ["falsify", "{MISSING}"], None),
    ("falsify-truncated", ["falsify", "{TRUNC_P}"], None),
    ("falsify-scaling-resume", ["falsify", "--scaling", "{L}", "--parts", "{P}", "--resume"], None),
    # ------------------------------------------------------------------ parts sae, acts, bench
    ("parts-sae-neither", ["parts", "sae"], None),
    ("parts-sae-model-missing", ["parts", "sae", "--model", "{MISSING}", "--corpus", "{C}"], None),
    ("parts-sae-layer-too-big", ["parts", "sae", "--model", "{M}", "--corpus", "{C}", "--layer", "9"],
     ["parts", "sae", "--model", "{M}", "--corpus", "{C}", "--layer", "1", "--n-latents", "8", "--k", "1",
      "--steps", "20"]),
    ("parts-sae-k-zero", ["parts", "sae", "--model", "{M}", "--corpus", "{C}", "--k", "0"], None),
    ("parts-sae-pretrained-missing", ["parts", "sae", "--model", "{M}", "--corpus", "{C}", "--pretrained",
                                      "{MISSING}"], None),
    ("parts-sae-pretrained-no-files", ["parts", "sae", "--model", "{M}", "--corpus", "{C}", "--pretrained",
                                       "{EMPTY}"], None),
    ("parts-sae-pretrained-width", ["parts", "sae", "--model", "{M}", "--corpus", "{C}", "--pretrained", "{SAE16}"],
     ["parts", "sae", "--model", "{M}", "--corpus", "{C}", "--pretrained", "{SAE32}"]),
    ("parts-sae-pretrained-hub-offline", ["parts", "sae", "--model", "{M}", "--corpus", "{C}", "--pretrained",
                                          "quanta-test-nobody/no-such-sae"], None),
    ("parts-sae-pretrained-training-option", ["parts", "sae", "--model", "{M}", "--corpus", "{C}", "--pretrained",
                                              "{SAE32}", "--n-latents", "8"], None),
    ("parts-sae-pretrained-parity", ["parts", "sae", "--parity", "{P}", "--pretrained", "{SAE32}"], None),
    ("parts-sae-pretrained-bad-cfg", ["parts", "sae", "--model", "{M}", "--corpus", "{C}", "--pretrained",
                                     "{SAEBADCFG}"], None),
    ("parts-sae-pretrained-sub-vs-hookpoint", ["parts", "sae", "--model", "{M}", "--corpus", "{C}", "--pretrained",
                                               "quanta-test-nobody/no-such-sae:layers.0", "--hookpoint", "layers.1"],
     None),
    ("parts-sae-parity-not-a-parity-run", ["parts", "sae", "--parity", "{L}"], None),
    ("parts-sae-parity-few-samples", ["parts", "sae", "--parity", "{P}", "--n-samples", "10"], None),
    ("parts-sae-parity-lm-option", ["parts", "sae", "--parity", "{P}", "--site", "mlp"], None),
    ("parts-acts-lm-parity-option", ["parts", "acts", "--model", "{M}", "--threshold", "0.2"], None),
    ("parts-acts-parity-lm-option", ["parts", "acts", "--parity", "{P}", "--layer", "1"], None),
    ("parts-acts-parity-n-clusters-0", ["parts", "acts", "--parity", "{P}", "--n-clusters", "0"], None),
    ("parts-acts-parity-truncated", ["parts", "acts", "--parity", "{TRUNC_P}"], None),
    ("parts-bench-no-world", ["parts", "bench"], None),
    ("parts-bench-world-missing", ["parts", "bench", "--world", "{MISSING}"], None),
    ("parts-bench-world-not-an-analysis", ["parts", "bench", "--world", "{P}"], None),
    ("parts-bench-world-losses", ["parts", "bench", "--world", "{L}"], None),
    ("parts-bench-method-unknown", ["parts", "bench", "--world", "{L}", "--methods", "pca"], None),
    ("parts-bench-seeds-text", ["parts", "bench", "--world", "{L}", "--seeds", "a,b"], None),
    ("parts-bench-set-no-method", ["parts", "bench", "--world", "{L}", "--set", "k=3"], None),
    ("parts-bench-resume-force", ["parts", "bench", "--world", "{L}", "--resume", "--force"], None),
    # ------------------------------------------------------------------ report, demo, calibrate
    ("report-missing", ["report", "{MISSING}"], None),
    ("report-no-dirs", ["report"], None),
    ("report-max-rows", ["report", "{P}", "--max-rows", "0"], ["report", "{P}", "--max-rows", "10"]),
    ("report-file", ["report", "{F}"], ["report", "{P}"]),
    ("report-out-proc", ["report", "{P}", "--out", "/proc/quanta-test"], None),
    ("report-out-is-file", ["report", "{P}", "--out", "{F}"], None),
    ("demo-out-is-file", ["demo", "--out", "{F}"], None),
    ("demo-set-unknown", ["demo", "--set", "bogus=1"], None),
    ("demo-out-proc", ["demo", "--out", "/proc/quanta-test"], None),
    ("calibrate-preset", ["calibrate", "--preset", "nope"], None),
    ("calibrate-set-unknown", ["calibrate", "--preset", "mini", "--set", "bogus=1"], None),
    ("calibrate-ship-mini", ["calibrate", "--preset", "mini", "--ship"], None),
    ("calibrate-n-boot-huge", ["calibrate", "--preset", "mini", "--set", "n_boot=10000000000"], None),
    ("calibrate-out-proc", ["calibrate", "--preset", "mini", "--out", "/proc/quanta-test"], None),
    ("calibrate-out-is-file", ["calibrate", "--preset", "mini", "--out", "{F}"], None),
    # ------------------------------------------------------------------ --out is an input (with --force it was cleared)
    ("lm-analyze-out-is-input-force", ["lm", "analyze", "{L_COPY}", "--out", "{L_COPY}", "--force"], None),
    ("qdg-parity-out-is-input-force", ["qdg", "parity", "{P_COPY}", "--out", "{P_COPY}", "--force"], None),
    ("falsify-out-is-input-force", ["falsify", "{P_COPY}", "--out", "{P_COPY}", "--force"], None),
    ("parts-acts-out-is-input-force", ["parts", "acts", "--parity", "{P_COPY}", "--out", "{P_COPY}", "--force"],
     None),
    ("lm-losses-out-holds-model-force", ["lm", "losses", "--suite", "{SUITE_RUN}/models/m32", "--corpus", "{C}",
                                         "--out", "{SUITE_RUN}", "--force"], None),
    # ------------------------------------------------------------------ seeds out of range
    ("theory-seed-negative", ["theory", "--seed", "-3"], None),
    ("parity-analyze-seed-negative", ["parity", "analyze", "{P}", "--seed", "-1"], None),
    ("demo-seed-negative", ["demo", "--seed", "-1"], None),
    ("lm-train-suite-seed-negative", ["lm", "train-suite", "--preset", "tiny", "--seed", "-1"], None),
    ("qdg-seed-negative", ["qdg", "--model", "{M}", "--corpus", "{C}", "--seed", "-1"], None),
    ("parts-acts-seed-negative", ["parts", "acts", "--model", "{M}", "--corpus", "{C}", "--seed", "-1"], None),
    ("qdg-parity-seed-huge", ["qdg", "parity", "{P}", "--seed", "18446744073709551616"], None),
    ("parity-run-seeds-huge", ["parity", "run", "--preset", "cpu-tiny", "--set", "seeds=[100000000000000000000]"],
     None),
    # ------------------------------------------------------------------ values refused before anything is written
    ("lm-train-suite-weight-decay-nan", ["lm", "train-suite", "--preset", "tiny", "--set", "weight_decay=nan"], None),
    ("lm-train-suite-sizes-short", ["lm", "train-suite", "--preset", "tiny", "--set", "sizes=[[16,1]]"], None),
    ("lm-train-suite-sizes-number", ["lm", "train-suite", "--preset", "tiny", "--set", "sizes=5"], None),
    ("lm-train-suite-test-fraction-nan", ["lm", "train-suite", "--preset", "tiny", "--set", "test_fraction=nan"],
     None),
    ("lm-train-suite-set-corpus", ["lm", "train-suite", "--preset", "tiny", "--set", "corpus=nonexistent.txt"], None),
    ("calibrate-gaps-text", ["calibrate", "--preset", "mini", "--set", "gaps=x"], None),
    ("calibrate-control-alphas-negative", ["calibrate", "--preset", "mini", "--set", "control_alphas=[-1]"], None),
    ("calibrate-worlds-number", ["calibrate", "--preset", "mini", "--set", "worlds=[1]"], None),
    ("demo-parity-preset-unknown", ["demo", "--set", "parity_preset=nope"], None),
    ("demo-suite-preset-unknown", ["demo", "--set", "suite_preset=x"], None),
    ("parity-run-alpha-huge", ["parity", "run", "--preset", "cpu-tiny", "--set", "alphas=[1e300]"], None),
    ("parity-run-lr-huge", ["parity", "run", "--preset", "cpu-tiny", "--set", "lr=1e300"], None),
    ("parity-run-steps-huge", ["parity", "run", "--preset", "cpu-tiny", "--set", "steps=1e30"], None),
    ("parity-run-data-huge", ["parity", "run", "--preset", "cpu-tiny", "--set", "data_sizes=[1000000000000]"], None),
    ("theory-genes-huge", ["theory", "--set", "genes=[1000000]"], None),
    ("theory-manifest-not-an-object", ["theory", "--out", "{BADMAN}", "--force"], None),
    ("parity-analyze-manifest-not-text", ["parity", "analyze", "{BINMAN}"], None),
]


def _args(args, world, out):
    text = [str(a).format(O=out, **{k: str(v) for k, v in world.items()}) for a in args]
    if "--no-out" in text:
        return [a for a in text if a != "--no-out"]
    if "--out" not in text and len(text) > 1 and text[0] not in ("nonsense",):
        text += ["--out", str(out)]
    return text


def _state(out):
    """What is in --out: None when absent, else the manifest's status (or 'no-manifest') and the file names."""
    from pathlib import Path

    out = Path(out)
    if not out.is_dir():
        return None
    man = out / "manifest.json"
    status = man.read_bytes() if man.is_file() else "no-manifest"  # its bytes: a damaged one must stay as it was
    return status, sorted(str(p.relative_to(out)) for p in out.rglob("*"))


def test_the_table_is_large_and_covers_every_command():
    assert len(CASES) >= 100 and len({c[0] for c in CASES}) == len(CASES)
    commands = {" ".join(a for a in args[:2] if not a.startswith("-") and "{" not in a) for _, args, _ in CASES}
    for cmd in ("theory", "parity run", "parity analyze", "lm train-suite", "lm losses", "lm analyze", "qdg",
                "qdg parity", "falsify", "report", "demo", "calibrate"):
        assert any(c == cmd or c.startswith(cmd.split()[0]) for c in commands), cmd


@pytest.mark.parametrize("name,args,fixed", CASES, ids=[c[0] for c in CASES])
def test_bad_input(world, name, args, fixed):
    out = world["T"] / "outs" / name
    argv = _args(args, world, out)
    targets = [argv[i + 1] for i, a in enumerate(argv) if a == "--out"]
    before = {t: _state(t) for t in targets}
    code, _, err = run_cli(*argv)
    assert code == 2, (argv, code, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for t in targets:  # nothing half-written: --out is as it was
        assert _state(t) == before[t], (t, _state(t))
    if fixed is not None:
        code, _, err = run_cli(*_args(fixed, world, out))
        assert code == 0, err


def test_messages_say_what_is_wrong(world):
    """A few entries whose wording the issue named: no hub lookup for a local typo, the flag the user set, an
    unfinished suite, no advice to --resume where a command has none."""
    def err_of(*args):
        code, _, err = run_cli(*_args(args, world, world["T"] / "outs" / "messages"))
        assert code == 2
        return err

    assert "no such folder" in err_of("lm", "losses", "--suite", "{T}/losess") and "did you mean" in err_of(
        "lm", "losses", "--suite", "{T}/losess")
    assert "--n-quanta" in err_of("theory", "--n-quanta", "2") and "n_max" not in err_of("theory", "--n-quanta", "2")
    assert "unfinished" in err_of("lm", "losses", "--suite", "{KILLED}") and "--resume" in err_of(
        "lm", "losses", "--suite", "{KILLED}")
    assert "TiB" in err_of("theory", "--set", "n_max=1000000000000")
    assert "--set batch_size" in err_of("parity", "run", "--preset", "cpu-tiny", "--set", "widths=[100000000]")
    assert "cannot be read" in err_of("parity", "analyze", "{TRUNC_P}")
    assert "--resume" not in err_of("qdg", "parity", "{EMPTY}")
    # counts that cannot be drawn are refused for what they are, before the run is read
    assert "n_clusters" in err_of("falsify", "{P}", "--n-clusters", "10000")
    assert "n_clusters" in err_of("qdg", "parity", "{P}", "--n-clusters", "0")
    assert "memory" in err_of("qdg", "parity", "{P}", "--n-samples", "100000000000")
    # a bootstrap beyond memory names the flag, the figure and a value that works
    err = err_of("falsify", "{P}", "--n-boot", "10000000000")
    assert "--n-boot 10000000000" in err and "TiB of memory" in err and "--n-boot 200" in err
