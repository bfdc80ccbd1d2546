"""``scail generate``: animate a reference image with a pose video, in this process.

The job goes through the same ``LocalRunner`` as Blender's and the server's jobs: one place
queues, cancels and reports progress.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys

from ..jobs.runner import JobHandle, LocalRunner
from ..jobs.weights.finder import resolve
from ..errors import Cancelled, InputError
from ..outputs import check_outputs
from .common import add_job_arguments, job_from_args, presets_help, status_progress

EPILOG = """\
The checkpoint folder is the downloaded SCAIL-Preview or SCAIL-2 folder: model/1/... (the DiT),
Wan2.1_VAE.pth, umt5-xxl/ (encoder + tokenizer files) and the CLIP .pth. --checkpoint may also
be a DiT file: one written by `scail convert` (faster to load), a ComfyUI/kijai .safetensors
(fp16, bf16, fp8 e4m3fn scaled or not) or a GGUF quantisation (Q8_0, Q4_K...); fp8 and GGUF files
stay quantised in memory, about their file's size. Its VAE, umT5 and CLIP come from the folder it
sits in, else from the folder it was converted from (recorded in the file), else from
--components DIR. `scail make-test-checkpoint DIR` writes a tiny random folder to try a setup
(it prints the settings that make that take seconds).

--models-dir DIR instead finds every file by its header in a ComfyUI models/ folder
(diffusion_models/ or unet/, vae/, text_encoders/, clip_vision/) or in a folder holding the
official downloads, under any names; --dit NAME picks among several DiTs. `scail models
--models-dir DIR` shows what it finds and what is missing; `scail models get` downloads it.

--out is checked before anything loads: it must not be an input, a folder, a device or in an
unwritable folder; it is written under a hidden name beside it and renamed at the end, so a
failed or cancelled job leaves nothing (an existing file is replaced only on success).
--size HxW is height x width, the same form as render-pose's (512x896: 512 high x 896 wide).

Defaults are the official ones of the checkpoint's model: UniPC, 40 steps, shift 3, CFG 5 for SCAIL-Preview and
SCAIL-2; Euler, 50 steps, shift 5, CFG 1.5 for MultiAnimate (a flag or preset value wins); empty negative prompt,
512x896 (512 high x 896 wide;
896x512 for a portrait reference), output at the pose video's frame rate. Clips longer than 81
frames are generated in windows 76 frames apart. Ctrl-C stops after the current step; nothing is
written.

Speed modes are off by default (README "Speed modes"): --precision fp8, --attention sage and
--cache THRESHOLD trade some accuracy for speed; --vram 24gb/12gb streams the DiT blocks from CPU
memory to fit smaller GPUs.

LoRAs: --lora PATH[:STRENGTH] merges a LoRA at that strength (default 1); repeat it for a stack,
merged in the order given (--lora distill.safetensors --lora style.safetensors:0.6). kohya,
diffusers/PEFT, lightx2v and ComfyUI key layouts are read by their tensor names; a file with keys
that match nothing in the model is refused, naming them. --lora-mode live applies the stack on the
fly instead (for fp8 weights). A distillation LoRA needs its own sampling: --preset distill.

Sampler presets (each fills these settings; a flag of its own still wins):
{presets}

--gpus N spreads each step over N GPUs of this machine: the conditional and unconditional CFG
passes on two halves of them, and each pass's tokens split over the GPUs of its half (Ulysses).
The 14B model's 40 heads allow 2, 4, 5 or 8. The encoders and the VAE run on the first GPU.

A SCAIL-2 checkpoint also needs --ref-mask and --pose-mask, as the official scripts do: each
character in its identity colour (blue, red, green, ... left to right), the reference mask on
white and the driving mask on black in animation mode, the other way round in replacement mode
(scail render-pose --mask-out writes the driving mask, --reference-out and --reference-mask-out
the reference and its mask rendered from the scene). A mismatch of people between the two
masks is refused before the model loads. --extra-reference IMAGE MASK (repeatable) adds other
views of the same characters, each with its mask in the same colours.

