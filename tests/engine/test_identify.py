"""identify tells every file a models folder may hold from its header, and refuses by name: a
DiT of another model, a truncated DiT, a Wan2.2 VAE, CLIP ViT-L/bigG towers, T5 v1.1 encoders.

Files are written by the tools' own writers (torch.save of the release layouts, safetensors in
ComfyUI's names and scaled fp8, gguf's GGUFWriter) under names that say nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from scail_blender.engine import testing
from scail_blender.engine.checkpoints.formats import FSDP_PATH, SAT_PATH
from scail_blender.engine.checkpoints.loading import expected_shapes
from scail_blender.engine.components import CLIP_FILES, T5_DIR, T5_FILE, VAE_FILE
from scail_blender.engine.models.dit import DitConfig
from scail_blender.engine.tiny_checkpoint import write_tiny_checkpoint
from scail_blender.jobs.weights.dit_names import dit_names
from scail_blender.jobs.weights.identify import identify
from tests.engine.test_checkpoints_comfy import save_comfy, save_plain_fp8, save_scaled_fp8
from tests.engine.test_component_files import clip_state, scaled_fp8, t5_state, to_hf_clip, to_hf_t5
from tests.support.gguf_files import GGML, write_gguf


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    return testing.random_state_dict("tiny", "scail2", seed=4)


def kind(path: Path) -> tuple:
    found = identify(path)
    assert found.usable, found.refused
    return found.role, found.layout, found.dtype, found.variant


@pytest.mark.parametrize("variant", ["scail", "scail2"])
@pytest.mark.parametrize("size", ["tiny", "14B"])
def test_the_names_table_is_the_models_own(variant: str, size: str) -> None:
    """identify's torch-free list of a DiT's tensors is the real ScailDiT's state dict."""
    config = DitConfig.preset(size, variant)
    assert sorted(dit_names(variant, config.num_layers)) == sorted(expected_shapes(config))


