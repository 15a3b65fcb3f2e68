"""Where the parity step's time goes on a GPU: the plain step's kernels, and the fused step over a grid of tiles.

The H200's first timing (2026-12-04, docs/benchmarks.md) found the fused step (``kernel=triton``) slower than the
plain one at the Fig. 2 shape with its default tiles (:data:`quanta.parity.fused.CUDA_TILES`), and the plain step
at 2.87 ms, 5.7 times the issue's 0.5 ms target. Closing that gap needs to know where the time goes, which one
call of this script measures:

* the plain step (``kernel=torch``): ms per step, and its kernels' device time per step, largest first
  (``torch.profiler``), so that the lever (fusing elementwise work, CUDA graphs for launch overhead, bf16 for the
  gathers) is picked from a measurement;
* the fused step for every tile of ``--tiles`` (``BxHxW`` or ``BxHxWsS``: block_b × block_h, num_warps, and
  optionally num_stages): ms per step, the forward and backward kernels' device time, the rest of the step, and
  each tile's gradients on one batch against the plain path's (max |difference| over max |gradient|, per
  parameter); a tile whose kernels do not fit the GPU's shared memory is recorded as such;
* then the plain step's own levers, each on its own (``--levers``, after the tiles): ``bf16`` (autocast, which
  changes the numerics), ``adamw-fused`` (one fused optimizer kernel instead of a loop over tensors),
  ``cuda-graphs`` (``torch.compile(mode="reduce-overhead")``: the compiled forward and backward replayed as CUDA
  graphs, the optimizer left outside) and ``no-compile`` (what compilation buys): ms per step and the speed-up
  over the plain step, and how far each moves the weights from an uncompiled plain trainer after a few steps on
  the same batches, beside how far the plain step as configured (compiled with ``compile=true``, as gpu_run.sh
  passes) moves them, the yardstick.

    python benchmarks/fused_tiles.py --device cuda --preset paper-fig2-params --set tf32=true --json tiles.json
    # on the CPU, under Triton's interpreter (no timing worth reading; the gradients are the check):
    TRITON_INTERPRET=1 python benchmarks/fused_tiles.py --device cpu --preset cpu-tiny --tiles 16x16x4,32x16x4

``benchmarks/gpu_run.sh`` runs it as its step ``tiles``. Its sizes in shared memory for sm_90 can be read on the
CPU first: ``benchmarks/fused_aot.py --tiles ...``. Nothing here changes a default; a tile that beats the plain
step is a candidate for :data:`~quanta.parity.fused.CUDA_TILES`, to be confirmed by ``parity_throughput.py``'s
verdict (the same steps on the same batches against TF32's own effect).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import statistics
import sys
import time

import torch

from quanta.cli.common import parse_overrides
from quanta.errors import QuantaError
from quanta.parity.fused import tile_problems
from quanta.parity.presets import preset_config
from quanta.parity.train import SweepTrainer

#: The default grid: the defaults, fewer pipelining stages (less shared memory, so two or three programs share a
#: multiprocessor), smaller and larger tiles, fewer warps. Each compiles for sm_90 at the Fig. 2 shape within its
#: shared memory (``fused_aot.py --preset paper-fig2-params --set tf32=true --tiles ...`` prints the sizes);
#: 64x128x8 does not, and is left out.
GRID = ("64x64x8,64x64x8s1,64x64x8s2,64x32x4,32x64x4,64x64x4,64x64x4s1,128x64x8,128x64x8s1,128x128x8s1,"
        "32x32x4")
_TILE = re.compile(r"(\d+)x(\d+)x(\d+)(?:s(\d+))?")
#: The plain step's levers tried after the tiles, cheapest to compile first (see the module's doc).
LEVERS = ("adamw-fused", "bf16", "no-compile", "cuda-graphs")


def parse_tiles(text: str) -> list[dict]:
    """``"64x64x8,64x64x8s1"`` -> ``[{"block_b": 64, "block_h": 64, "num_warps": 8}, {..., "num_stages": 1}]``."""
    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        m = _TILE.fullmatch(item)
        if not m:
            raise QuantaError(f"a tile is BxHxW or BxHxWsS (block_b x block_h x num_warps, s: num_stages), got "
                              f"{item!r}", "e.g. --tiles 64x64x8,64x64x8s1")
        b, h, w, s = m.groups()
        tile = {"block_b": int(b), "block_h": int(h), "num_warps": int(w)}
        if s:
            tile["num_stages"] = int(s)
        bad = tile_problems(**tile)
        if bad:
            raise QuantaError(f"tile {item}: {', '.join(bad)} (block sizes are powers of two >= 16, num_warps one of "
                              "1, 2, 4, 8, 16, num_stages >= 1)", "e.g. --tiles 64x64x8,64x64x8s1")
        out.append(tile)
    if not out:
        raise QuantaError("--tiles names no tile", "e.g. --tiles 64x64x8")
    return out


def tile_name(t: dict) -> str:
    return f"{t['block_b']}x{t['block_h']}x{t['num_warps']}" + (f"s{t['num_stages']}" if t.get("num_stages") else "")


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ms_per_step(trainer, device, steps: int, repeats: int) -> float:
    """Median over ``repeats`` of the wall time of ``steps`` whole training steps (batch, step, AdamW), in ms."""
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        _sync(device)
        times.append((time.perf_counter() - t) / steps * 1000)
    return statistics.median(times)


def kernel_times(trainer, device, steps: int) -> dict[str, float]:
    """Device (or, on the CPU, self CPU) time per step of each kernel or op over ``steps`` steps, in ms."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CUDA] if device.type == "cuda" else [ProfilerActivity.CPU]
    _sync(device)
    with profile(activities=acts) as prof:
        for _ in range(steps):
            trainer.train_step()
        _sync(device)
    out = {}
    for ev in prof.key_averages():
        if device.type == "cuda":
            us = getattr(ev, "self_device_time_total", None)
            us = ev.self_cuda_time_total if us is None else us
        else:
            us = ev.self_cpu_time_total
        if us > 0:
            out[ev.key] = out.get(ev.key, 0.0) + us / 1000 / steps
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def gradient_gap(trainer) -> dict[str, float]:
    """On one batch and the current weights: each parameter's max |fused − plain gradient| / max |plain gradient|."""
    task, bits, y = trainer._batch()
    live = torch.ones(trainer.G, trainer.M, device=trainer.device)
    model = trainer.model
    model.zero_grad(set_to_none=True)
    trainer._fused(task, bits, y, trainer.row_weight, live)
    fused = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    trainer.member_losses(task, bits, y).sum().backward()
    gaps = {}
    for k, p in model.named_parameters():
        scale = float(p.grad.abs().max())
        gaps[k] = float((fused[k] - p.grad).abs().max()) / (scale if scale > 0 else 1.0)
    model.zero_grad(set_to_none=True)
    return gaps


