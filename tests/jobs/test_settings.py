"""Job settings have one source: the contract's fields feed the command line, the panel and the
server's schema, so one edit changes a default, a range or a help text everywhere."""

from __future__ import annotations

import re
import typing

import pytest

from scail_blender.cli import build_parser
from scail_blender.errors import InputError, OverLimit
from scail_blender.jobs.contract import Job, JobInputs, JobSettings, setting_fields
from scail_blender.jobs.sampling import MODEL_SETTINGS, resolve_settings

from tests.support import ROOT, run_script

SCRIPT = ROOT / "tests" / "scripts" / "settings_source.py"


def flags(command: str) -> dict[str, object]:
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]
    return {a.dest: a for a in sub._actions}


@pytest.mark.parametrize("command", ["generate", "submit"])
def test_every_setting_is_a_flag_with_the_contracts_default_choices_and_help(command: str) -> None:
    actions = flags(command)
    hints = typing.get_type_hints(JobSettings)
    for name, f in setting_fields().items():
        if name in ("height", "width"):
            assert "size" in actions  # both as one --size HxW
            continue
        if name == "loras":  # the repeatable --lora PATH[:STRENGTH]
            assert actions["lora"].default == [] and actions["lora"].option_strings == ["--lora"]
            continue
        action = actions[name]
        # A setting a preset or the model fills is None until given (resolve_settings fills it).
        default = None if name in MODEL_SETTINGS else f.default
        assert action.default == default and f.metadata["doc"] in action.help, name
        literal = [a for a in typing.get_args(hints[name]) or [hints[name]] if typing.get_origin(a) is typing.Literal]
        if typing.get_origin(hints[name]) is typing.Literal or literal:
            assert tuple(action.choices) == typing.get_args(literal[0] if literal else hints[name]), name


def test_every_bound_is_checked_with_the_fields_own_words() -> None:
    for name, f in setting_fields().items():
        m = f.metadata
        if m["high"] is None:
            continue
        over = m["high"] + 1
        error = OverLimit if m["limit"] else InputError
        with pytest.raises(error, match=f"settings.{name}: .*{re.escape(m['doc'])}"):
            Job(inputs=JobInputs(reference_image="r.png", pose_video="p.mp4"),
                settings=JobSettings(**{name: type(f.default)(over) if f.default is not None else over})).validate()


def test_one_change_in_the_contract_reaches_every_front_end() -> None:
    """The same field patched in a fresh interpreter: the parser, the server's schema and the
    panel's property (real bpy) all show the new default, help and maximum; a front end that
    restated a value would still show the old one."""
    result = run_script(SCRIPT, {"blender": True})
    assert result["cli"] == {"default": None, "unset": None, "resolved": 41,
                             "help": "patched help (default: the checkpoint's model's, 41 for SCAIL-Preview, 40 "
                                     "for SCAIL-2, 50 for MultiAnimate; --preset sets it)"}
    # The server's schema keeps a job's unset steps unset: the checkpoint's model fills them.
    assert result["server"] == {"default": None, "help": "patched help", "max": 777}
    assert result["blender"] == {"default": 41, "help": "Patched help", "max": 777}


def test_unset_sampling_takes_the_checkpoint_models_official_values_and_a_given_value_wins() -> None:
    inputs = JobInputs(reference_image="r.png", pose_video="p.mp4")
    unset = Job.from_dict(Job(inputs=inputs).to_dict()).settings  # through JSON: None stays None
    assert [getattr(unset, name) for name in MODEL_SETTINGS] == [None] * 4
    multi = resolve_settings(unset, "multianimate")
    assert (multi.steps, multi.cfg, multi.shift, multi.sampler) == (50, 1.5, 5.0, "euler")
    for model in ("scail", "scail2"):
        scail = resolve_settings(unset, model)
        assert (scail.steps, scail.cfg, scail.shift, scail.sampler) == (40, 5.0, 3.0, "unipc")
    # An old job (or a user) with its own values keeps them on any model.
    old = Job.from_dict({"inputs": {"reference_image": "r.png", "pose_video": "p.mp4"},
                         "settings": {"steps": 40, "cfg": 5.0, "shift": 3.0, "sampler": "unipc"}}).settings
    kept = resolve_settings(old, "multianimate")
    assert (kept.steps, kept.cfg, kept.shift, kept.sampler) == (40, 5.0, 3.0, "unipc")


def test_the_command_lines_preset_sets_only_its_own_values() -> None:
    parser = build_parser()
    base = ["generate", "--checkpoint", "ck", "--ref", "r.png", "--pose", "p.mp4", "--out", "o.mp4"]
    from scail_blender.commands.common import job_from_args

    plain = job_from_args(parser.parse_args(base)).settings
    assert (plain.steps, plain.cfg, plain.shift, plain.sampler) == (None, None, None, None)
    distill = job_from_args(parser.parse_args([*base, "--preset", "distill", "--steps", "6"])).settings
    assert (distill.steps, distill.cfg, distill.shift, distill.sampler) == (6, 1.0, 1.0, None)
