"""Throughput of the batched parity sweep against the same models trained one at a time.

Both sides run in this process on the same device, with the same widths, batch size and data
generator (batches built on the device), and both do a full AdamW step per model-step:

* batched: every width in one :class:`~quanta.parity.train.SweepTrainer` (one wide hidden layer,
  block-diagonal output, row lookup for the control bits);
* per-model: a plain loop, one ``ParityMLP`` (full one-hot input, ``nn.Linear``) and one AdamW
  per width, each with its own batches, trained one after the other.

Prints model-steps per second of each and their ratio (median of ``--repeats`` timings).

    .venv/bin/python benchmarks/parity_throughput.py                      # small CPU size
    .venv/bin/python benchmarks/parity_throughput.py --device cuda --preset paper-fig2-params --steps 50
    # the fused Triton step against the plain one (same config otherwise), without the per-model loop:
    .venv/bin/python benchmarks/parity_throughput.py --device cuda --preset paper-fig2-params --steps 50 \
        --set tf32=true --compare-kernel triton --batched-only

With ``--compare-kernel K`` the batched sweep is also timed with ``kernel=K``, and after the same steps on the
same batches the two sweeps' weights are compared (max |difference|). With ``tf32=true`` the plain path is also
run in full fp32, and the weight difference that TF32 itself makes is the yardstick: ``--json`` records the
figures and a verdict (:func:`kernel_verdict`), which ``benchmarks/gpu_run.sh`` reads to choose the kernel of its
reproductions.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import torch
import torch.nn.functional as F

from quanta.parity.data import ParityTasks, draw_subsets
from quanta.parity.ensemble import ParityMLP, init_member
from quanta.parity.presets import preset_config
from quanta.parity.train import DataStream, SweepTrainer


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


#: A compared kernel's weights may differ from the plain path's by at most this many times what TF32 alone changes
#: (plain TF32 against plain fp32, after the same steps), and by at most MIN_TOLERANCE in any case (fp32 runs:
#: the CPU check finds 1.2e-6 after 30 steps).
TF32_MULTIPLE, MIN_TOLERANCE = 2.0, 1e-4


def kernel_verdict(speedup: float, weight_diff: float, tf32_effect: float, *, min_speedup: float = 1.0) -> str:
    """``"use"`` (as exact as the plain path up to TF32's own effect, and at least ``min_speedup`` times as fast),
    ``"differs"`` or ``"slower"``."""
    if not weight_diff <= max(TF32_MULTIPLE * tf32_effect, MIN_TOLERANCE):  # NaN differs too
        return "differs"
    return "use" if speedup >= min_speedup else "slower"


def time_batched(cfg, device, steps: int, *, return_trainer: bool = False):
    if device.type == "cuda":  # the run applies these flags inside SweepTrainer.train; here each side gets its own
        torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
        torch.backends.cudnn.allow_tf32 = cfg.tf32
    trainer = SweepTrainer(cfg, device=device)
    for _ in range(3):  # warm-up
        trainer.train_step()
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    _sync(device)
    elapsed = time.perf_counter() - t
    return (elapsed, trainer) if return_trainer else elapsed


def time_per_model(cfg, device, steps: int) -> float:
    n_in = cfg.n_tasks + cfg.n
    tasks = ParityTasks(draw_subsets(cfg.n_tasks, cfg.n, cfg.k, cfg.task_seed), cfg.n, cfg.alphas[0], device=device)
    total = 0.0
    for width in cfg.widths:
        net = ParityMLP(n_in, width, cfg.depth)
        net.load_state_dict(init_member(n_in, width, cfg.depth, cfg.seeds[0]))
        net.to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        stream = DataStream(tasks, cfg.data_sizes[0], cfg.seeds[0], cfg.batch_size, device)

        def step():
            task, bits, y = stream.next()
            loss = F.cross_entropy(net(tasks.to_inputs(task, bits)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for _ in range(3):
            step()
        _sync(device)
        t = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(device)
        total += time.perf_counter() - t
    return total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="cpu-small", help="the sweep whose shape is timed (default cpu-small)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--compare-kernel", default=None, choices=("torch", "triton", "auto"),
                    help="also time the batched sweep with this kernel and compare the weights")
    ap.add_argument("--batched-only", action="store_true", help="skip the per-model loop")
    ap.add_argument("--json", default=None, help="write the figures (and, with --compare-kernel, the verdict) here")
    ap.add_argument("--fused-ctrls", default=None, metavar="A,B",
                    help="with --compare-kernel triton, time each of these fused_ctrl variants (segments,rows); the "
                         "verdict names the fastest that passes")
    ap.add_argument("--min-speedup", type=float, default=1.0,
                    help="the speedup the compared kernel needs for the verdict 'use' (0 in a CPU dry run)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from quanta.cli.common import parse_overrides

    overrides = {"seeds": [0], "data_sizes": [0], **parse_overrides(args.overrides)}
    cfg = preset_config(args.preset, overrides)
    device = torch.device(args.device)
    n_models = len(cfg.widths) * len(cfg.groups)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {device} ({name}) threads {torch.get_num_threads()} preset {args.preset} widths {list(cfg.widths)} "
          f"batch {cfg.batch_size} n_tasks {cfg.n_tasks} n {cfg.n} tf32 {cfg.tf32} bf16 {cfg.bf16} compile {cfg.compile} "
          f"kernel {cfg.kernel}")
    batched, single = [], []
    for _ in range(args.repeats):
        batched.append(n_models * args.steps / time_batched(cfg, device, args.steps))
        if not args.batched_only:
            single.append(len(cfg.widths) * args.steps / time_per_model(cfg, device, args.steps))
    b = statistics.median(batched)
    print(f"batched sweep: {1e3 * n_models / b:.3f} ms per step "
          f"(all {n_models} models)")
    print(f"batched sweep:  {b:10.1f} model-steps/s   (repeats: {', '.join(f'{v:.1f}' for v in batched)})")
    if single:
        s = statistics.median(single)
        print(f"per-model loop: {s:10.1f} model-steps/s   (repeats: {', '.join(f'{v:.1f}' for v in single)})")
        print(f"ratio batched / per-model: {b / s:.2f}x")
    record = {"device": name, "preset": args.preset, "widths": list(cfg.widths), "batch_size": cfg.batch_size,
              "tf32": cfg.tf32, "compile": cfg.compile, "kernel": cfg.kernel, "steps": args.steps + 3,
              "ms_per_step": 1e3 * n_models / b, "threads": torch.get_num_threads(), "batched_model_steps_per_s": b,
              "batched_repeats": batched}
    if single:
        record.update(ratio_batched_over_per_model=b / s, per_model_model_steps_per_s=s, per_model_repeats=single)
    if args.compare_kernel:
        _, base = time_batched(cfg, device, args.steps, return_trainer=True)
        tf32_effect = 0.0
        if cfg.tf32:  # the yardstick: what TF32 alone does to the plain path's weights after the same steps
            _, fp32 = time_batched(dataclasses.replace(cfg, tf32=False), device, args.steps, return_trainer=True)
            tf32_effect = max_weight_diff(base, fp32)
            print(f"plain TF32 against plain fp32 after the same steps: max |weight difference| {tf32_effect:.2e}")
        ctrls = args.fused_ctrls.split(",") if args.fused_ctrls and args.compare_kernel == "triton" else [None]
        variants = []
        for ctrl in ctrls:
            other = dataclasses.replace(cfg, kernel=args.compare_kernel, compile=False,
                                        **({"fused_ctrl": ctrl} if ctrl else {}))
            times = [time_batched(other, device, args.steps, return_trainer=True) for _ in range(args.repeats)]
            o = statistics.median(n_models * args.steps / t for t, _ in times)
            worst = max_weight_diff(base, times[-1][1])
            verdict = kernel_verdict(o / b, worst, tf32_effect, min_speedup=args.min_speedup)
            name = f"kernel={args.compare_kernel}" + (f" fused_ctrl={other.fused_ctrl}" if ctrl else "")
            print(f"{name}: {1e3 * n_models / o:.3f} ms per step, {o / b:.2f}x kernel={cfg.kernel}; after "
                  f"{args.steps + 3} steps on the same batches: max |weight difference| {worst:.2e}; verdict {verdict}")
            variants.append({"fused_ctrl": other.fused_ctrl, "ms_per_step_compared": 1e3 * n_models / o,
                             "speedup": o / b, "max_weight_diff": worst, "verdict": verdict})
        usable = [v for v in variants if v["verdict"] == "use"]
        best = max(usable or variants, key=lambda v: (v["verdict"] == "use", v["speedup"]))
        print(f"verdict for kernel={args.compare_kernel}: {best['verdict']}"
              + (f" (fused_ctrl={best['fused_ctrl']})" if ctrls != [None] else ""))
        record.update({"compare_kernel": args.compare_kernel, **best, "tf32_effect": tf32_effect,
                       "tolerance": max(TF32_MULTIPLE * tf32_effect, MIN_TOLERANCE), "min_speedup": args.min_speedup,
                       "variants": variants})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)


def max_weight_diff(a, b) -> float:
    """The largest |difference| between two trainers' weights (NaN when either has a NaN)."""
    worst = 0.0
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        d = float((p - q).detach().abs().max())
        if d != d:
            return float("nan")
        worst = max(worst, d)
    return worst


if __name__ == "__main__":
    main()