def _kernel_ms(times: dict[str, float], name: str) -> tuple[float | None, list[str]]:
    """The time per step of the kernels whose profiler name holds ``name``, and their names (None when none does:
    a profiler that names the Triton kernels otherwise leaves the split unknown rather than zero)."""
    hits = [k for k in times if name in k]
    return (sum(times[k] for k in hits) if hits else None), hits


def parse_levers(text: str) -> list[str]:
    """``"bf16,cuda-graphs"`` -> ``["bf16", "cuda-graphs"]`` (each one of :data:`LEVERS`); ``""`` -> none."""
    out = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in out if t not in LEVERS]
    if bad:
        raise QuantaError(f"unknown lever {bad[0]!r}: the levers are {', '.join(LEVERS)}",
                          f"e.g. --levers {','.join(LEVERS)} (or --levers '' for none)")
    return out


def lever_trainer(cfg, device, lever: str) -> SweepTrainer:
    """A fresh plain-step trainer (``kernel=torch``) with ``lever`` (one of :data:`LEVERS`) applied."""
    c = dataclasses.replace(cfg, kernel="torch")
    if lever == "bf16":
        c = dataclasses.replace(c, bf16=True)
    elif lever in ("no-compile", "cuda-graphs"):
        c = dataclasses.replace(c, compile=False)
    tr = SweepTrainer(c, device=device)
    if lever == "cuda-graphs":
        tr._forward = torch.compile(tr.model, mode="reduce-overhead")
    elif lever == "adamw-fused":
        g = tr.opt.param_groups[0]
        tr.opt = torch.optim.AdamW(tr.model.parameters(), lr=g["lr"], betas=g["betas"], eps=g["eps"],
                                   weight_decay=g["weight_decay"], fused=True)
    return tr


def weight_gap(trainer, reference: dict[str, torch.Tensor]) -> float:
    """max |w − reference w| / max |reference w| over every parameter."""
    num = max(float((p.detach() - reference[k]).abs().max()) for k, p in trainer.model.named_parameters())
    den = max(float(w.abs().max()) for w in reference.values())
    return num / (den if den > 0 else 1.0)


#: Steps after which each lever's weights are compared with the uncompiled plain path's.
GAP_STEPS = 5


def reference_weights(cfg, device) -> dict[str, torch.Tensor]:
    """The weights of an uncompiled plain trainer after :data:`GAP_STEPS` steps, the levers' reference."""
    ref = SweepTrainer(dataclasses.replace(cfg, kernel="torch", compile=False), device=device)
    for _ in range(GAP_STEPS):
        ref.train_step()
    return {k: p.detach().clone() for k, p in ref.model.named_parameters()}


