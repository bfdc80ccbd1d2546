"""``scail make-test-checkpoint``: a tiny random checkpoint folder in the official layout."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..outputs import check_outputs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "make-test-checkpoint", help="write a tiny random SCAIL checkpoint folder for smoke tests",
        description="Write a tiny random checkpoint folder laid out like the release (DiT under model/1/, "
                    "Wan2.1_VAE.pth, umt5-xxl/ with a tokenizer, the CLIP file). It loads through the same "
                    "code as the real one, in seconds, on a CPU; its videos are noise. It prints the generate settings that "
                    "make a smoke test take seconds (the defaults would take most of an hour on a CPU).")
    parser.add_argument("dir", metavar="DIR", help="folder to create (must not exist or be empty)")
    parser.add_argument("--variant", choices=("scail", "scail2", "multianimate"), default="scail",
                        help="scail: SCAIL-Preview layout (SAT file); scail2: SCAIL-2 (FSDP file, mask embedding); "
                             f"multianimate: a 3-character MultiAnimate folder DIR/{MA_FOLDER} with its "
                             f"Wan2.1-I2V base beside it, DIR/{WAN_FOLDER}")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default %(default)s)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise InputError(f"{root} exists and is not an empty folder; give a new folder name")
    check_outputs({}, frames={"DIR": root})  # writable, room to make it
    if args.variant == "multianimate":
        from ..engine.multianimate.tiny import write_tiny_multianimate, write_tiny_wan_i2v

        write_tiny_wan_i2v(root / WAN_FOLDER, seed=args.seed)
        checkpoint = write_tiny_multianimate(root / MA_FOLDER, seed=args.seed, base_seed=args.seed)
    else:
        from ..engine.tiny_checkpoint import write_tiny_checkpoint

        checkpoint = write_tiny_checkpoint(root, args.variant, args.seed)
    print(f"wrote a tiny {args.variant} checkpoint to {checkpoint} (random weights: its videos are noise)")
    print(smoke_test_text(checkpoint, args.variant))
    return 0


# A tiny MultiAnimate checkpoint and its base, side by side as the real downloads are kept (the
# base is found beside the checkpoint folder).
MA_FOLDER = "MultiAnimate"
WAN_FOLDER = "Wan2.1-I2V-14B-720P"


# At the default settings (40 steps, CFG, 81 frames at 512 high x 896 wide) even the tiny model
# takes most of an hour on a CPU, nearly all of it in the VAE; these keep every code path and
# take about 11 s of CPU time (43 s wall on the project's busy 2-core machine).
SMOKE_SETTINGS = "--size 128x224 --max-frames 5 --steps 2 --cfg 1"
MA_SMOKE_SETTINGS = "--size 64x128 --max-frames 5 --steps 2"


def smoke_test_text(root: Path, variant: str) -> str:
    if variant == "multianimate":
        return (f"smoke test in seconds (tiny size, 5 frames, 2 steps; MultiAnimate stretches every input to the "
                f"size, one --character-mask per character in identity order):\n"
                f"  scail generate --checkpoint {root} --ref REF.png --pose DWPOSE.mp4 --character-mask A.mp4 "
                f"--character-mask B.mp4 --reference-pose REF_POSE.png --out smoke.mp4 {MA_SMOKE_SETTINGS}")
    masks = " --ref-mask REF_MASK.png --pose-mask POSE_MASK.mp4" if variant == "scail2" else ""
    return (f"smoke test in seconds (tiny size, 5 frames, 2 steps, no CFG; 128x224 is 128 high x 224 wide and fits a "
            f"landscape 512x896 pose video, use 224x128 for a portrait one):\n"
            f"  scail generate --checkpoint {root} --ref REF.png --pose POSE.mp4{masks} --out smoke.mp4 {SMOKE_SETTINGS}")
