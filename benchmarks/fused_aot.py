"""Compile the fused parity step's Triton kernels for a GPU on this machine (no GPU needed), at presets' shapes.

It shows, before any GPU time is spent, whether the kernels compile with the installed triton for that GPU
(compute capability ``--arch``, 90 for the H100 and H200) and whether each fits its shared memory; it exits 1
when one does not. ``benchmarks/gpu_run.sh`` runs it in its CPU dry run at the shapes of its GPU steps:

    .venv/bin/python benchmarks/fused_aot.py --preset paper-fig2-params --preset paper-alpha-sweep --set tf32=true

Each kernel's first compile takes about a second; triton caches them (``~/.triton/cache``).
"""

from __future__ import annotations

import argparse
import json
import sys

from fused_tiles import parse_tiles, tile_name

from quanta.cli.common import parse_overrides
from quanta.errors import QuantaError
from quanta.parity.fused import compile_ahead
from quanta.parity.presets import preset_config


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", action="append", required=True, help="a parity preset whose shape is compiled")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="overrides applied to every preset (e.g. tf32=true, as the GPU run sets it)")
    ap.add_argument("--fused-ctrls", default=None, metavar="A,B",
                    help="compile each of these fused_ctrl variants (segments,rows; default: the config's)")
    ap.add_argument("--arch", type=int, default=90, help="compute capability, e.g. 90 (H100/H200), 80 (A100)")
    ap.add_argument("--tiles", default=None, metavar="BxHxW[sS],...",
                    help="compile each of these tiles (as benchmarks/fused_tiles.py names them; default: CUDA_TILES)")
    ap.add_argument("--json", default=None, help="write the rows here")
    args = ap.parse_args(argv)
    try:
        overrides = parse_overrides(args.overrides)
    except QuantaError as exc:
        print(exc)
        return 2
    rows = []
    ctrls = args.fused_ctrls.split(",") if args.fused_ctrls else [None]
    try:
        tiles = parse_tiles(args.tiles) if args.tiles else [None]
        for name in args.preset:
            for ctrl in ctrls:
                cfg = preset_config(name, {**overrides, **({"fused_ctrl": ctrl} if ctrl else {})})
                for tile in tiles:
                    rows += [{"preset": name, "arch": args.arch, **row}
                             for row in compile_ahead(cfg, arch=args.arch, tiles=tile)]
    except QuantaError as exc:  # an unknown preset, override, variant or arch
        print(exc)
        return 2
    for row in rows:
        split = "" if row["split"] is None else f" split {row['split']} ({row['ctrl']})"
        print(f"{row['preset']}: {row['kernel']}{split} ({row['prec']}, n_pad {row['n_pad']}, tile "
              f"{tile_name(row['tiles'])}) sm_{args.arch}: "
              f"{row['shared_bytes'] / 1024:.0f} KB shared of {row['shared_limit'] / 1024:.0f} KB "
              f"{'fits' if row['fits'] else 'DOES NOT FIT'} ({row['seconds']:.1f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "all_fit": all(r["fits"] for r in rows)}, f, indent=1)
    return 0 if all(r["fits"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
