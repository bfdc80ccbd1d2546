"""Run one SCAIL DiT forward on tensors from an npz file and save the output.

For checking this implementation against another one (the official code, a port) on the same
weights and inputs. Weights: a safetensors file in the official wan-branch names (what the
official convert.py or `scail convert` writes); official SAT/FSDP checkpoints load too.

Input npz keys (float arrays; B batch, T latent frames, h x w latent size, both divisible by 4):
  x          [B, 20, T, h, w]      noisy latent + 4 mask channels (zeros, or SCAIL-2's history mask)
  t          [B]                   timesteps, sigma * 1000
  context    [B, L, text_dim]      umT5 embeddings, L <= 512 (zero-padded to 512 as the model expects)
  clip_fea   [B, N, clip_dim]      CLIP image tokens of the reference (N = 257 for the real model)
  ref        [B, 20, 1, h, w]      reference latent + 4 ones channels
  pose       [B, 20, T, h/2, w/2]  pose latent + 4 ones channels
SCAIL-2 only:
  ref_mask   [B, 28, 1+T, h, w]    colour masks of reference and video (required)
  pose_mask  [B, 28, T, h/2, w/2]  colour masks of the driving video (required)
  extra_refs [B, 20, N, h, w] and extra_ref_masks [B, 28, N, h, w]  (optional, together)
  replace    []                    replacement mode, 0 or 1 (default 0)
Output npz: out [B, 16, T, h, w] float32, the predicted velocity.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..outputs import atomic_file, check_outputs

REQUIRED = ("x", "t", "context", "clip_fea", "ref", "pose")
OPTIONAL = ("ref_mask", "pose_mask", "extra_refs", "extra_ref_masks", "replace")
DTYPES = ("float32", "bfloat16", "float16")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "parity", help="run one DiT forward on tensors from an npz file (implementation checks)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, type=Path,
                        help="DiT weights: wan-branch .safetensors (or an official checkpoint)")
    parser.add_argument("--inputs", required=True, type=Path, help="npz with the keys above")
    parser.add_argument("--out", required=True, type=Path, help="npz to write the output to (checked before the forward)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="weight and compute dtype (default float32)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.set_defaults(run=run)


def read_inputs(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an input npz, checked for unknown and missing keys."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read inputs {path} ({exc}); give an npz written by numpy.savez") from exc
    unknown = sorted(set(arrays) - set(REQUIRED) - set(OPTIONAL))
    missing = [key for key in REQUIRED if key not in arrays]
    if unknown or missing:
        raise InputError(f"inputs {path}: missing {missing}, unknown {unknown}; allowed keys are "
                         f"{', '.join(REQUIRED + OPTIONAL)} (see `scail parity --help`)")
    return arrays


def run(args: argparse.Namespace) -> int:
    import torch

    from ..engine.checkpoints.loading import load_dit

    if args.out.suffix != ".npz":
        raise InputError(f"--out {args.out}: the output is an npz file; end its name in .npz")
    check_outputs({"--out": args.out}, inputs={"--weights": args.weights, "--inputs": args.inputs})
    arrays = read_inputs(args.inputs)
    dtype = getattr(torch, args.dtype)
    model = load_dit(args.weights, dtype=dtype, device=args.device)
    tensors = {key: torch.from_numpy(np.asarray(value, dtype=np.float32)).to(args.device)
               for key, value in arrays.items() if key != "replace"}
    replace = bool(arrays["replace"]) if "replace" in arrays else False
    with torch.inference_mode():
        out = model(**tensors, replace=replace)
    with atomic_file(args.out) as temp:
        np.savez(temp, out=out.float().cpu().numpy())
    print(f"wrote {args.out}: out {list(out.shape)}")
    return 0
