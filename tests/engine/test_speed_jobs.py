"""Speed settings through the job contract, `scail generate` and the pipeline, on a tiny checkpoint."""

from __future__ import annotations

import argparse
import typing
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from scail_blender import cli
from scail_blender.jobs.contract import Job, JobInputs, JobResult, JobSettings
from scail_blender.jobs.loras import LoraSpec
from scail_blender.engine.models.dit import DitConfig, ScailDiT
from scail_blender.engine.pipeline import ScailPipeline
from scail_blender.engine import speed as speed_module
from scail_blender.engine.speed import Speed, prepare_dit
from scail_blender.engine.testing import random_state_dict
from scail_blender.engine.tiny_checkpoint import write_tiny_checkpoint
from scail_blender.commands.common import add_job_arguments, job_from_args
from scail_blender.errors import InputError
from scail_blender.media.video import probe_video

from tests.support.media import write_job_media


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("speed")
    write_job_media(folder)
    g = torch.Generator().manual_seed(0)
    save_file({"lora_unet_blocks_0_self_attn_q.lora_down.weight": torch.randn(4, 256, generator=g),
               "lora_unet_blocks_0_self_attn_q.lora_up.weight": torch.randn(256, 4, generator=g) * 0.01,
               "lora_unet_blocks_0_self_attn_q.alpha": torch.tensor(4.0)}, str(folder / "lora.safetensors"))
    save_file({"diffusion_model.blocks.0.ffn.0.lora_A.weight": torch.randn(4, 256, generator=g),
               "diffusion_model.blocks.0.ffn.0.lora_B.weight": torch.randn(512, 4, generator=g) * 0.01},
              str(folder / "lora2.safetensors"))
    return {"root": write_tiny_checkpoint(folder / "ck"), "pose": folder / "pose.mp4", "ref": folder / "ref.png",
            "lora": folder / "lora.safetensors", "lora2": folder / "lora2.safetensors", "folder": folder}


def test_defaults_are_the_full_quality_model() -> None:
    s = JobSettings()
    assert (s.precision, s.attention, s.cache, s.vram, s.loras, s.lora_mode) == ("bf16", "auto", None, "full", [],
                                                                                "merge")
    speed = Speed.from_settings(s)
    assert speed.cfg_batch and not speed.offloads and not speed.compile
    assert Speed.from_settings(JobSettings(vram="12gb")).cfg_batch is False


@pytest.mark.parametrize("field,value,message", [
    ("precision", "int4", "bf16 \\(full quality\\) or fp8"),
    ("attention", "xformers", "auto, sdpa, fa4, sage"),
    ("compile", "sometimes", "auto, on, off"),
    ("cache", 1.5, "from 0 to 1 or null for none \\(TeaCache"),
    ("vram", "8gb", "full, 24gb, 12gb"),
    ("loras", [{"name": f"l{i}"} for i in range(9)], "at most 8"),
])
def test_bad_speed_settings_say_what_to_do(field: str, value, message: str) -> None:
    data = {"inputs": {"reference_image": "r.png", "pose_video": "p.mp4"}, "settings": {field: value}}
    with pytest.raises(InputError, match=f"settings.{field}: .*{message}"):
        Job.from_dict(data)


def test_speed_settings_round_trip_and_are_typed_enumerations() -> None:
    settings = {"precision": "fp8", "attention": "sage", "cache": 0.1, "vram": "24gb",
                "loras": [{"name": "x.safetensors", "strength": 0.5}, {"name": "y.safetensors"}]}
    job = Job.from_dict({"inputs": {"reference_image": "r.png", "pose_video": "p.mp4"}, "settings": settings})
    assert Job.from_dict(job.to_dict()) == job
    hints = typing.get_type_hints(JobSettings)
    assert typing.get_args(hints["precision"]) == ("bf16", "fp8")
    assert typing.get_args(hints["vram"]) == ("full", "24gb", "12gb")
    assert hints["cache"] == float | None
    result = JobResult(output="o.mp4", frames=5, fps=12.0, seconds=1.0, height=64, width=64, seed=0, speed="precision=fp8")
    assert JobResult.from_dict(result.to_dict()) == result
    assert JobResult.from_dict({k: v for k, v in result.to_dict().items() if k != "speed"}).speed == ""


