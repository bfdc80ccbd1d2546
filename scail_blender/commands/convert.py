"""`scail convert IN OUT`: any SCAIL DiT checkpoint to one safetensors file for fast reloads.

IN is a SCAIL-Preview or SCAIL-2 model folder (or their model/1/*.pt file, or a safetensors file);
OUT gets the official wan-branch tensor names, the chosen dtype and the model sizes as metadata.
Tensors are converted one at a time, so this needs about one tensor of extra memory, not a model.
The release folder IN belongs to is recorded in OUT, so `scail generate --checkpoint OUT` finds
the VAE, umT5 and CLIP files there (or put OUT into that folder).

OUT is written under a hidden name beside it and renamed when complete; refused before any
work: OUT equal to IN, a folder/device/socket as OUT, an unwritable folder, a disk
without room for the estimate. An existing OUT file is replaced.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import InputError
from ..outputs import check_outputs, real_path

DTYPES = ("bfloat16", "float16", "float32")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert", help="convert a SCAIL DiT checkpoint (SAT, FSDP, safetensors, ComfyUI fp8, GGUF) to one safetensors file",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="model folder, .pt, .safetensors or .gguf checkpoint (quantised weights are dequantised)")
    parser.add_argument("target", type=Path, help="safetensors file to write")
    parser.add_argument("--dtype", choices=DTYPES, default="bfloat16",
                        help="dtype of the written weights (default bfloat16)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.target.suffix != ".safetensors":
        raise InputError(f"{args.target}: convert writes a .safetensors file; end the name in .safetensors")
    source = real_path(args.source)
    size = sum(f.stat().st_size for f in source.rglob("*.pt")) if source.is_dir() else (
        source.stat().st_size if source.is_file() else 0)
    # bf16 weights: at least half of a float32 source (SCAIL-2), about all of a bf16 one.
    check_outputs({"OUT": args.target}, inputs={"IN": args.source}, need_bytes=size // 2)
    import torch

    from ..engine.checkpoints.convert import convert
    from ..jobs.contract import VARIANT_NAMES

    start = time.perf_counter()
    config = convert(args.source, args.target, getattr(torch, args.dtype))
    size_gb = args.target.stat().st_size / 1e9
    print(f"wrote {args.target}: {VARIANT_NAMES[config.variant]}, dim {config.dim}, "
          f"{config.num_layers} blocks, {args.dtype}, {size_gb:.2f} GB in "
          f"{time.perf_counter() - start:.1f} s")
    return 0
