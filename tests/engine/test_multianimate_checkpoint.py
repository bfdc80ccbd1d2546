"""Loading Wan2.1-I2V as published plus a MultiAnimate folder, from tiny files in those layouts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from scail_blender.errors import CheckpointError, InputError
from scail_blender.engine.multianimate.checkpoint import (detect_model, load_multianimate, open_multianimate, open_wan_i2v,
                                                          wan_components)
from scail_blender.engine.multianimate.encoders import label_map
from scail_blender.engine.multianimate.files import ShardSet
from scail_blender.engine.multianimate.tiny import (random_multianimate, random_wan_i2v, write_tiny_multianimate,
                                                    write_tiny_wan_i2v)
from scail_blender.engine.testing import random_state_dict, save_safetensors


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("ma")
    return (write_tiny_wan_i2v(root / "Wan2.1-I2V-14B-720P"), write_tiny_multianimate(root / "epoch=39-step=7000.ckpt"),
            write_tiny_multianimate(root / "epoch=23-step=4200-multi.ckpt", persons=7))


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_merges_lora_across_shards_and_loads_encoders(folders: tuple[Path, Path, Path]) -> None:
    base, ma3, _ = folders
    dit, encoders = load_multianimate(base, ma3, torch.float32)
    expected_base = random_wan_i2v()
    lora, enc = random_multianimate()
    merged = 0
    for name, weight in dit.state_dict().items():
        stem = name.removesuffix(".weight")
        if f"{stem}.lora_A" in lora:
            delta = lora[f"{stem}.lora_B"] @ lora[f"{stem}.lora_A"]
            torch.testing.assert_close(weight, expected_base[name] + delta, rtol=0, atol=1e-6)
            assert delta.abs().max() > 1e-2  # the merge changed the weight visibly
            merged += 1
        else:
            assert torch.equal(weight, expected_base[name]), name
    assert merged == 2 * 10  # q,k,v,o (self and cross), ffn.0, ffn.2 in both tiny blocks
    for name, tensor in encoders.state_dict().items():
        assert torch.equal(tensor.float(), enc[name]), name
    assert encoders.persons == 3 and encoders.label_embedding[0].weight.shape[1] == 4


def test_character_limit_comes_from_the_label_tensor(folders: tuple[Path, Path, Path]) -> None:
    base, _, ma7 = folders
    assert open_multianimate(ma7).persons == 7
    assert open_multianimate(ma7 / "output_dir").persons == 7  # the output_dir itself works too
    _, encoders = load_multianimate(base, ma7, torch.float32)
    assert encoders.label_embedding[0].weight.shape[1] == 8


def test_reads_only_what_it_uses(folders: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    base, ma3, _ = folders
    read: list[str] = []
    original = ShardSet.read
    monkeypatch.setattr(ShardSet, "read", lambda self, name: read.append(name) or original(self, name))
    load_multianimate(base, ma3, torch.float32)
    # The frozen copies of the DiT and VAE in the MultiAnimate shards are never read, nothing twice.
    assert not [n for n in read if "base_layer" in n or n.startswith("pipe_VAE")]
    assert any("lora_A" in n for n in read) and any(n.endswith("label_embedding.0.weight") for n in read)
    assert len(read) == len(set(read))


def test_components_are_found_in_the_release_layout(folders: tuple[Path, Path, Path]) -> None:
    files = wan_components(folders[0])
    assert files.t5.name == "models_t5_umt5-xxl-enc-bf16.pth" and files.tokenizer.parts[-2:] == ("google", "umt5-xxl")


def test_refuses_other_base_layouts_by_name(folders: tuple[Path, Path, Path], tmp_path: Path) -> None:
    base = folders[0]
    diffusers = tmp_path / "diffusers"
    (diffusers / "transformer").mkdir(parents=True)
    with pytest.raises(CheckpointError, match="diffusers conversion"):
        open_wan_i2v(diffusers)
    scail = tmp_path / "scail"
    save_safetensors(random_state_dict("tiny"), scail / "diffusion_pytorch_model-00001-of-00001.safetensors")
    with pytest.raises(CheckpointError, match="is a SCAIL DiT"):
        open_wan_i2v(scail)
    with pytest.raises(CheckpointError, match="not the Wan2.1-I2V-14B-720P release folder"):
        open_wan_i2v(folders[1])
    broken = copy(base, tmp_path / "broken")
    (broken / "diffusion_pytorch_model-00002-of-00003.safetensors").unlink()
    with pytest.raises(CheckpointError, match="1 of 3 shards are missing"):
        open_wan_i2v(broken)


def test_refuses_other_checkpoint_layouts_by_name(folders: tuple[Path, Path, Path], tmp_path: Path) -> None:
    ma3 = folders[1]
    raw = tmp_path / "raw.ckpt"
    (raw / "checkpoint").mkdir(parents=True)
    with pytest.raises(CheckpointError, match="raw DeepSpeed checkpoint.*zero_to_fp32"):
        open_multianimate(raw)
    uni = copy(ma3, tmp_path / "uni.ckpt")
    last = uni / "output_dir" / "model-00008-of-00008.safetensors"
    from safetensors.torch import load_file
    state = {k: v for k, v in load_file(last).items() if "label_embedding" not in k}
    save_safetensors(state, last)
    with pytest.raises(CheckpointError, match="UniAnimate-DiT checkpoint"):
        open_multianimate(uni)
    half = copy(ma3, tmp_path / "half.ckpt")
    index = json.loads((half / "output_dir" / "model.safetensors.index.json").read_text())
    shard = half / "output_dir" / "model-00007-of-00008.safetensors"
    state = load_file(shard)
    dropped = next(k for k in state if "lora_B" in k)
    save_safetensors({k: v for k, v in state.items() if k != dropped}, shard)
    assert index["weight_map"][dropped] == shard.name
    with pytest.raises(CheckpointError, match="lacks its other half"):
        open_multianimate(half)


def test_lora_for_another_base_is_refused(folders: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from scail_blender.engine.models.wan_i2v import TINY
    from dataclasses import replace
    other = write_tiny_multianimate(tmp_path / "wide.ckpt", config=replace(TINY, ffn_dim=384))
    with pytest.raises(CheckpointError, match="does not fit the base DiT"):
        load_multianimate(folders[0], other, torch.float32)


def test_label_map_order_overlap_and_limit() -> None:
    masks = torch.zeros(3, 3, 2, 4, 4)
    masks[0, 0, :, :2] = 255  # character 1: top half, red channel only
    masks[1, 2, :, 1:3] = 200  # character 2 overlaps row 1: the later character wins
    masks[2, :, 1, 3, 3] = 127  # at the threshold: still background
    labels = label_map(masks, 4)
    assert labels.shape == (1, 4, 2, 4, 4) and torch.equal(labels.sum(1), torch.ones(1, 2, 4, 4))
    index = labels[0].argmax(0)
    assert index[0, 0].tolist() == [1] * 4 and index[0, 1].tolist() == [2] * 4 and index[0, 3].tolist() == [0] * 4
    with pytest.raises(InputError, match="at most 3"):
        label_map(torch.zeros(4, 3, 1, 2, 2), 4)


def test_detect_model_from_tensors(folders: tuple[Path, Path, Path], tiny_checkpoint: Path) -> None:
    base, ma3, ma7 = folders
    assert detect_model(ma3) == detect_model(ma7 / "output_dir") == "multianimate"
    assert detect_model(tiny_checkpoint) == "scail"
    with pytest.raises(CheckpointError, match="Wan2.1-I2V-14B base"):
        detect_model(base)
