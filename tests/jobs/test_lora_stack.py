"""A job's LoRA stack through the contract and the command line: order, strengths, the rules of a
stack, sampler presets, and old single-LoRA jobs read as a stack of one."""

from __future__ import annotations

import argparse
import json

import pytest

from scail_blender.cli import build_parser
from scail_blender.commands.common import job_from_args, lora_arg
from scail_blender.errors import InputError
from scail_blender.jobs.contract import Job, JobInputs, JobSettings
from scail_blender.jobs.sampling import PRESETS, describe_preset, preset_values
from scail_blender.jobs.loras import MAX_LORAS, LoraSpec, describe_stack

INPUTS = {"reference_image": "r.png", "pose_video": "p.mp4"}


def generate_args(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["generate", "--checkpoint", "ck", "--ref", "r.png", "--pose", "p.mp4",
                                      "--out", "o.mp4", *extra])


def test_an_old_single_lora_job_reads_as_a_stack_of_one() -> None:
    """A record written before stacks (settings lora/lora_strength, inputs lora_file) keeps its LoRA,
    strength and resolved file; written again it is in the new form only."""
    old = {"inputs": {**INPUTS, "lora_file": "/srv/jobs/1/lora"},
           "settings": {"steps": 3, "lora": "style.safetensors", "lora_strength": 0.5}}
    job = Job.from_dict(json.loads(json.dumps(old)))
    assert job.settings.loras == [LoraSpec(name="style.safetensors", strength=0.5)]
    assert job.inputs.lora_files == {"style.safetensors": "/srv/jobs/1/lora"}
    again = job.to_dict()
    assert "lora" not in again["settings"] and "lora_file" not in again["inputs"]
    assert Job.from_dict(again) == job
    none = Job.from_dict({"inputs": {**INPUTS, "lora_file": None}, "settings": {"lora": None, "lora_strength": 1.0}})
    assert none.settings.loras == [] and none.inputs.lora_files == {}
    with pytest.raises(InputError, match="either loras .* or the old lora"):
        Job.from_dict({"inputs": INPUTS, "settings": {"lora": "a", "loras": [{"name": "b"}]}})


@pytest.mark.parametrize("loras,message", [
    ([{"name": f"l{i}"} for i in range(MAX_LORAS + 1)], f"at most {MAX_LORAS}"),
    ([{"name": "a"}, {"name": "a", "strength": 0.5}], "'a' comes twice; give it once with the sum"),
    ([{"name": ""}], r"loras\[0\].name: empty"),
    ([{"name": "a"}, {"name": "b", "strength": 4.5}], r"loras\[1\].strength: 4.5 is out of range; use a value from -4 to 4"),
])
def test_a_bad_stack_is_refused_naming_the_entry(loras: list[dict], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Job.from_dict({"inputs": INPUTS, "settings": {"loras": loras}})


def test_generate_takes_a_repeated_lora_with_strengths_in_order() -> None:
    job = job_from_args(generate_args("--lora", "distill.safetensors", "--lora", "/l/style.safetensors:0.6",
                                      "--lora", "C:\\loras\\dpo.safetensors", "--lora", "C:\\loras\\x.safetensors:-1"))
    assert job.settings.loras == [LoraSpec(name="distill.safetensors", strength=1.0),
                                  LoraSpec(name="/l/style.safetensors", strength=0.6),
                                  LoraSpec(name="C:\\loras\\dpo.safetensors", strength=1.0),
                                  LoraSpec(name="C:\\loras\\x.safetensors", strength=-1.0)]
    assert describe_stack(job.settings.loras) == ("distill.safetensors@1+style.safetensors@0.6+dpo.safetensors@1+"
                                                  "x.safetensors@-1")
    assert describe_stack([]) == "none"
    with pytest.raises(argparse.ArgumentTypeError, match="strength 9 of a.safetensors is outside -4 to 4"):
        lora_arg("a.safetensors:9")
    with pytest.raises(SystemExit):  # the old flag is gone: the strength goes with its LoRA
        generate_args("--lora", "a.safetensors", "--lora-strength", "0.5")


def test_a_preset_fills_the_sampling_and_a_flag_of_its_own_wins() -> None:
    assert job_from_args(generate_args()).settings == JobSettings()
    distill = job_from_args(generate_args("--preset", "distill")).settings
    assert (distill.steps, distill.shift, distill.cfg) == (8, 1.0, 1.0)
    assert distill.sampler == JobSettings().sampler  # a preset leaves what it does not name
    own = job_from_args(generate_args("--preset", "distill", "--steps", "6", "--cfg", "5")).settings
    assert (own.steps, own.shift, own.cfg) == (6, 1.0, 5.0)
    assert describe_preset("distill") == "steps 8, shift 1, cfg 1"
    assert describe_preset("default") == "steps 40, shift 3, cfg 5"
    help_text = build_parser()._subparsers._group_actions[0].choices["generate"].format_help()  # noqa: SLF001
    for name in PRESETS:
        assert f"--preset {name}: {describe_preset(name)}" in help_text


def test_a_stack_round_trips_through_json() -> None:
    job = Job(inputs=JobInputs(**INPUTS, lora_files={"b.safetensors": "/up/lora_1"}),
              settings=JobSettings(loras=[LoraSpec(name="a.safetensors", strength=0.25),
                                          LoraSpec(name="b.safetensors", strength=-1.5)]))
    assert Job.from_dict(json.loads(json.dumps(job.to_dict()))) == job


def test_the_readme_shows_the_presets_of_the_contract() -> None:
    from tests.support import ROOT

    readme = (ROOT / "README.md").read_text()
    for name in PRESETS:
        values = preset_values(name)
        assert f"| `{name}` | {values['steps']} | {values['shift']:g} | {values['cfg']:g} |" in readme, name
