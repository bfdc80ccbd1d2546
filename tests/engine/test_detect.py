"""describe_file tells every file a models folder may hold from its header, and refuses by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from scail_blender.engine import testing
from scail_blender.engine.checkpoints.detect import describe_file
from scail_blender.engine.components import CLIP_FILES, T5_DIR, T5_FILE, VAE_FILE
from scail_blender.engine.checkpoints.formats import FSDP_PATH, SAT_PATH
from scail_blender.engine.tiny_checkpoint import write_tiny_checkpoint
from scail_blender.errors import CheckpointError
from tests.engine.test_checkpoints_comfy import save_comfy, save_plain_fp8, save_scaled_fp8
from tests.engine.test_component_files import clip_state, scaled_fp8, t5_state, to_hf_clip, to_hf_t5
from tests.support.gguf_files import GGML, write_gguf


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    return testing.random_state_dict("tiny", "scail2", seed=4)


def kind(path: Path) -> tuple:
    found = describe_file(path)
    return found.role, found.layout, found.dtype, found.variant


def test_every_file_of_a_release_and_a_comfy_folder(state, tmp_path: Path) -> None:
    preview = write_tiny_checkpoint(tmp_path / "SCAIL-Preview", "scail")
    second = write_tiny_checkpoint(tmp_path / "SCAIL-2", "scail2")
    assert kind(preview / SAT_PATH) == ("dit", "sat", "fp32", "scail")
    assert kind(second / FSDP_PATH) == ("dit", "fsdp", "fp32", "scail2")
    assert kind(preview / VAE_FILE) == ("vae", "official", "fp32", None)
    assert kind(preview / T5_DIR / T5_FILE) == ("t5", "official", "bf16", None)
    assert kind(preview / CLIP_FILES[0]) == ("clip", "official", "fp32", None)
    bf16 = {k: v.to(torch.bfloat16) for k, v in state.items()}
    assert kind(testing.save_safetensors(bf16, tmp_path / "wan.safetensors")) == ("dit", "safetensors", "bf16", "scail2")
    assert kind(save_comfy(state, tmp_path / "comfy.safetensors")) == ("dit", "comfy", "fp16", "scail2")
    assert kind(save_scaled_fp8(state, tmp_path / "scaled.safetensors")) == ("dit", "comfy", "fp8_e4m3fn_scaled", "scail2")
    assert kind(save_plain_fp8(state, tmp_path / "e4m3fn.safetensors")) == ("dit", "comfy", "fp8_e4m3fn", "scail2")
    assert kind(write_gguf(state, tmp_path / "q4.gguf", GGML.Q4_K)[0]) == ("dit", "gguf", "Q4_K", "scail2")
    vae = torch.load(preview / VAE_FILE)
    save_file({k: v.half().contiguous() for k, v in vae.items()}, str(tmp_path / "wan_2.1_vae.safetensors"))
    assert kind(tmp_path / "wan_2.1_vae.safetensors") == ("vae", "comfy", "fp16", None)
    save_file({k: v.contiguous() for k, v in scaled_fp8(to_hf_t5(t5_state())).items()}, str(tmp_path / "umt5.safetensors"))
    assert kind(tmp_path / "umt5.safetensors") == ("t5", "comfy", "fp8_e4m3fn_scaled", None)
    save_file({k: v.half().contiguous() for k, v in to_hf_clip(clip_state()).items()}, str(tmp_path / "clip_h.safetensors"))
    assert kind(tmp_path / "clip_h.safetensors") == ("clip", "comfy", "fp16", None)
    lora = {"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.zeros(4, 256, dtype=torch.bfloat16),
            "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.zeros(256, 4, dtype=torch.bfloat16)}
    save_file(lora, str(tmp_path / "lora.safetensors"))
    assert kind(tmp_path / "lora.safetensors") == ("lora", "comfy", "bf16", None)


def test_what_cannot_be_used_is_refused_with_the_reason(state, tmp_path: Path) -> None:
    i2v = {k: v for k, v in state.items() if not k.startswith(("patch_embedding_pose", "patch_embedding_mask"))}
    found = describe_file(save_comfy(i2v, tmp_path / "i2v.safetensors"))
    assert not found.usable and "plain Wan2.1-I2V" in found.reason
    vace = {**i2v, "vace_patch_embedding.weight": torch.zeros(8, 4, 1, 2, 2)}
    assert "Wan2.1 VACE" in describe_file(write_gguf(vace, tmp_path / "vace.gguf", GGML.Q8_0)[0]).reason
    truncated = dict(state)
    del truncated["blocks.1.ffn.2.weight"]
    assert "1 missing" in describe_file(save_comfy(truncated, tmp_path / "cut.safetensors")).reason
    t5 = to_hf_t5(t5_state())
    del t5["encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"]
    save_file({k: v.contiguous() for k, v in t5.items()}, str(tmp_path / "t5xxl.safetensors"))
    assert "not umT5" in describe_file(tmp_path / "t5xxl.safetensors").reason
    save_file({"encoder.conv1.weight": torch.zeros(8, 3, 3, 3, 3), "conv2.weight": torch.zeros(48, 48, 1, 1, 1),
               "decoder.conv1.weight": torch.zeros(8, 48, 3, 3, 3)}, str(tmp_path / "wan2.2_vae.safetensors"))
    assert "48 latent channels" in describe_file(tmp_path / "wan2.2_vae.safetensors").reason
    save_file({"vision_model.embeddings.patch_embedding.weight": torch.zeros(1024, 3, 14, 14, dtype=torch.float16)},
              str(tmp_path / "clip_vision_l.safetensors"))
    assert "ViT-L/14" in describe_file(tmp_path / "clip_vision_l.safetensors").reason
    save_file({"something.else": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    assert "not a SCAIL DiT, Wan2.1 VAE" in describe_file(tmp_path / "other.safetensors").reason
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="neither a safetensors, GGUF nor PyTorch file"):
        describe_file(tmp_path / "notes.txt")
