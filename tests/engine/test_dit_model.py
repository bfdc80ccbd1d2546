"""The SCAIL DiT module: token layout, output slice, SCAIL-2 stem paths, input checks, bf16."""

from __future__ import annotations

import pytest
import torch

from scail_blender.engine.testing import random_state_dict
from scail_blender.engine.models.dit import (DitConfig, ScailDiT, TokenLayout, add_mask_channels)
from scail_blender.errors import InputError

B, T, H, W = 1, 2, 8, 8


def make_model(variant: str, seed: int = 3) -> ScailDiT:
    config = DitConfig.preset("tiny", variant)
    model = ScailDiT(config)
    model.load_state_dict(random_state_dict(config, seed=seed))
    return model.eval()


def make_inputs(variant: str, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    inputs = dict(
        x=add_mask_channels(torch.randn(B, 16, T, H, W, generator=g), 0),
        t=torch.full((B,), 700.0),
        context=torch.randn(B, 5, 64, generator=g),
        clip_fea=torch.randn(B, 257, 64, generator=g),
        ref=add_mask_channels(torch.randn(B, 16, 1, H, W, generator=g), 1),
        pose=add_mask_channels(torch.randn(B, 16, T, H // 2, W // 2, generator=g), 1),
    )
    if variant == "scail2":
        inputs["ref_mask"] = (torch.rand(B, 28, 1 + T, H, W, generator=g) > 0.5).float()
        inputs["pose_mask"] = (torch.rand(B, 28, T, H // 2, W // 2, generator=g) > 0.5).float()
    return inputs


def run(model: ScailDiT, **inputs) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs)


def test_layout_of_the_512x896x81_job_matches_the_spec() -> None:
    layout = TokenLayout(extra_frames=0, frames=21, rows=32, cols=56)
    assert (layout.ref_tokens, layout.video_tokens, layout.pose_tokens) == (1792, 37632, 9408)
    assert layout.total == 48832
    assert layout.video_slice == slice(1792, 1792 + 37632)
    with_extra = TokenLayout(extra_frames=2, frames=21, rows=32, cols=56)
    assert with_extra.video_slice.start == 3 * 1792


def test_official_key_counts_of_the_14b_models() -> None:
    for variant, count in (("scail", 1305), ("scail2", 1307)):
        with torch.device("meta"):
            model = ScailDiT(DitConfig.preset("14B", variant))
        assert len(model.state_dict()) == count
        assert sum(p.numel() for p in model.parameters()) > 16e9


def test_only_video_tokens_reach_the_head() -> None:
    model = make_model("scail")
    seen = {}
    model.blocks[-1].register_forward_hook(lambda m, args, out: seen.update(tokens=out))
    model.head.register_forward_hook(lambda m, args, out: seen.update(head_in=args[0]))
    out = run(model, **make_inputs("scail"))
    layout = TokenLayout(0, T, H // 2, W // 2)
    assert seen["tokens"].shape[1] == layout.total
    assert torch.equal(seen["head_in"], seen["tokens"][:, layout.video_slice])
    assert out.shape == (B, 16, T, H, W) and out.dtype == torch.float32


def test_unpatchify_inverts_the_patch_grid() -> None:
    model = make_model("scail")
    latent = torch.randn(B, 16, T, H, W)
    # Token (f, r, c) holds its 2x2 patch as (p, q, channel), the head's output order.
    tokens = latent.reshape(B, 16, T, H // 2, 2, W // 2, 2).permute(0, 2, 3, 5, 4, 6, 1)
    assert torch.equal(model.unpatchify(tokens.reshape(B, -1, 64), (T, H // 2, W // 2)), latent)


def test_pose_and_reference_condition_the_output() -> None:
    model = make_model("scail")
    inputs = make_inputs("scail")
    base = run(model, **inputs)
    for name in ("pose", "ref", "clip_fea", "context"):
        changed = dict(inputs, **{name: inputs[name] + 0.5 * torch.randn(inputs[name].shape)})
        assert not torch.allclose(run(model, **changed), base, atol=1e-4), name


def test_context_is_zero_padded_to_512_tokens() -> None:
    model = make_model("scail")
    inputs = make_inputs("scail")
    padded = torch.cat([inputs["context"], torch.zeros(B, 100, 64)], dim=1)
    assert torch.allclose(run(model, **inputs), run(model, **dict(inputs, context=padded)), atol=1e-5)


def test_scail2_with_a_silent_mask_embedding_is_scail() -> None:
    """Same seed gives both variants the same shared weights; zero mask weights leave SCAIL."""
    scail, scail2 = make_model("scail"), make_model("scail2")
    with torch.no_grad():
        scail2.patch_embedding_mask.weight.zero_()
        scail2.patch_embedding_mask.bias.zero_()
    inputs = make_inputs("scail2")
    plain = {k: v for k, v in inputs.items() if not k.endswith("mask")}
    assert torch.allclose(run(scail2, **inputs), run(scail, **plain), atol=1e-5)


def test_scail2_stem_paths_all_reach_the_output() -> None:
    model = make_model("scail2")
    inputs = make_inputs("scail2")
    base = run(model, **inputs)
    variations = {
        "ref_mask": dict(ref_mask=1 - inputs["ref_mask"]),
        "pose_mask": dict(pose_mask=1 - inputs["pose_mask"]),
        "history mask": dict(x=torch.cat([inputs["x"][:, :16], torch.ones(B, 4, T, H, W)], 1)),
        "replace": dict(replace=True),
        "extra refs": dict(extra_refs=add_mask_channels(torch.randn(B, 16, 2, H, W), 1),
                           extra_ref_masks=torch.ones(B, 28, 2, H, W)),
    }
    outputs = {}
    for name, change in variations.items():
        outputs[name] = run(model, **dict(inputs, **change))
        assert outputs[name].shape == base.shape
        assert not torch.allclose(outputs[name], base, atol=1e-4), name


def test_extra_references_are_prepended_before_the_reference() -> None:
    model = make_model("scail2")
    seen = {}
    model.blocks[0].register_forward_hook(lambda m, args, out: seen.update(tokens=args[0]))
    extra = add_mask_channels(torch.randn(B, 16, 3, H, W), 1)
    masks = torch.ones(B, 28, 3, H, W)
    run(model, **make_inputs("scail2"), extra_refs=extra, extra_ref_masks=masks)
    layout = TokenLayout(3, T, H // 2, W // 2)
    assert seen["tokens"].shape[1] == layout.total
    with torch.no_grad():
        own = model.patch_embedding(extra) + model.patch_embedding_mask(masks)
    assert torch.allclose(seen["tokens"][:, :layout.extra_tokens], own.flatten(2).transpose(1, 2))


@pytest.mark.parametrize("variant,change,message", [
    ("scail", dict(x=torch.zeros(B, 16, T, H, W)), r"\(latent \+ mask channels\)"),
    ("scail", dict(pose=torch.zeros(B, 20, T, H, W)), "pose must be"),
    ("scail", dict(context=torch.zeros(B, 513, 64)), "at most 512"),
    ("scail", dict(ref_mask=torch.zeros(B, 28, 1 + T, H, W)), "need a SCAIL-2 checkpoint"),
    ("scail2", dict(ref_mask=None), "needs ref_mask and pose_mask"),
    ("scail2", dict(extra_refs=torch.zeros(B, 20, 1, H, W)), "give both or neither"),
])
def test_bad_inputs_raise_input_errors(variant: str, change: dict, message: str) -> None:
    model = make_model(variant)
    with pytest.raises(InputError, match=message):
        run(model, **dict(make_inputs(variant), **change))


def test_latent_sizes_must_allow_the_half_size_pose_grid() -> None:
    model = make_model("scail")
    inputs = make_inputs("scail")
    odd = dict(x=torch.zeros(B, 20, T, 6, 8), ref=torch.zeros(B, 20, 1, 6, 8),
               pose=torch.zeros(B, 20, T, 3, 4))
    with pytest.raises(InputError, match="multiple of 32 pixels"):
        run(model, **dict(inputs, **odd))


def test_bf16_weights_track_the_float32_model() -> None:
    model = make_model("scail2")
    inputs = make_inputs("scail2")
    reference = run(model, **inputs)
    out = run(model.to(torch.bfloat16), **inputs)
    assert out.dtype == torch.float32
    assert model.blocks[0].self_attn.q.weight.dtype == torch.bfloat16
    relative = (out - reference).norm() / reference.norm()
    assert relative < 0.05
