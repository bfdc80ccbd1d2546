"""How far the fp8 recipe moves the DiT, block by block, on weights with trained-like outliers.

The 16% guided-velocity error of ``--precision fp8`` in bench/dit_step.py was measured on random
weights at CFG 5. This script separates what that number mixes: the error of each block's output,
of one forward (cond and uncond), and of the guided velocity, for the recipe as shipped
(per-output-channel weight scales, one activation scale per tensor) and for one activation scale
per token, on two weight sets of the 14B width (5120 wide, 40 heads, ffn 13824) with --blocks
blocks:

- ``random``: the seeded random weights every bench uses;
- ``outliers``: the same, with what trained DiTs are known to show planted in: a few channels of
  each block's adaLN modulation 20x larger (the "massive activation" channels that make the
  inputs of the q/k/v and FFN linears heavy-tailed) and a few input columns of every linear 8x
  larger. The counts and factors are --outlier-* flags; the real weights' values are unknown here.

Everything runs in float32 on the CPU (the fp8 linears in their emulation, which is the CUDA
kernel's maths up to float32 rounding), so the errors are the recipe's, not bf16's; the bf16
path's own error is printed beside them for scale. What cannot be known without the released
weights: where their outliers are and how large, and so the error a real job sees.

    python bench/fp8_error.py --blocks 2 --json fp8.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dit_forward import make_inputs  # noqa: E402

from scail_blender.engine.models.dit import DitConfig, ScailDiT  # noqa: E402
from scail_blender.engine.models.fp8 import Fp8Linear, convert_blocks_to_fp8, quantize_fp8  # noqa: E402
from scail_blender.engine.models.wan_block import Linear  # noqa: E402
from scail_blender.engine.testing import init_random_  # noqa: E402

CFG = 5.0


class PerTokenFp8Linear(Fp8Linear):
    """The shipped Fp8Linear with one activation scale per token instead of one per tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        x8, x_scale = quantize_fp8(rows, dim=-1)
        out = (x8.float() * x_scale) @ (self.weight.float() * self.weight_scale).T
        out = out.to(self.compute_dtype)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], -1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--config", default="14B", choices=["14B", "1.3B", "tiny"])
    parser.add_argument("--size", default="128x224", help="video HxW")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--outlier-channels", type=int, default=8, help="modulation channels made 20x larger")
    parser.add_argument("--outlier-columns", type=float, default=0.005, help="share of input columns made 8x larger")
    parser.add_argument("--sets", default="random,outliers", help="weight sets to measure, comma list")
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def plant_outliers(model: ScailDiT, channels: int, columns: float, seed: int = 1) -> None:
    """Heavy-tailed inputs (modulation channels x20) and weights (input columns x8), in place."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.blocks:
            picked = torch.randperm(block.modulation.shape[-1], generator=gen)[:channels]
            block.modulation[:, :, picked] += 20.0 * torch.sign(torch.randn(1, 6, channels, generator=gen))
            for module in block.modules():
                if isinstance(module, Linear):
                    n = max(1, int(columns * module.in_features))
                    cols = torch.randperm(module.in_features, generator=gen)[:n]
                    module.weight[:, cols] *= 8.0


def with_fp8(model: ScailDiT, per_token: bool) -> ScailDiT:
    fp8 = copy.deepcopy(model)
    convert_blocks_to_fp8(fp8.blocks)
    if per_token:
        for module in fp8.blocks.modules():
            if isinstance(module, Fp8Linear):
                module.__class__ = PerTokenFp8Linear
    return fp8


def block_outputs(model: ScailDiT, inputs: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Each block's output (hooks) and the velocity of one forward."""
    outs: list[torch.Tensor] = []
    hooks = [b.register_forward_hook(lambda _m, _i, o: outs.append(o.detach().float().clone())) for b in model.blocks]
    try:
        with torch.no_grad():
            velocity = model(**inputs).float()
    finally:
        for h in hooks:
            h.remove()
    return outs, velocity


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def measure(model: ScailDiT, variants: dict[str, ScailDiT], cond: dict, uncond: dict) -> dict:
    ref_blocks, ref_cond = block_outputs(model, cond)
    _, ref_uncond = block_outputs(model, uncond)
    ref_guided = ref_uncond + CFG * (ref_cond - ref_uncond)
    out = {}
    for name, variant in variants.items():
        blocks, v_cond = block_outputs(variant, cond)
        _, v_uncond = block_outputs(variant, uncond)
        guided = v_uncond + CFG * (v_cond - v_uncond)
        out[name] = {"blocks": [rel(b, r) for b, r in zip(blocks, ref_blocks)], "cond": rel(v_cond, ref_cond),
                     "uncond": rel(v_uncond, ref_uncond), "guided": rel(guided, ref_guided)}
    return out


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    height, width = (int(v) for v in args.size.lower().split("x"))
    config = DitConfig.preset(args.config, "scail")
    config = DitConfig(**{**config.__dict__, "num_layers": args.blocks})
    torch.manual_seed(0)
    cond = make_inputs(config, 1, args.frames, height, width, torch.device("cpu"), torch.float32)
    uncond = dict(cond, context=torch.zeros_like(cond["context"]))
    report: dict = {"config": args.config, "blocks": args.blocks, "size": [height, width], "frames": args.frames,
                    "outlier_channels": args.outlier_channels, "outlier_columns": args.outlier_columns, "sets": {}}
    print(f"{args.config} width, {args.blocks} blocks, {height}x{width}x{args.frames}, float32 reference, CFG {CFG}")
    print(f"{'weights':<9} {'variant':<15} {'per-block output error':<32} {'cond':>8} {'uncond':>8} {'guided':>8}")
    for weights in [w.strip() for w in args.sets.split(",") if w.strip()]:
        with torch.device("meta"):
            model = ScailDiT(config)
        model = init_random_(model.to_empty(device="cpu"), seed=0).eval()
        if weights == "outliers":
            plant_outliers(model, args.outlier_channels, args.outlier_columns)
        variants = {"bf16": copy.deepcopy(model).to(torch.bfloat16), "fp8 per-tensor": with_fp8(model, False),
                    "fp8 per-token": with_fp8(model, True)}
        for variant in variants.values():
            for module in variant.modules():
                if isinstance(module, Fp8Linear):
                    module.compute_dtype = torch.float32
        result = measure(model, variants, cond, uncond)
        report["sets"][weights] = result
        for name, r in result.items():
            blocks = " ".join(f"{e:.2e}" for e in r["blocks"])
            print(f"{weights:<9} {name:<15} {blocks:<32} {r['cond']:8.2e} {r['uncond']:8.2e} {r['guided']:8.2e}")
        del model, variants
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
