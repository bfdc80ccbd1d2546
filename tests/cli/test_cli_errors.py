"""Every sub-command, fed bad values for each option on real files: one line ``scail: error: ...``
saying what to do, exit code 2, no traceback, nothing written. Results that would be silently
wrong (black videos, dropped keys, short animations) are among the errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scail_blender.cli import main
from scail_blender.motion.model import Motion, save_motion_npz
from scail_blender.media.video import VideoWriter, ffmpeg_exe

from tests.support import ROOT
from tests.support.motion_fixtures import walking


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("errors")
    good = walking(frames=4)
    save_motion_npz(good, root / "good.npz")
    joints = good.joints.copy()
    variants = {
        "zero": np.zeros_like(joints),
        "behind": joints * np.array([1, 1, -1], np.float32),
        "outside": joints + np.array([1e5, 0, 0], np.float32),
    }
    for name, value in variants.items():
        save_motion_npz(Motion(joints=value, intrinsics=good.intrinsics, image_size=good.image_size), root / f"{name}.npz")
    nan, huge = joints.copy(), joints.copy()
    nan[2, 0, 5] = np.nan
    huge[1, 0, 3] = 1e30
    np.savez(root / "nan.npz", joints3d_nonparam=nan)
    np.savez(root / "huge.npz", joints3d_nonparam=huge)
    np.savez(root / "extra.npz", joints3d_nonparam=joints, fps=16.0, intrinsics=good.intrinsics.matrix(), extra=1)
    np.savez(root / "mixed.npz", joints3d_nonparam=joints, fps=16.0, boxes=np.zeros((4, 1, 5)))
    rng = np.random.default_rng(0)
    from PIL import Image
    Image.fromarray(rng.integers(0, 255, (128, 224, 3), dtype=np.uint8)).save(root / "ref.png")
    with VideoWriter(root / "pose.mp4", 16, (128, 224)) as writer:
        for _ in range(40):
            writer.write(rng.integers(0, 255, (128, 224, 3), dtype=np.uint8))
    data = (root / "pose.mp4").read_bytes()
    (root / "short.mp4").write_bytes(data[: len(data) * 6 // 10])
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a",
                    "aac", str(root / "audio.mp4")], check=True)
    (root / "folder").mkdir()
    from scail_blender.engine.tiny_checkpoint import write_tiny_checkpoint
    write_tiny_checkpoint(root / "tiny")
    return {"root": str(root), **{p.stem: str(p) for p in root.iterdir() if p.is_file()}, "folder": str(root / "folder"),
            "tiny": str(root / "tiny")}


def G(f: dict[str, str], *extra: str) -> list[str]:
    """A generate command line that is right except for ``extra``."""
    base = {"--checkpoint": f["tiny"], "--ref": f["ref"], "--pose": f["pose"], "--out": f"{f['root']}/out.mp4"}
    for flag, value in zip(extra[::2], extra[1::2]):
        base[flag] = value
    return ["generate", *[x for kv in base.items() for x in kv]]


def R(f: dict[str, str], *extra: str) -> list[str]:
    base = {"--motion": f["good"], "--out": f"{f['root']}/out.mp4"}
    for flag, value in zip(extra[::2], extra[1::2]):
        base[flag] = value
    return ["render-pose", *[x for kv in base.items() for x in kv]]


CASES = [
    # render-pose: options
    (lambda f: R(f, "--motion", f"{f['root']}/missing.npz"), "does not exist"),
    (lambda f: R(f, "--motion", f["ref"]), "unknown motion format"),
    (lambda f: R(f, "--fps", "1e9"), "outside 1 to 120"),
    (lambda f: R(f, "--fps", "nan"), "outside 1 to 120"),
    (lambda f: R(f, "--fps", "fast"), "not a number of frames per second"),
    (lambda f: R(f, "--size", "99999x896"), "outside 16..4096"),
    (lambda f: R(f, "--size", "512by896"), "height x width"),
    (lambda f: R(f, "--intrinsics", "nan,500,100,100"), "finite values"),
    (lambda f: R(f, "--intrinsics", "1,2"), "four numbers"),
    (lambda f: R(f, "--palette", "pink"), "invalid choice"),
    (lambda f: R(f, "--renderer", "opengl"), "invalid choice"),
    (lambda f: R(f, "--camera", "Cam"), "applies to --blend only"),
    (lambda f: R(f, "--frame-range", "5"), "START:END"),
    (lambda f: R(f, "--out", f["folder"]), "is a folder, which is never replaced"),
    (lambda f: R(f, "--out", "/proc/scail/out.mp4"), "not writable"),
    (lambda f: R(f, "--joints-out", f"{f['root']}/j.txt"), "end its name in .npz"),
    (lambda f: R(f, "--frames-dir", f["ref"]), "not a folder"),
    (lambda f: ["render-pose", "--blend", f"{f['root']}/none.blend", "--out", f"{f['root']}/o.mp4"], "does not exist"),
    # render-pose: results that would be silently wrong
    (lambda f: R(f, "--motion", f["zero"]), "every person is missing"),
    (lambda f: R(f, "--motion", f["behind"]), "behind the camera"),
    (lambda f: R(f, "--motion", f["outside"]), "outside the camera's view"),
    (lambda f: R(f, "--motion", f["nan"]), "'joints3d_nonparam' frame 2 person 0: nan is not a number"),
    (lambda f: R(f, "--motion", f["huge"]), "frame 1 person 0: 1e+30 mm is more than 1 km"),
    (lambda f: R(f, "--motion", f["extra"]), "unknown keys ['extra']"),
    (lambda f: R(f, "--motion", f["mixed"]), "mixes keys"),
    # motion
    (lambda f: ["motion", "info", f"{f['root']}/missing.npz"], "does not exist"),
    (lambda f: ["motion", "info", f["good"], "--fps", "0"], "outside 1 to 120"),
    (lambda f: ["motion", "convert", f["good"], f"{f['root']}/x.txt"], "writes .npz or .glb"),
    (lambda f: ["motion", "convert", f["good"], f["good"]], "is also IN, an input"),
    (lambda f: ["motion", "convert", f["good"], f["folder"]], "is a folder"),
    (lambda f: ["motion", "convert", f["good"], "/proc/scail/x.npz"], "not writable"),
    (lambda f: ["motion", "convert", f["good"], f"{f['root']}/x.glb", "--smpl-model", f"{f['root']}/none.pkl"], "SMPL"),
    (lambda f: ["motion", "dance"], "invalid choice"),
    # generate: values, files and the device, all before anything loads
    (lambda f: G(f, "--steps", "0"), "settings.steps"),
    (lambda f: G(f, "--steps", "5000"), "over the limit; at most 1000 steps"),
    (lambda f: G(f, "--cfg", "99"), "settings.cfg"),
    (lambda f: G(f, "--seed", "-1"), "settings.seed"),
    (lambda f: G(f, "--max-frames", "0"), "settings.max_frames"),
    (lambda f: G(f, "--size", "100x100"), "multiple of 32"),
    (lambda f: G(f, "--size", "wide"), "height x width"),
    (lambda f: G(f, "--sampler", "ddim"), "invalid choice"),
    (lambda f: G(f, "--device", "toaster"), "is not a torch device"),
    (lambda f: G(f, "--device", "mps"), "cpu or cuda"),
    (lambda f: G(f, "--out", f["folder"]), "is a folder"),
    (lambda f: G(f, "--out", "/proc/scail/out.mp4"), "not writable"),
    (lambda f: G(f, "--out", f["pose"]), "is also --pose, an input"),
    (lambda f: G(f, "--checkpoint", f"{f['root']}/none"), "does not exist"),
    (lambda f: G(f, "--checkpoint", f["ref"]), "is not a SCAIL DiT file (not a SCAIL file"),
    (lambda f: G(f, "--ref", f"{f['root']}/none.png"), "does not exist"),
    (lambda f: G(f, "--pose", f["good"]), "not a readable video"),
    (lambda f: G(f, "--pose", f["short"]), "truncated or damaged: its header says 40 frames"),
    (lambda f: G(f, "--pose", f["audio"]), "has no video stream, only audio"),
    (lambda f: G(f, "--size", "512x512"), "the pose video is 128 high x 224 wide but the output is 512 high x 512 wide"),
    # make-test-checkpoint, convert, parity
    (lambda f: ["make-test-checkpoint", f["tiny"]], "not an empty folder"),
    (lambda f: ["make-test-checkpoint", "/proc/scail/tiny"], "not writable"),
    (lambda f: ["make-test-checkpoint", f"{f['root']}/t2", "--variant", "scail3"], "invalid choice"),
    (lambda f: ["convert", f"{f['root']}/none", f"{f['root']}/x.safetensors"], "does not exist"),
    (lambda f: ["convert", f["tiny"], f"{f['root']}/x.pt"], "end the name in .safetensors"),
    (lambda f: ["convert", f["tiny"], "/proc/scail/x.safetensors"], "not writable"),
    (lambda f: ["convert", f["tiny"], f["tiny"], "--dtype", "int8"], "invalid choice"),
    (lambda f: ["parity", "--weights", f["tiny"], "--inputs", f["good"], "--out", f"{f['root']}/o.txt"], "end its name in .npz"),
    (lambda f: ["parity", "--weights", f["tiny"], "--inputs", f["ref"], "--out", f"{f['root']}/o.npz"], "cannot read inputs"),
    (lambda f: ["parity", "--weights", f["tiny"], "--inputs", f["good"], "--out", f["folder"] + "/x.npz"], "missing ['x'"),
    (lambda f: ["nonsense"], "invalid choice"),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_bad_values_give_one_line_and_exit_2(files: dict[str, str], case: int, capsys: pytest.CaptureFixture) -> None:
    make_args, expected = CASES[case]
    args = make_args(files)
    before = sorted(os.listdir(files["root"]))
    try:
        code = main(args)
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("scail: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, (args, err)
    assert expected in errors[0], (args, errors[0])
    assert sorted(os.listdir(files["root"])) == before, "nothing was written"


def test_cuda_without_a_gpu_is_one_line(files: dict[str, str], capsys: pytest.CaptureFixture) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(G(files, "--device", "cuda")) == 2
    assert "no CUDA GPU is usable" in capsys.readouterr().err


def test_some_empty_frames_are_counted_and_ignored_masks_warned(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    motion = walking(frames=6)
    motion.joints[1:3] = 0
    save_motion_npz(motion, tmp_path / "gaps.npz")
    assert main(["render-pose", "--motion", str(tmp_path / "gaps.npz"), "--out", str(tmp_path / "p.mp4")]) == 0
    assert "scail: warning: 2 of 6 frames show nobody (first: frame 1)" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly(files: dict[str, str]) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "scail_blender.cli", "motion", "info", files["good"]], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # what `| head -0` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and err == ""


def test_version_and_a_bug_is_called_a_bug(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("scail 0.")
    import scail_blender.commands.motion as motion_command

    def broken(args):
        raise ZeroDivisionError("an internal mistake")

    monkeypatch.setattr(motion_command, "run_info", broken)
    assert main(["motion", "info", "x.npz"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError" in err and "this is a bug" in err

    def too_big(args):
        raise MemoryError()

    monkeypatch.setattr(motion_command, "run_info", too_big)
    assert main(["motion", "info", "x.npz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scail: error: ran out of memory") and "Traceback" not in err