def _error(exc: Exception) -> str:
    """A failure as the record keeps it: its kind and the first line of its message."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def run_levers(cfg, device, levers: list[str], base: float, record: dict, reference: dict, *, steps: int,
               repeats: int, save=None) -> None:
    """Each lever's row in ``record["levers"]`` (see the module's doc), saved after each; a lever that fails is
    recorded with its error and the rest go on (unless the device is left unusable). ``reference``:
    :func:`reference_weights`; ``record["lever_yardstick"]`` is set by :func:`run` from its own plain trainer."""
    save = save or (lambda record: None)
    record["levers"] = []
    for lever in levers:
        row = {"lever": lever}
        try:
            tr = lever_trainer(cfg, device, lever)
            for _ in range(GAP_STEPS):  # compiles on the first steps too
                tr.train_step()
            row["weight_gap"] = weight_gap(tr, reference)
            tr.train_step()
            row["ms_per_step"] = ms_per_step(tr, device, steps, repeats)
            row["speedup"] = base / row["ms_per_step"]
            row["ran"] = True
            print(f"lever {lever:>12}: {row['ms_per_step']:.3f} ms per step ({row['speedup']:.2f}x plain); weights "
                  f"{row['weight_gap']:.1e} from the uncompiled plain path after {GAP_STEPS} steps (the plain step: "
                  f"{record['lever_yardstick']['plain_weight_gap']:.1e})")
            del tr
        except Exception as exc:  # noqa: BLE001 - a compile failure or an unsupported option: recorded
            row.update(ran=False, error=_error(exc))
            print(f"lever {lever:>12}: failed ({row['error']})")
            if not _device_usable(device):
                record["levers"].append(row)
                record["levers_stopped"] = f"the device is unusable after lever {lever}; the rest were not run"
                print(record["levers_stopped"])
                save(record)
                return
        record["levers"].append(row)
        save(record)


def run(cfg, device, tiles: list[dict], *, steps: int, repeats: int, profile_steps: int, top: int,
        save=None, levers: list[str] = ()) -> dict:
    """The record (see the module's doc). ``save(record)``, if given, is called after the plain step, after each
    tile and after each lever, so that a call cut short by its time limit keeps what it measured."""
    from quanta.parity.fused import FusedStep

    save = save or (lambda record: None)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
        torch.backends.cudnn.allow_tf32 = cfg.tf32
    reference = reference_weights(cfg, device) if levers else None
    plain = SweepTrainer(dataclasses.replace(cfg, kernel="torch"), device=device)
    for _ in range(GAP_STEPS if levers else 3):  # warm-up (and compilation, with compile=true); with levers, the
        plain.train_step()  # same steps give the yardstick: how far the plain step itself is from the reference
    yardstick = {"gap_steps": GAP_STEPS, "plain_weight_gap": weight_gap(plain, reference)} if levers else None
    base = ms_per_step(plain, device, steps, repeats)
    times = kernel_times(plain, device, profile_steps)
    total = sum(times.values())
    record = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "preset_shape": {"widths": len(cfg.widths), "hidden": sum(cfg.widths), "batch_size": cfg.batch_size,
                               "n": cfg.n, "n_tasks": cfg.n_tasks, "groups": len(cfg.alphas) * len(cfg.seeds)},
              "tf32": cfg.tf32, "compile": cfg.compile, "fused_ctrl": cfg.fused_ctrl, "steps": steps,
              "plain": {"ms_per_step": base, "profiled_ms_per_step": total,
                        "top": [{"name": k[:120], "ms": v, "share": v / total if total else None}
                                for k, v in list(times.items())[:top]]},
              "grid": [tile_name(t) for t in tiles], "tiles": []}
    if yardstick:
        record["lever_yardstick"] = yardstick
    del plain
    save(record)
    print(f"plain step: {base:.3f} ms per step; profiled kernels {total:.3f} ms per step, largest first:")
    for row in record["plain"]["top"]:
        print(f"  {row['ms']:8.4f} ms  {row['share']:6.1%}  {row['name']}")
    # the plain trainer's batches and AdamW, with each tile's FusedStep put in its place (main checked that the
    # fused step can run here)
    fused = SweepTrainer(dataclasses.replace(cfg, kernel="torch", compile=False), device=device)
    for tile in tiles:
        name = tile_name(tile)
        row = {"tile": name, **tile}
        try:
            fused._fused = FusedStep(fused.model, tf32=cfg.tf32, ctrl=cfg.fused_ctrl, **tile)
            for _ in range(2):  # compile and warm up
                fused.train_step()
            row["gradient_gap"] = gradient_gap(fused)
            row["ms_per_step"] = ms_per_step(fused, device, steps, repeats)
            kt = kernel_times(fused, device, profile_steps)
            (row["fwd_ms"], fwd_names), (row["bwd_ms"], bwd_names) = _kernel_ms(kt, "fwd_loss"), _kernel_ms(kt, "_bwd")
            row["kernel_names"] = fwd_names + bwd_names
            row["other_ms"] = sum(kt.values()) - (row["fwd_ms"] or 0.0) - (row["bwd_ms"] or 0.0)
            row["speedup"] = base / row["ms_per_step"]
            row["fits"] = True
            split = ("forward, backward not found by name in the profile" if row["fwd_ms"] is None
                     or row["bwd_ms"] is None else f"forward {row['fwd_ms']:.3f} ms, backward {row['bwd_ms']:.3f} ms")
            print(f"fused {name:>12}: {row['ms_per_step']:.3f} ms per step ({row['speedup']:.2f}x plain); {split}, "
                  f"rest {row['other_ms']:.3f} ms; largest gradient gap {max(row['gradient_gap'].values()):.1e}")
        except QuantaError as exc:  # tiles over the GPU's shared memory (FusedStep says so in one line)
            row.update(fits=False, error=str(exc))
            print(f"fused {name:>12}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a compile error, out of registers or memory: recorded
            row.update(fits=False, error=_error(exc))
            print(f"fused {name:>12}: failed ({row['error']})")
            if not _device_usable(device):  # a broken CUDA context fails every later tile the same way
                record["tiles"].append(row)
                record["stopped"] = f"the device is unusable after tile {name}; the rest of the grid was not run"
                print(record["stopped"])
                _best(record)
                save(record)
                break
        record["tiles"].append(row)
        _best(record)
        save(record)
    if record.get("best"):
        best = record["best"]
        print(f"fastest fused tile {best['tile']}: {best['ms_per_step']:.3f} ms, {best['speedup']:.2f}x plain "
              f"(fastest forward {best['best_fwd']}, backward {best['best_bwd']})")
    del fused
    if levers and not record.get("stopped"):
        run_levers(cfg, device, list(levers), base, record, reference, steps=steps, repeats=repeats, save=save)
    return record


def _device_usable(device) -> bool:
    if device.type != "cuda":
        return True
    try:
        torch.cuda.synchronize(device)
        return True
    except Exception:  # noqa: BLE001 - a sticky CUDA error
        return False


def _best(record: dict) -> None:
    ok = [r for r in record["tiles"] if r.get("fits")]
    if ok:
        best = min(ok, key=lambda r: r["ms_per_step"])
        split = {k: [r for r in ok if r[f"{k}_ms"] is not None] for k in ("fwd", "bwd")}
        record["best"] = {"tile": best["tile"], "ms_per_step": best["ms_per_step"], "speedup": best["speedup"],
                          **{f"best_{k}": min(rs, key=lambda r: r[f"{k}_ms"])["tile"] if rs else None
                             for k, rs in split.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="paper-fig2-params", help="the sweep whose shape is timed")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config overrides (e.g. tf32=true, as the GPU runs set it)")
    ap.add_argument("--tiles", default=GRID, help=f"comma-separated tiles BxHxW[sS] (default {GRID})")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--profile-steps", type=int, default=5, help="steps under the profiler")
    ap.add_argument("--top", type=int, default=12, help="the plain step's kernels listed")
    ap.add_argument("--levers", default=",".join(LEVERS),
                    help=f"the plain step's levers timed after the tiles (default {','.join(LEVERS)}; '' for none)")
    ap.add_argument("--json", default=None, help="write the record here")
    args = ap.parse_args(argv)
    try:
        for flag in ("steps", "repeats", "profile_steps", "top"):
            if getattr(args, flag) < 1:
                raise QuantaError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}",
                                  f"e.g. --{flag.replace('_', '-')} 5")
        tiles = parse_tiles(args.tiles)
        levers = parse_levers(args.levers)
        cfg = preset_config(args.preset, parse_overrides(args.overrides))
        device = torch.device(args.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise QuantaError("--device cuda, but torch sees no CUDA device", "--device cpu with TRITON_INTERPRET=1")
        from quanta.parity.fused import resolve_kernel

        resolve_kernel("triton", device, depth=cfg.depth, bf16=cfg.bf16, n=cfg.n)  # says why not, in one line
    except QuantaError as exc:
        print(exc)
        return 2
    def save(record):
        if args.json:
            from quanta.store import atomic_write_json

            atomic_write_json(args.json, record)

    run(cfg, device, tiles, steps=args.steps, repeats=args.repeats, profile_steps=args.profile_steps, top=args.top,
        save=save, levers=levers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
