"""What a file is from its header, a models folder found by headers, and the engine loading from it.

Every file here is written the way its tool writes it (torch.save of the release layouts,
safetensors with ComfyUI's prefix and scaled-fp8 tensors, gguf's own GGUFWriter) under names that
say nothing or lie, so a pass proves the headers were read, not the names.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from scail_blender.engine.checkpoints.loading import detect_variant
from scail_blender.engine.components import CLIP_FILES, T5_DIR, T5_FILE, VAE_FILE, ComponentFiles
from scail_blender.engine.testing import random_state_dict, save_fsdp
from scail_blender.errors import CheckpointError, InputError
from scail_blender.jobs.weights.finder import report, resolve, scan, select
from scail_blender.jobs.weights.dit_names import OTHER_WAN_MODELS
from scail_blender.jobs.weights.identify import identify

from tests.support.models import comfy_fp8, write_comfy_tree


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    return random_state_dict("tiny", "scail")


def test_every_layout_is_named_by_its_header(tmp_path: Path, tiny_checkpoint: Path, state: dict[str, torch.Tensor]) -> None:
    import gguf

    release = identify(tiny_checkpoint / "model/1/mp_rank_00_model_states.pt")
    assert (release.role, release.variant, release.layout) == ("dit", "scail", "SAT (SCAIL-Preview release)")
    fsdp = identify(save_fsdp(random_state_dict("tiny", "scail2"), tmp_path / "s2"))
    assert (fsdp.role, fsdp.variant, fsdp.dtype) == ("dit", "scail2", "fp32")
    save_file({k: v.to(torch.bfloat16) for k, v in state.items()}, tmp_path / "a.bin")
    assert identify(tmp_path / "a.bin").describe() == "SCAIL-Preview DiT (wan-branch safetensors, bf16)"
    save_file(comfy_fp8(state), tmp_path / "b.safetensors")
    comfy = identify(tmp_path / "b.safetensors")
    assert (comfy.role, comfy.layout, comfy.dtype) == ("dit", "ComfyUI", "fp8 e4m3fn scaled")

    writer = gguf.GGUFWriter(tmp_path / "c.gguf", "wan")  # city96's layout: bare wan-branch names, arch "wan"
    for name, tensor in state.items():
        data = tensor.float().numpy()
        if data.ndim == 2 and data.shape[1] % 32 == 0:
            writer.add_tensor(name, gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0),
                              raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, data.astype(np.float16))
    for step in (writer.write_header_to_file, writer.write_kv_data_to_file, writer.write_tensors_to_file):
        step()
    writer.close()
    quantised = identify(tmp_path / "c.gguf")
    assert (quantised.role, quantised.variant, quantised.layout, quantised.dtype) == ("dit", "scail", "GGUF", "Q8_0")

    vae = identify(tiny_checkpoint / VAE_FILE)
    t5 = identify(tiny_checkpoint / T5_DIR / T5_FILE)
    clip = identify(tiny_checkpoint / CLIP_FILES[0])
    tokenizer = identify(tiny_checkpoint / T5_DIR / "tokenizer.json")
    assert [f.role for f in (vae, t5, clip, tokenizer)] == ["vae", "t5", "clip", "tokenizer"]
    assert (t5.dtype, clip.blocks) == ("bf16", 3)
    # ComfyUI's clip_vision_h in transformers names, and open_clip's own resblocks names
    for prefix, name in (("vision_model.encoder.layers", "h.safetensors"), ("visual.transformer.resblocks", "o.safetensors")):
        save_file({f"{prefix}.{i}.mlp.fc1.weight": torch.zeros(2, 2) for i in range(32)}, tmp_path / name)
        found = identify(tmp_path / name)
        assert (found.role, found.blocks, found.refused) == ("clip", 32, "")


def test_files_that_are_not_scail_are_refused_by_name(tmp_path: Path, state: dict[str, torch.Tensor]) -> None:
    plain = {k: v for k, v in state.items() if not k.startswith("patch_embedding_pose")}
    save_file(plain, tmp_path / "scail.safetensors")
    assert "a plain Wan2.1-I2V model (no pose patch embedding)" in identify(tmp_path / "scail.safetensors").refused
    for marker, model in OTHER_WAN_MODELS.items():  # the finder and the loader decide with one function
        save_file({**plain, marker: torch.zeros(1)}, tmp_path / "v.safetensors")
        said = f"this is a {model} model (with {marker})"
        assert identify(tmp_path / "v.safetensors").refused == said + ", not SCAIL"
        with pytest.raises(CheckpointError, match=re.escape(f"{said}, {len(plain) + 1} tensors")):
            detect_variant([*plain, marker])
    t5 = {"shared.weight": torch.zeros(8, 4), "encoder.block.0.layer.0.SelfAttention.q.weight": torch.zeros(4, 4),
          "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": torch.zeros(32, 2)}
    save_file(t5, tmp_path / "t5xxl.safetensors")
    assert "not umT5" in identify(tmp_path / "t5xxl.safetensors").refused
    t5["encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"] = torch.zeros(32, 2)
    save_file(t5, tmp_path / "umt5.safetensors")
    umt5 = identify(tmp_path / "umt5.safetensors")
    assert (umt5.role, umt5.refused) == ("t5", "")
    (tmp_path / "tokenizer.json").write_text('{"version": "1.0", "added_tokens": [{"content": "<mask>"}], "x": "</s>"}')
    assert identify(tmp_path / "tokenizer.json").role == "other"  # the CLIP's xlm-roberta tokenizer
    (tmp_path / "junk.pth").write_bytes(b"\x80\x02not a zip at all")
    assert identify(tmp_path / "junk.pth").role == "other"
    header = b'{"a": 1}'  # JSON, but not a safetensors header: unreadable, not a crash of the scan
    (tmp_path / "odd.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    assert "not a readable model file" in identify(tmp_path / "odd.safetensors").refused


def test_a_comfyui_tree_is_found_and_reported(tmp_path: Path, tiny_checkpoint: Path, state: dict[str, torch.Tensor]) -> None:
    tree = write_comfy_tree(tmp_path / "models", tiny_checkpoint, state)
    save_file({k: v.to(torch.bfloat16) for k, v in random_state_dict("tiny", "scail2").items()},
              tree / "diffusion_models" / "z_second.safetensors")
    found = scan(tree)
    chosen = select(found)
    assert chosen.dit.path.name == "wan_2.1_vae.safetensors" and chosen.checkpoint == chosen.dit.path
    assert (chosen.vae.path.name, chosen.t5.path.name, chosen.clip.path.name, chosen.tokenizer.path.parent.name) == (
        "my_vae.pth", "umt5.pth", "clip_vision_h.pth", "tok")
    assert [f.path.name for f in found.usable("lora")] == ["style.safetensors"]
    other = select(found, "z_second.safetensors")
    assert other.dit.variant == "scail2" and other.vae == chosen.vae
    with pytest.raises(InputError, match="no DiT 'nope'.*wan_2.1_vae.safetensors"):
        select(found, "nope")
    text = report(found, chosen)
    assert "* diffusion_models/wan_2.1_vae.safetensors  SCAIL-Preview DiT (ComfyUI, fp8 e4m3fn scaled)" in text
    assert "complete" in text
    (tree / "clip_vision" / "clip_vision_h.pth").unlink()
    with pytest.raises(InputError, match=r"lacks the CLIP ViT-H/14 vision:(.|\n)*CLIP ViT-H/14 vision: none found"):
        resolve(tree)


def test_the_engine_finds_a_comfyui_dits_components(tmp_path: Path, tiny_checkpoint: Path,
                                                   state: dict[str, torch.Tensor]) -> None:
    """A DiT file passed alone (the server's and Blender's single checkpoint path) gets the
    components of the models tree it sits in; before the finder this was a CheckpointError."""
    tree = write_comfy_tree(tmp_path / "models", tiny_checkpoint, state)
    dit = tree / "diffusion_models" / "wan_2.1_vae.safetensors"
    files = ComponentFiles.for_checkpoint(dit, dit)
    assert files == ComponentFiles(vae=tree / "vae/my_vae.pth", t5=tree / "text_encoders/umt5.pth",
                                   tokenizer=tree / "text_encoders/tok", clip=tree / "clip_vision/clip_vision_h.pth")
    (tree / "vae" / "my_vae.pth").unlink()
    with pytest.raises(CheckpointError, match="scail models --models-dir"):
        ComponentFiles.for_checkpoint(dit, dit)


@pytest.mark.parametrize("name", ["scail-preview", "scail2"])
def test_an_official_setup_downloads_the_folder_the_engine_reads(name: str) -> None:
    """The release names `scail models get` asks for are the ones the folder loader looks for first
    (the official config's: the ``-onlyvisual`` CLIP, umT5 and tokenizer in ``umt5-xxl/``), and a
    folder holding them is complete."""
    from scail_blender.jobs.weights.setups import SETUPS

    chosen = SETUPS[name]
    folder = {f.dest.split("/")[0] for f in chosen.files}
    assert len(folder) == 1 and not chosen.substitutes
    paths = {f.role: f.path for f in chosen.files}
    assert (paths["vae"], paths["t5"], paths["clip"]) == (VAE_FILE, f"{T5_DIR}/{T5_FILE}", CLIP_FILES[0])
    assert paths["tokenizer"] == f"{T5_DIR}/tokenizer.json" and paths["dit"].startswith("model/1/")