def test_every_file_of_a_release_and_a_comfy_folder(state, tmp_path: Path) -> None:
    preview = write_tiny_checkpoint(tmp_path / "SCAIL-Preview", "scail")
    second = write_tiny_checkpoint(tmp_path / "SCAIL-2", "scail2")
    assert kind(preview / SAT_PATH) == ("dit", "SAT (SCAIL-Preview release)", "fp32", "scail")
    assert kind(second / FSDP_PATH) == ("dit", "SCAIL-2 release (FSDP)", "fp32", "scail2")
    assert kind(preview / VAE_FILE) == ("vae", "official", "fp32", "")
    assert kind(preview / T5_DIR / T5_FILE) == ("t5", "official", "bf16", "")
    assert kind(preview / CLIP_FILES[0]) == ("clip", "official open-clip", "fp32", "")
    bf16 = {k: v.to(torch.bfloat16) for k, v in state.items()}
    assert kind(testing.save_safetensors(bf16, tmp_path / "wan.safetensors")) == (
        "dit", "wan-branch safetensors", "bf16", "scail2")
    assert kind(save_comfy(state, tmp_path / "comfy.safetensors")) == ("dit", "ComfyUI", "fp16", "scail2")
    assert kind(save_scaled_fp8(state, tmp_path / "scaled.safetensors")) == ("dit", "ComfyUI", "fp8 e4m3fn scaled", "scail2")
    assert kind(save_plain_fp8(state, tmp_path / "e4m3fn.safetensors")) == ("dit", "kijai fp8", "fp8 e4m3fn", "scail2")
    assert kind(write_gguf(state, tmp_path / "q4.gguf", GGML.Q4_K)[0]) == ("dit", "GGUF", "Q4_K", "scail2")
    vae = torch.load(preview / VAE_FILE)
    save_file({k: v.half().contiguous() for k, v in vae.items()}, str(tmp_path / "wan_2.1_vae.safetensors"))
    assert kind(tmp_path / "wan_2.1_vae.safetensors") == ("vae", "ComfyUI", "fp16", "")
    save_file({k: v.contiguous() for k, v in scaled_fp8(to_hf_t5(t5_state())).items()}, str(tmp_path / "umt5.safetensors"))
    assert kind(tmp_path / "umt5.safetensors") == ("t5", "ComfyUI / transformers names", "fp8 e4m3fn scaled", "")
    save_file({k: v.half().contiguous() for k, v in to_hf_clip(clip_state()).items()}, str(tmp_path / "clip_h.safetensors"))
    assert kind(tmp_path / "clip_h.safetensors") == ("clip", "ComfyUI / transformers names", "fp16", "")
    lora = {"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.zeros(4, 256, dtype=torch.bfloat16),
            "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.zeros(256, 4, dtype=torch.bfloat16)}
    save_file(lora, str(tmp_path / "lora.safetensors"))
    assert kind(tmp_path / "lora.safetensors") == ("lora", "ComfyUI / lightx2v", "bf16", "")


def test_what_cannot_be_used_is_refused_with_the_reason(state, tmp_path: Path) -> None:
    i2v = {k: v for k, v in state.items() if not k.startswith(("patch_embedding_pose", "patch_embedding_mask"))}
    found = identify(save_comfy(i2v, tmp_path / "i2v.safetensors"))
    assert not found.usable and "plain Wan2.1-I2V" in found.refused
    vace = {**i2v, "vace_patch_embedding.weight": torch.zeros(8, 4, 1, 2, 2)}
    assert "Wan2.1 VACE" in identify(write_gguf(vace, tmp_path / "vace.gguf", GGML.Q8_0)[0]).refused
    truncated = dict(state)
    del truncated["blocks.1.ffn.2.weight"]
    cut = identify(save_comfy(truncated, tmp_path / "cut.safetensors"))
    assert (cut.role, cut.usable) == ("dit", False) and cut.refused.startswith("1 missing of the 91 tensors")
    assert "blocks.1.ffn.2.weight" in cut.refused
    del truncated["blocks.0.self_attn.norm_q.weight"]  # the SAT file names it mixins.adaln_layer.query_layernorm_list.0.weight
    assert identify(testing.save_sat(truncated, tmp_path / "sat")).refused.startswith("2 missing of the 91")
    t5 = to_hf_t5(t5_state())
    del t5["encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"]
    save_file({k: v.contiguous() for k, v in t5.items()}, str(tmp_path / "t5xxl.safetensors"))
    assert "not umT5" in identify(tmp_path / "t5xxl.safetensors").refused
    shared_bias = {k: v for k, v in t5_state().items() if k != "blocks.1.pos_embedding.embedding.weight"}
    torch.save(shared_bias, tmp_path / "t5_v1_1.pth")  # the release's names, as a T5 v1.1 would have them
    assert "not umT5" in identify(tmp_path / "t5_v1_1.pth").refused
    save_file({"encoder.conv1.weight": torch.zeros(8, 3, 3, 3, 3), "conv2.weight": torch.zeros(48, 48, 1, 1, 1),
               "decoder.conv1.weight": torch.zeros(8, 48, 3, 3, 3)}, str(tmp_path / "wan2.2_vae.safetensors"))
    assert "48 latent channels" in identify(tmp_path / "wan2.2_vae.safetensors").refused
    torch.save({"encoder.conv1.weight": torch.zeros(8, 3, 3, 3, 3), "conv2.weight": torch.zeros(48, 48, 1, 1, 1),
                "decoder.conv1.weight": torch.zeros(8, 48, 3, 3, 3)}, tmp_path / "Wan2.2_VAE.pth")
    assert "48 latent channels" in identify(tmp_path / "Wan2.2_VAE.pth").refused  # shapes from the pickle's opcodes
    save_file({"vision_model.embeddings.patch_embedding.weight": torch.zeros(1024, 3, 14, 14, dtype=torch.float16)},
              str(tmp_path / "clip_vision_l.safetensors"))
    assert "ViT-L/14" in identify(tmp_path / "clip_vision_l.safetensors").refused
    save_file({"visual.patch_embedding.weight": torch.zeros(1664, 3, 14, 14, dtype=torch.float16)},
              str(tmp_path / "clip_vision_g.safetensors"))
    assert "ViT-bigG/14" in identify(tmp_path / "clip_vision_g.safetensors").refused
    torch.save({"visual.patch_embedding.weight": torch.zeros(1024, 3, 14, 14)}, tmp_path / "open_clip_vit_l.pth")
    assert "ViT-L/14" in identify(tmp_path / "open_clip_vit_l.pth").refused
    save_file({"something.else": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    other = identify(tmp_path / "other.safetensors")
    assert (other.role, other.refused) == ("other", "not a SCAIL DiT, Wan2.1 VAE, umT5, CLIP vision H or LoRA "
                                                    "(something.else)")
    (tmp_path / "notes.txt").write_text("hello")
    assert "not a readable model file" in identify(tmp_path / "notes.txt").refused