A MultiAnimate checkpoint folder (epoch=39-step=7000.ckpt, or any folder with output_dir/model-0000k-of-00008
.safetensors) as --checkpoint runs MultiAnimate instead: its Wan2.1-I2V-14B-720P base is --components DIR, else
the one Wan2.1-I2V release folder beside the checkpoint folder. It needs --pose as the DWPose-style skeletons of
every character on one canvas, --character-mask MASK.mp4 once per character in identity order (white inside) and
--reference-pose IMAGE (the reference's skeletons); scail render-pose --dwpose-out and --character-masks-out
write all three from a scene. Inputs are stretched to 480x832 (or --size); one window of up to 81 frames.

example:
  scail generate --checkpoint SCAIL-Preview --ref ref.png --pose pose.mp4 \\
      --prompt "a woman dancing in a park" --out dance.mp4
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate", help="generate a SCAIL (or MultiAnimate) animation from a reference image and a pose video",
        description="Animate the character of a reference image with a SCAIL pose video.",
        epilog=EPILOG.format(presets=presets_help()), formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--checkpoint", metavar="DIR",
                       help="SCAIL-Preview or SCAIL-2 folder, a DiT file (.safetensors: ours, ComfyUI's, kijai's; .gguf), "
                            "or a MultiAnimate checkpoint folder")
    where.add_argument("--models-dir", metavar="DIR",
                       help="a ComfyUI models/ folder or a folder with the official downloads: the DiT, VAE, umT5, "
                            "tokenizer and CLIP are found in it by their headers (scail models --models-dir DIR shows them)")
    parser.add_argument("--dit", metavar="NAME",
                        help="with --models-dir: which DiT when it holds several (file name or path in the folder; "
                             "default: the first scail models lists)")
    parser.add_argument("--components", metavar="DIR",
                        help="folder with the VAE, umT5 and CLIP files when --checkpoint is a DiT file kept elsewhere; "
                             "for a MultiAnimate --checkpoint, its Wan2.1-I2V-14B-720P base folder (default: the one "
                             "beside it)")
    add_job_arguments(parser)
    parser.add_argument("--device", help="torch device: cpu, cuda or cuda:N (default: cuda if available, else cpu)")
    parser.add_argument("--gpus", type=int, default=1, metavar="N",
                        help="run the job on N GPUs of this machine: CFG parallel x Ulysses sequence parallel; "
                             "the model's 40 heads allow 1, 2, 4, 5 or 8 (with --device cpu: N CPU processes, "
                             "for testing) (default %(default)s)")
    parser.add_argument("--shard-weights", action="store_true",
                        help="with --gpus: split the DiT weights over the GPUs (FSDP2) instead of one copy each")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    job = job_from_args(args)
    args.selection = None
    if args.models_dir:
        if args.components:
            raise InputError("--components is for --checkpoint; with --models-dir the components come from the folder")
        args.selection = resolve(args.models_dir, args.dit)
        args.checkpoint = str(args.selection.checkpoint)
        print(f"models folder {args.models_dir}: DiT {args.selection.dit.path} ({args.selection.dit.describe()})",
              file=sys.stderr)
    elif args.dit:
        raise InputError("--dit chooses among the DiTs of --models-dir; with --checkpoint give the DiT file itself")
    if args.gpus < 1:
        raise InputError(f"--gpus must be at least 1, got {args.gpus}")
    if args.shard_weights and args.gpus == 1:
        raise InputError("--shard-weights splits the weights over several GPUs; give --gpus 2 or more")
    if args.components and args.gpus > 1:
        raise InputError("--components works with one GPU for now; with --gpus give the release folder as --checkpoint")
    check_outputs({"--out": args.out}, inputs={"--ref": args.ref, "--pose": args.pose, "--ref-mask": args.ref_mask,
                                              "--pose-mask": args.pose_mask, "--checkpoint": args.checkpoint,
                                              "--reference-pose": args.reference_pose,
                                              **{f"--character-mask {k + 1}": path
                                                 for k, path in enumerate(args.character_mask)},
                                              "--components": args.components,
                                              **{f"--extra-reference {k + 1} {part}": path
                                                 for k, pair in enumerate(args.extra_reference)
                                                 for part, path in zip(("image", "mask"), pair)}})
    with contextlib.ExitStack() as pipelines:
        runner = LocalRunner(args.checkpoint, args.device,
                             pipeline_factory=lambda *_: pipelines.enter_context(_pipeline(args)))
        handle = runner.submit(job, listener=status_progress())
        previous = signal.signal(signal.SIGINT, lambda *_: _first_interrupt(handle, previous))
        try:
            result = handle.result()
        except Cancelled:
            print("\nscail: cancelled; nothing was written", file=sys.stderr)
            return 130
        finally:
            signal.signal(signal.SIGINT, previous)
            runner.close()
    print(f"wrote {result.output} ({result.frames} frames, {result.height} high x {result.width} wide, "
          f"{result.fps:g} fps, {result.seconds:.1f} s, seed {result.seed})")
    print(f"speed modes: {result.speed}")
    return 0


def _pipeline(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """One process (the default), or a group of ``--gpus`` processes that is stopped afterwards."""
    # torch loads only when a job really runs
    from ..jobs.weights.identify import is_multianimate_folder

    if args.gpus == 1:
        from ..engine import load_pipeline
        from ..engine.components import ComponentFiles

        components = ComponentFiles.of(args.selection) if args.selection is not None else args.components
        return contextlib.nullcontext(load_pipeline(args.checkpoint, args.device, components))
    if is_multianimate_folder(args.checkpoint):
        raise InputError("MultiAnimate runs on one GPU for now; drop --gpus (--vram 24gb fits smaller GPUs)")
    from ..engine.parallel import ParallelPipeline

    device = args.device or "cuda"
    if device not in ("cuda", "cpu"):
        raise InputError(f"--gpus uses the GPUs 0..N-1 (or --device cpu for N CPU processes); drop --device {device}")
    return ParallelPipeline(args.checkpoint, args.gpus, device, shard_weights=args.shard_weights)


def _first_interrupt(handle: JobHandle, previous) -> None:
    """Ctrl-C asks the job to stop after the current step; a second Ctrl-C interrupts at once."""
    handle.cancel()
    signal.signal(signal.SIGINT, previous)
    print("\nscail: stopping after the current step (Ctrl-C again to abort now)", file=sys.stderr)
