"""Several ranks (CPU processes, gloo) give what one process gives: forwards, and whole jobs.

Groups of 2 and 4 ranks are started once per module and reused: spawning processes that import
torch is most of the cost on a CI machine. The DiT here has 4 heads (the tiny preset has 2) so
that 4 ranks can share them without CFG, and 2 x 2 with it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import scail_blender.engine.parallel as parallel

from scail_blender.cli import main as scail
from scail_blender.engine.checkpoints.loading import load_dit
from scail_blender.engine.models.dit import DitConfig, add_mask_channels
from scail_blender.engine.parallel import DeviceGroup, ParallelPipeline
from scail_blender.engine.parallel.groups import padded_length, split, usable_sizes
from scail_blender.engine.parallel.launch import MULTICAST_OFF
from scail_blender.engine.parallel.pipeline import GroupPipeline
from scail_blender.engine.parallel.ranks import CheckpointSource, DitSource, Leader
from scail_blender.engine.pipeline import ScailPipeline
from scail_blender.engine.sampling import denoise, make_sampler
from scail_blender.engine.testing import random_state_dict, save_safetensors
from scail_blender.errors import Cancelled, DeviceGroupError, InputError
from scail_blender.jobs.contract import Job, JobInputs, JobSettings
from scail_blender.jobs.sampling import resolve_settings
from scail_blender.media.video import probe_video
from scail_blender.progress import no_progress

from tests.support import ROOT
from tests.support.media import write_job_media

sys.path.insert(0, str(ROOT / "bench"))

import dit_parallel  # noqa: E402


TOLERANCE = 1e-5


def four_heads(variant: str) -> DitConfig:
    return dataclasses.replace(DitConfig.preset("tiny", variant), num_heads=4)


@pytest.fixture(scope="module")
def dits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("dits")
    paths = {}
    for variant in ("scail", "scail2"):
        config = four_heads(variant)
        paths[variant] = save_safetensors(random_state_dict(config, seed=3), folder / f"{variant}.safetensors", config)
    return paths


@pytest.fixture(scope="module")
def groups() -> Iterator[dict[int, DeviceGroup]]:
    """Groups of 2 and 4 CPU ranks, started together (their imports overlap) and reused."""
    with DeviceGroup(2, "cpu") as two, DeviceGroup(4, "cpu") as four:
        two.start()
        four.start()
        yield {2: two, 4: four}


@pytest.fixture(scope="module")
def group2(groups: dict[int, DeviceGroup]) -> DeviceGroup:
    return groups[2]


@pytest.fixture(scope="module")
def group4(groups: dict[int, DeviceGroup]) -> DeviceGroup:
    return groups[4]


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint: Path) -> Path:
    """The tiny SCAIL-Preview folder (2 heads)."""
    return tiny_checkpoint


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_job_media(tmp_path_factory.mktemp("media"), frames=7, ref_shape=(80, 60))


def job(clip: dict[str, Path], out: Path, **settings) -> Job:
    return Job(inputs=JobInputs(reference_image=str(clip["ref"]), pose_video=str(clip["pose"]), prompt="a person dances"),
               settings=JobSettings(**{"steps": 3, "width": 64, "height": 64, **settings}), output=str(out))


def inputs(config: DitConfig, batch: int, frames: int, extra: int = 0, replace: bool = False,
           seed: int = 0) -> dict:
    """Random inputs on a 4x4 latent (2x2 tokens, 1 pose token a frame): 4 + 5 * frames + 4 * extra
    tokens, so 1 frame gives 9 (divisible by neither 2 nor 4) and 4 frames 24."""
    g = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    x = dict(x=add_mask_channels(rand(batch, 16, frames, 4, 4), 0.0), t=torch.rand(batch, generator=g) * 1000,
             context=rand(batch, 7, config.text_dim), clip_fea=rand(batch, 257, config.clip_dim),
             ref=add_mask_channels(rand(batch, 16, 1, 4, 4), 1.0),
             pose=add_mask_channels(rand(batch, 16, frames, 2, 2), 1.0), replace=replace)
    if config.variant == "scail2":
        x["ref_mask"] = (rand(batch, 28, 1 + frames, 4, 4) > 0).float()
        x["pose_mask"] = (rand(batch, 28, frames, 2, 2) > 0).float()
        if extra:
            x["extra_refs"] = add_mask_channels(rand(batch, 16, extra, 4, 4), 1.0)
            x["extra_ref_masks"] = (rand(batch, 28, extra, 4, 4) > 0).float()
    return x


# (batch, frames, extra refs, replace): batch 2 is CFG; tokens 9, 9, 24, 19 (SCAIL), 13, 13, 18, 9 (SCAIL-2).
CASES = {
    "scail": [(1, 1, 0, False), (2, 1, 0, False), (1, 4, 0, False), (2, 3, 0, False)],
    "scail2": [(2, 1, 1, False), (1, 1, 1, True), (2, 2, 1, True), (2, 1, 0, False)],
}


@dataclasses.dataclass(frozen=True)
class Forwards:
    """Rank 0 task: load a DiT on every rank and return its outputs for each input set."""

    source: DitSource
    cases: list[dict]
    shard: bool = False

    def __call__(self, leader: Leader, report, cancel: threading.Event) -> list[torch.Tensor]:
        dit = leader.load_dit(self.source, torch.float32, self.shard)
        try:
            return [dit(**case) for case in self.cases]
        finally:
            dit.release()


def check_forwards(group: DeviceGroup, path: Path, variant: str, shard: bool = False) -> None:
    config = four_heads(variant)
    cases = [inputs(config, *case, seed=i) for i, case in enumerate(CASES[variant])]
    model = load_dit(path, torch.float32)
    with torch.no_grad():
        expected = [model(**case) for case in cases]
    got = group.run(Forwards(CheckpointSource(str(path)), cases, shard))
    for case, want, have in zip(CASES[variant], expected, got):
        assert have.shape == want.shape
        assert (have - want).abs().max() <= TOLERANCE, f"{variant} {case}"


def test_split_arithmetic() -> None:
    assert usable_sizes(40) == [1, 2, 4, 5, 8]
    assert split(4, 3, batch=2, heads=40) == split(4, 3, 2, 40).__class__(parts=2, degree=2, part=1, piece=1)
    assert split(4, 3, batch=1, heads=40).degree == 4
    assert split(5, 4, batch=2, heads=40).parts == 1  # odd groups keep the CFG pair together
    assert padded_length(48832, 8) == 48832 and padded_length(9, 4) == 12
    with pytest.raises(InputError, match="--gpus with one of 1, 2, 4, 5, 8"):
        split(6, 0, batch=2, heads=40)


@pytest.mark.parametrize("variant", ["scail", "scail2"])
def test_two_ranks_match_one_process(group2: DeviceGroup, dits: dict[str, Path], variant: str) -> None:
    check_forwards(group2, dits[variant], variant)


@pytest.mark.parametrize("variant", ["scail", "scail2"])
def test_four_ranks_match_one_process(group4: DeviceGroup, dits: dict[str, Path], variant: str) -> None:
    check_forwards(group4, dits[variant], variant)


def test_fsdp2_sharded_weights_match_one_process(group2: DeviceGroup, dits: dict[str, Path]) -> None:
    check_forwards(group2, dits["scail2"], "scail2", shard=True)


class DecodeRecorder:
    """A VAE that keeps every (latent, video) pair it decodes; all else is the wrapped VAE's."""

    def __init__(self, vae: torch.nn.Module, seen: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self._vae = vae
        self.seen = seen

    def __getattr__(self, name: str):
        return getattr(self._vae, name)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        video = self._vae.decode(latent)
        self.seen.append((latent.clone(), video.clone()))
        return video


class Recording:
    """Pipeline mixin: ``decoded`` holds each window's final latent and its video in [-1, 1], the
    floats the 8-bit frames are rounded from before the lossy H.264 encoder."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.decoded: list[tuple[torch.Tensor, torch.Tensor]] = []

    def _models(self, speed=None, report=no_progress):
        dit, vae = super()._models(speed, report)
        return dit, DecodeRecorder(vae, self.decoded)


class RecordingPipeline(Recording, ScailPipeline):
    pass


class RecordingGroupPipeline(Recording, GroupPipeline):
    pass


@dataclasses.dataclass(frozen=True)
class RecordedJob:
    """Rank 0 task: run ``job`` as GenerateTask does and return its result and the decoded windows."""

    checkpoint: str
    job: Job

    def __call__(self, leader: Leader, report, cancel: threading.Event):
        pipeline = RecordingGroupPipeline(self.checkpoint, leader, False)
        try:
            return pipeline.generate(self.job, report, cancel), pipeline.decoded
        finally:
            pipeline.release()


def velocity_weights(settings: JobSettings) -> list[float]:
    """How much each step's velocity moves the final latent: the sampler is linear in the
    velocities, so denoising zeros with a velocity of 1 at step i alone gives step i's weight."""
    weights = []
    for step in range(settings.steps):
        sampler = make_sampler(settings.sampler, settings.steps, settings.shift)
        at = sampler.timesteps[step]
        out = denoise(sampler, lambda x, t, at=at: (t == at).to(x.dtype).expand_as(x), torch.zeros(1, dtype=torch.float64))
        weights.append(float(out))
    return weights


# Max-norm gain of the tiny checkpoint's guided velocity with respect to the latent on this job,
# measured with random perturbations at every step (1.17 to 1.35 with CFG 5 and 1).
VELOCITY_GAIN = 1.4
# One 8-bit level of a video in [-1, 1].
LEVEL = 2 / 255


def latent_bound(cfg: float) -> float:
    """Max abs difference allowed between the final latents of one process and of a group."""
    return math.exp(VELOCITY_GAIN) * (2 * cfg - 1) * TOLERANCE


def test_generate_on_two_ranks_gives_the_video_of_one_process(group2: DeviceGroup, tiny: Path,
                                                              clip: dict[str, Path], tmp_path: Path) -> None:
    """With CFG the two passes run on one rank each; without, both ranks share the sequence.

    Close, not equal, is what holds: the split forwards, and rank 0's encoders and VAE at its own
    share of the CPU threads, round differently from one process (here, the group is bitwise equal
    to one process at rank 0's thread count; another CPU's kernels split other shapes' sums
    differently). The bound on the final latents follows from the forward tolerance eps:
    each DiT pass is within eps (the forward tests above; the encoders' rounding is far below it),
    so the guided velocity u + g (c - u) is within (2g - 1) eps (g = cfg; g = 1 is one pass); the
    sampler adds the velocities into the latent with weights whose sizes sum to at most 1 (checked
    below: sigma runs from 1 to 0), and a latent error reaches the later velocities through the DiT
    with a gain of at most VELOCITY_GAIN, so at most e^gain over the schedule (Gronwall):
    e^1.4 (2g - 1) eps = 3.7e-4 with CFG 5, 4.1e-5 without (seen: 6e-6 and 7e-7). The tiny VAE
    decoder's gain is under 6 (measured), so the videos are within 2.2e-3, under one 8-bit level:
    the frames given to the encoder differ by at most one level. The mp4s are compared in length
    and size only: x264 at CRF 23 is not continuous (6 of 61440 values one level apart came out
    as frames up to 23 levels apart on 9% of the pixels). A wrong seed, CFG half or sequence piece
    moves the latents by about 1.
    """
    for cfg in (5.0, 1.0):
        single, events = RecordingPipeline(tiny, "cpu"), []
        want = single.generate(job(clip, tmp_path / f"one_{cfg}.mp4", cfg=cfg, seed=5))
        got, decoded = group2.run(RecordedJob(str(tiny), job(clip, tmp_path / f"two_{cfg}.mp4", cfg=cfg, seed=5)),
                                  events.append)
        assert (got.frames, got.width, got.height, got.seed) == (want.frames, want.width, want.height, want.seed)
        assert probe_video(got.output).frames == probe_video(want.output).frames == 5
        assert sum(abs(w) for w in velocity_weights(resolve_settings(JobSettings(steps=3, cfg=cfg), "scail"))) <= 1
        [(latent_one, video_one)], [(latent_two, video_two)] = single.decoded, decoded
        latent_error = float((latent_two - latent_one).abs().max())
        assert latent_error <= latent_bound(cfg), f"cfg {cfg}: latents {latent_error:.3g} apart"
        video_error = float((video_two - video_one).abs().max())
        assert video_error < LEVEL, f"cfg {cfg}: videos {video_error:.3g} apart"
        assert [e.phase for e in events][-1] == "done"
        assert [e.step for e in events if e.phase == "denoise"] == [0, 1, 2, 3]


@dataclasses.dataclass(frozen=True)
class Environment:
    """Rank 0 task: the NVLink multicast variables as the ranks see them."""

    def __call__(self, leader: Leader, report, cancel: threading.Event) -> dict[str, str | None]:
        return {name: os.environ.get(name) for name in MULTICAST_OFF}


def test_cancel_reaches_the_group_and_it_keeps_serving(group2: DeviceGroup, tiny: Path, clip: dict[str, Path],
                                                       tmp_path: Path) -> None:
    pipeline, cancel, seen = ParallelPipeline(tiny, group=group2), threading.Event(), []
    pids = group2.pids

    def on_progress(event) -> None:
        seen.append(event)
        if event.phase == "denoise" and event.step == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        pipeline.generate(job(clip, tmp_path / "x.mp4", steps=100), on_progress, cancel)
    assert max(e.step for e in seen if e.phase == "denoise") < 100
    assert not (tmp_path / "x.mp4").exists()
    assert pipeline.generate(job(clip, tmp_path / "y.mp4", steps=1)).frames == 5
    assert group2.pids == pids, "a cancelled job leaves the group running"
    assert group2.run(Environment()) == MULTICAST_OFF


def test_heads_that_do_not_split_fail_before_the_group_is_involved(group4: DeviceGroup, tiny: Path,
                                                                   clip: dict[str, Path], tmp_path: Path) -> None:
    pipeline, pids = ParallelPipeline(tiny, group=group4), group4.pids
    with pytest.raises(InputError, match="4 GPUs cannot share this model's 2 attention heads without guidance"):
        pipeline.generate(job(clip, tmp_path / "x.mp4", cfg=1.0))
    # With CFG each half of 2 ranks shares the 2 heads: the same group runs it.
    assert pipeline.generate(job(clip, tmp_path / "y.mp4", steps=1)).frames == 5
    assert group4.pids == pids


@dataclasses.dataclass(frozen=True)
class FailsOnFollowers:
    """A DiT source that rank 0 can build and the other ranks cannot."""

    path: str

    def check(self) -> DitConfig:
        return CheckpointSource(self.path).check()

    def build(self, device: torch.device, dtype: torch.dtype):
        if dist.get_rank() != 0:
            raise RuntimeError("this rank cannot load the model (test)")
        return CheckpointSource(self.path).build(device, dtype)


def test_a_failing_rank_fails_the_job_with_its_message(group2: DeviceGroup, dits: dict[str, Path]) -> None:
    """The group is stopped; the next task (in file order, the CLI test) starts a fresh one."""
    case = inputs(four_heads("scail"), 2, 1)
    with pytest.raises(DeviceGroupError, match=r"rank 1 of 2 failed: RuntimeError: this rank cannot load the model"):
        group2.run(Forwards(FailsOnFollowers(str(dits["scail"])), [case]))
    assert group2.pids == []


def test_a_killed_rank_fails_the_job(group4: DeviceGroup, dits: dict[str, Path]) -> None:
    check_forwards(group4, dits["scail"], "scail")  # (re)starts the group if needed
    os.kill(group4.pids[2], signal.SIGKILL)  # no message at all: its end is the report
    with pytest.raises(DeviceGroupError, match="rank 2 of 4 was killed by SIGKILL"):
        check_forwards(group4, dits["scail"], "scail")
    assert group4.pids == []


def test_cli_gpus_runs_the_job_on_a_group(group2: DeviceGroup, tiny: Path, clip: dict[str, Path], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    def on_group2(checkpoint: str, gpus: int, device: str, **options) -> ParallelPipeline:
        asked.append((gpus, device, options))
        return ParallelPipeline(checkpoint, group=group2, **options)

    monkeypatch.setattr(parallel, "ParallelPipeline", on_group2)
    out = tmp_path / "out.mp4"
    code = scail(["generate", "--checkpoint", str(tiny), "--ref", str(clip["ref"]), "--pose", str(clip["pose"]),
                  "--out", str(out), "--steps", "2", "--size", "64x64", "--gpus", "2", "--device", "cpu"])
    assert code == 0 and probe_video(out).frames == 5
    assert asked == [(2, "cpu", {"shard_weights": False})]
    assert group2.pids == [], "the command stops its group"
    assert scail(["generate", "--checkpoint", str(tiny), "--ref", "r.png", "--pose", "p.mp4", "--out", "o.mp4",
                  "--shard-weights"]) == 2


def test_bench_times_steps_on_each_group_size(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    summary = dit_parallel.main(["--gpus", "1", "2", "--config", "tiny", "--device", "cpu", "--size", "64x64",
                                 "--frames", "5", "--dtype", "float32", "--warmup", "0", "--repeat", "1",
                                 "--json", str(out)])
    assert [r["gpus"] for r in summary["runs"]] == [1, 2]
    assert all(r["seconds_per_step"] > 0 and r["output_shape"] == [2, 16, 2, 8, 8] for r in summary["runs"])
    assert summary["runs"][0]["speedup"] == 1.0
    assert summary["runs"][1]["speedup"] == summary["runs"][0]["seconds_per_step"] / summary["runs"][1]["seconds_per_step"]
