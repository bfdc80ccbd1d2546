"""`scail convert IN OUT`: any SCAIL DiT checkpoint to one safetensors file for fast reloads.

IN is a SCAIL-Preview or SCAIL-2 model folder (or their model/1/*.pt file, or a safetensors file);
OUT gets the official wan-branch tensor names, the chosen dtype and the model sizes as metadata.
Tensors are converted one at a time, so this needs about one tensor of extra memory, not a model.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DTYPES = ("bfloat16", "float16", "float32")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert", help="convert a SCAIL DiT checkpoint (SAT, FSDP, safetensors) to one safetensors file",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="model folder, .pt or .safetensors checkpoint")
    parser.add_argument("target", type=Path, help="safetensors file to write")
    parser.add_argument("--dtype", choices=DTYPES, default="bfloat16",
                        help="dtype of the written weights (default bfloat16)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..backend.checkpoints import convert
    from ..backend.jobs import VARIANT_NAMES

    start = time.perf_counter()
    args.target.parent.mkdir(parents=True, exist_ok=True)
    config = convert(args.source, args.target, getattr(torch, args.dtype))
    size_gb = args.target.stat().st_size / 1e9
    print(f"wrote {args.target}: {VARIANT_NAMES[config.variant]}, dim {config.dim}, "
          f"{config.num_layers} blocks, {args.dtype}, {size_gb:.2f} GB in "
          f"{time.perf_counter() - start:.1f} s")
    return 0