def test_pipeline_runs_all_modes_together_and_records_them(files: dict[str, Path]) -> None:
    pipeline = ScailPipeline(files["root"], "cpu")
    settings = JobSettings(steps=2, width=64, height=64, precision="fp8", cache=1.0, vram="12gb",
                           loras=[LoraSpec(name=str(files["lora"]), strength=0.5),
                                  LoraSpec(name=str(files["lora2"]), strength=-1.0)])
    out = files["folder"] / "fast.mp4"
    result = pipeline.generate(Job(inputs=JobInputs(reference_image=str(files["ref"]), pose_video=str(files["pose"]),
                                                    prompt="a person dances"), settings=settings, output=str(out)))
    assert probe_video(out).frames == 5
    # (Random weights move the time projection too much for the published polynomial to skip.)
    assert result.speed.startswith("precision=fp8 attention=auto cache=1(0/2 steps skipped)")
    assert result.speed.endswith("vram=12gb cfg=passes lora=lora.safetensors@0.5+lora2.safetensors@-1 compile=off")
    assert pipeline._dit.offload is not None
    # A job without the modes reloads a plain model.
    plain = pipeline.generate(Job(inputs=JobInputs(reference_image=str(files["ref"]), pose_video=str(files["pose"])),
                                  settings=JobSettings(steps=1, width=64, height=64),
                                  output=str(files["folder"] / "plain.mp4")))
    assert plain.speed == "precision=bf16 attention=auto cache=off vram=full cfg=batch lora=none compile=off"
    assert pipeline._dit.offload is None


def test_cli_flags_reach_the_job(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    out = files["folder"] / "cli.mp4"
    code = cli.main(["generate", "--checkpoint", str(files["root"]), "--ref", str(files["ref"]), "--pose",
                     str(files["pose"]), "--out", str(out), "--steps", "1", "--size", "64x64", "--device", "cpu",
                     "--precision", "fp8", "--attention", "sdpa", "--cache", "off", "--vram", "24gb",
                     "--lora", f"{files['lora']}:2", "--lora", str(files["lora2"]), "--lora-mode", "live"])
    assert code == 0
    out_text = capsys.readouterr().out
    assert "speed modes: precision=fp8 attention=sdpa cache=off vram=24gb cfg=batch lora=" in out_text
    # applied on the fly over the fp8 weights, not merged, in the order given
    assert "lora=lora.safetensors@2+lora2.safetensors@1(live) compile=off" in out_text
    with pytest.raises(SystemExit):
        cli.main(["generate", "--checkpoint", "x", "--ref", "r", "--pose", "p", "--out", "o.mp4",
                  "--cache", "sometimes"])


def test_compile_is_a_job_setting_that_compiles_every_block(files: dict[str, Path]) -> None:
    """``--compile on`` reaches the job, the model key and the result line; the blocks are compiled
    lazily (the compile itself runs at the first forward: timed on a GPU by bench/dit_step.py)."""
    parser = argparse.ArgumentParser()
    add_job_arguments(parser)
    args = parser.parse_args(["--ref", str(files["ref"]), "--pose", str(files["pose"]), "--out", "o.mp4",
                              "--compile", "on"])
    speed = Speed.from_settings(job_from_args(args).settings)
    assert speed.compile and speed.model_key != Speed().model_key and speed.describe().endswith("compile=on")
    config = DitConfig.preset("tiny", "scail")
    dit = ScailDiT(config)
    dit.load_state_dict(random_state_dict(config, seed=0))
    prepare_dit(dit, speed, "cpu")
    assert all(block._compiled_call_impl is not None for block in dit.blocks)
    assert all(block._compiled_call_impl is None for block in prepare_dit(ScailDiT(config), Speed(), "cpu").blocks)


def test_compile_auto_is_on_only_where_it_pays(monkeypatch: pytest.MonkeyPatch) -> None:
    """compile "auto" (the default) is off on a CPU; on CUDA it needs Triton and a C compiler, since
    a compile failing at the first step would lose the job. Jobs written with a bool still load."""
    assert JobSettings().compile == "auto"
    assert not Speed.from_settings(JobSettings(), device="cpu").compile
    assert Speed.from_settings(JobSettings(compile="on"), device="cpu").compile
    monkeypatch.setattr(speed_module.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(speed_module.importlib.util, "find_spec", lambda name: object())
    assert Speed.from_settings(JobSettings(), device="cuda").compile
    assert not Speed.from_settings(JobSettings(compile="off"), device="cuda").compile
    monkeypatch.setattr(speed_module.shutil, "which", lambda name: None)
    assert not Speed.from_settings(JobSettings(), device="cuda").compile
    old = Job(inputs=JobInputs(reference_image="r.png", pose_video="p.mp4")).to_dict()
    for written, read in ((True, "on"), (False, "off")):
        old["settings"]["compile"] = written
        assert Job.from_dict(old).settings.compile == read
    old["settings"]["compile"] = "sometimes"
    with pytest.raises(InputError, match="compile"):
        Job.from_dict(old)
