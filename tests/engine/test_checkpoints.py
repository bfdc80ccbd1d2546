"""Checkpoint formats: SAT, FSDP and safetensors load to identical tensors; bad files fail clearly."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from scail_blender.engine.checkpoints.formats import FSDP_PATH, SAT_PATH
from scail_blender.engine.checkpoints.loading import KEY_COUNTS, detect_variant, expected_shapes, infer_config, load_dit
from scail_blender.engine.checkpoints.names import SAT_PREFIX, wan_to_sat
from scail_blender.engine import testing
from scail_blender.engine.models.dit import DitConfig
from scail_blender.cli import main
from scail_blender.errors import CheckpointError

VARIANTS = ("scail", "scail2")


@pytest.fixture(scope="module")
def states() -> dict[str, dict[str, torch.Tensor]]:
    return {v: testing.random_state_dict("tiny", v, seed=7) for v in VARIANTS}


def write_all(state: dict[str, torch.Tensor], root: Path) -> dict[str, Path]:
    return {"sat": testing.save_sat(state, root / "SCAIL-Preview").parents[2],
            "fsdp": testing.save_fsdp(state, root / "SCAIL-2").parents[2],
            "safetensors": testing.save_safetensors(state, root / "dit.safetensors")}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_official_format_loads_to_identical_tensors(variant: str, states, tmp_path: Path) -> None:
    state = states[variant]
    for fmt, path in write_all(state, tmp_path).items():
        model = load_dit(path, dtype=torch.float32)
        assert model.config == DitConfig.preset("tiny", variant), fmt
        loaded = model.state_dict()
        assert loaded.keys() == state.keys(), fmt
        for name, tensor in state.items():
            assert torch.equal(loaded[name], tensor), f"{fmt}: {name}"
        assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_files_are_in_the_official_layouts_and_names(states, tmp_path: Path) -> None:
    paths = write_all(states["scail2"], tmp_path)
    sat = torch.load(paths["sat"] / SAT_PATH, weights_only=True)["module"]
    dim = 256
    assert sat["model.diffusion_model.transformer.layers.0.attention.query_key_value.weight"].shape == (3 * dim, dim)
    assert sat["model.diffusion_model.transformer.layers.1.cross_attention.key_value.bias"].shape == (2 * dim,)
    assert sat["model.diffusion_model.mixins.adaln_layer.clip_feature_key_value_list.0.weight"].shape == (2 * dim, dim)
    assert sat["model.diffusion_model.mixins.adaln_layer.adaLN_modulations.1"].shape == (1, 6, dim)
    assert "model.diffusion_model.mixins.patch_embed.proj_mask.weight" in sat
    assert all(k.startswith(SAT_PREFIX) for k in sat)
    # The FSDP file is float32 and keeps NumPy RNG state next to the weights, as SCAIL-2's does.
    fsdp_globals = torch.serialization.get_unsafe_globals_in_checkpoint(paths["fsdp"] / FSDP_PATH)
    assert any(name.startswith("numpy") for name in fsdp_globals)
    with safe_open(paths["safetensors"], framework="pt") as handle:
        assert "blocks.0.self_attn.q.weight" in handle.keys()
        assert "cross_attn" in " ".join(handle.keys())


def test_loading_casts_on_the_way(states, tmp_path: Path) -> None:
    path = testing.save_fsdp(states["scail"], tmp_path)
    model = load_dit(tmp_path, dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert torch.equal(model.head.head.weight, states["scail"]["head.head.weight"].bfloat16())
    assert path.is_file()


def test_key_counts_of_the_real_models_and_config_inference() -> None:
    for name in ("14B", "1.3B"):
        for variant in VARIANTS:
            config = DitConfig.preset(name, variant)
            shapes = expected_shapes(config)
            if name == "14B":
                assert len(shapes) == KEY_COUNTS[variant]
            assert infer_config(shapes, detect_variant(shapes)) == config


def test_plain_wan_i2v_is_named_as_such(states, tmp_path: Path) -> None:
    wan = {k: v for k, v in states["scail"].items() if not k.startswith("patch_embedding_pose")}
    path = testing.save_safetensors(wan, tmp_path / "wan.safetensors")
    with pytest.raises(CheckpointError, match="plain Wan2.1-I2V .*not SCAIL"):
        load_dit(path)
    wan14 = {k: v for k, v in expected_shapes(DitConfig.preset("14B")).items()
             if not k.startswith("patch_embedding_pose")}
    assert len(wan14) == KEY_COUNTS["wan_i2v"]
    with pytest.raises(CheckpointError, match=r"a plain Wan2.1-I2V model \(no pose patch embedding\), 1303 tensors"):
        detect_variant(wan14)


def test_missing_unexpected_and_misshaped_tensors_are_listed(states, tmp_path: Path) -> None:
    state = dict(states["scail"])
    del state["blocks.1.ffn.2.bias"]
    state["blocks.0.self_attn.q.weight"] = torch.zeros(256, 255)
    state["blocks.0.lora_up.weight"] = torch.zeros(4, 4)
    path = testing.save_safetensors(state, tmp_path / "dit.safetensors")
    with pytest.raises(CheckpointError) as error:
        load_dit(path)
    message = str(error.value)
    assert "1 missing, 1 unexpected, 1 mis-shaped" in message
    assert "missing: blocks.1.ffn.2.bias" in message
    assert "blocks.0.self_attn.q.weight [256, 255] (expected [256, 256])" in message
    assert "download it again" in message


def test_unknown_sat_names_are_reported(states, tmp_path: Path) -> None:
    sat = wan_to_sat(states["scail"])
    sat["model.diffusion_model.mixins.extra_thing.weight"] = torch.zeros(3)
    path = tmp_path / SAT_PATH
    path.parent.mkdir(parents=True)
    torch.save({"module": sat}, path)
    with pytest.raises(CheckpointError, match="unexpected: model.diffusion_model.mixins.extra_thing"):
        load_dit(tmp_path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all" * 10, b"PK\x03\x04garbage"])
def test_garbage_files_raise_checkpoint_errors(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "dit.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="download it again|not a"):
        load_dit(path)


def test_truncated_download_raises_checkpoint_error(states, tmp_path: Path) -> None:
    path = testing.save_sat(states["scail"], tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="download"):
        load_dit(tmp_path)
    st = testing.save_safetensors(states["scail"], tmp_path / "dit.safetensors")
    st.write_bytes(st.read_bytes()[:-1000])
    with pytest.raises(CheckpointError):
        load_dit(st)


def test_folders_and_paths_that_hold_no_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_dit(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match=r"model/1/mp_rank_00_model_states\.pt"):
        load_dit(tmp_path)


def touch(path: str) -> None:
    Path(path).touch()


class Payload:
    """Unpickling this calls a function; a loader that runs pickled code would create the marker."""

    def __init__(self, marker: Path, function=touch) -> None:
        self.marker, self.function = marker, function

    def __reduce__(self):
        return self.function, (str(self.marker),)


def test_objects_in_pickles_are_never_executed(states, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    path = tmp_path / SAT_PATH
    path.parent.mkdir(parents=True)
    torch.save({"module": wan_to_sat(states["scail"]), "args": Payload(marker),
                "rng": np.random.RandomState(1).get_state()}, path)
    model = load_dit(tmp_path, dtype=torch.float32)
    assert not marker.exists()
    assert torch.equal(model.patch_embedding.weight, states["scail"]["patch_embedding.weight"])
    # Some modules torch never lets a checkpoint name; such a file is refused, still unexecuted.
    torch.save({"module": wan_to_sat(states["scail"]), "args": Payload(marker, os.system)}, path)
    with pytest.raises(CheckpointError, match="not a plain checkpoint"):
        load_dit(tmp_path)
    assert not marker.exists()


def test_num_heads_comes_from_our_metadata(tmp_path: Path) -> None:
    config = DitConfig.preset("tiny", "scail")
    config = type(config)(**{**config.__dict__, "num_heads": 4})
    state = testing.random_state_dict(config, seed=1)
    path = testing.save_safetensors(state, tmp_path / "dit.safetensors", config)
    assert load_dit(path).config.num_heads == 4
    bare = testing.save_safetensors(state, tmp_path / "bare.safetensors")
    assert load_dit(bare).config.num_heads == 2  # dim // 128 without metadata
    assert load_dit(bare, num_heads=4).config.num_heads == 4


def test_convert_command_writes_one_safetensors_file(states, tmp_path: Path, capsys) -> None:
    testing.save_sat(states["scail2"], tmp_path / "SCAIL-2")
    target = tmp_path / "out" / "scail2.safetensors"
    assert main(["convert", str(tmp_path / "SCAIL-2"), str(target), "--dtype", "float32"]) == 0
    assert "SCAIL-2, dim 256, 2 blocks, float32" in capsys.readouterr().out
    with safe_open(target, framework="pt") as handle:
        assert len(list(handle.keys())) == len(states["scail2"])
        assert torch.equal(handle.get_tensor("blocks.1.cross_attn.v_img.weight"),
                           states["scail2"]["blocks.1.cross_attn.v_img.weight"])
    assert [p.name for p in target.parent.iterdir()] == ["scail2.safetensors"]
    half = tmp_path / "bf16.safetensors"
    assert main(["convert", str(target), str(half)]) == 0
    model = load_dit(half, dtype=torch.bfloat16)
    assert torch.equal(model.blocks[0].ffn[0].weight, states["scail2"]["blocks.0.ffn.0.weight"].bfloat16())


def test_convert_command_refuses_other_models(states, tmp_path: Path, capsys) -> None:
    wan = {k: v for k, v in states["scail"].items() if not k.startswith("patch_embedding_pose")}
    testing.save_safetensors(wan, tmp_path / "wan.safetensors")
    assert main(["convert", str(tmp_path / "wan.safetensors"), str(tmp_path / "out.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scail: error: this is a plain Wan2.1-I2V")
    assert not (tmp_path / "out.safetensors").exists()
    assert zipfile.is_zipfile(testing.save_sat(states["scail"], tmp_path / "ok"))
