"""The published files each setup needs: hub repository, file, where it goes in the models folder, size.

Where the names come from (none was fetched from the hub itself, which is not reachable here):

- the Comfy-Org repacks and the Wan2.1 release: the hub's listings, with their rounded sizes;
- SCAIL-Preview: the official README's tree and the official SAT config
  (``configs/video_model/Wan2.1-i2v-14Bsc-pose-xc-latent.yaml``), which names
  ``umt5-xxl/models_t5_umt5-xxl-enc-bf16.pth`` and the ``...-onlyvisual.pth`` CLIP in the folder;
- SCAIL-2: the same component names, and ``model/1/fsdp2_rank_0000_checkpoint.pt``, as third-party
  downloaders list the repository at a pinned commit (a download manifest, an MLX mirror's card);
- kijai's SCAIL-Preview fp8 file: the ``SCAIL/`` folder of ``Kijai/WanVideo_comfy_fp8_scaled``, as
  many install scripts download it.

Names seen nowhere are marked unverified: ``scail models list`` says so next to the file. Sizes not
known are asked from the hub: ``get`` asks for every size before it downloads, so a wrong name
fails at once with the hub's 404, not after gigabytes.

ComfyUI setups land in ComfyUI's folders (``diffusion_models/``, ``vae/``, ``text_encoders/``,
``clip_vision/``) so a ComfyUI install can share them; the umT5 tokenizer, which ComfyUI keeps in
its code, goes to ``text_encoders/umt5-xxl/``. Official setups keep the release's own layout in a
folder of their own (``SCAIL-Preview/``, ``SCAIL-2/``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import InputError

COMFY_WAN = "Comfy-Org/Wan_2.1_ComfyUI_repackaged"
COMFY_SCAIL2 = "Comfy-Org/SCAIL-2"
# The Wan2.1 release's component files (the VAE, umT5 and CLIP the engine reads today), as its first
# upload lists them; the 480P repository holds the same files.
WAN_I2V = "Wan-AI/Wan2.1-I2V-14B-720P"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a setup: ``path`` in ``repo``, stored at ``dest`` under the models folder."""

    role: str  # "dit", "vae", "t5", "tokenizer", "clip", "lora"
    repo: str
    path: str
    dest: str
    size: int  # bytes as the hub lists them (0: not known until asked)
    exact: bool = False  # size from the file's LFS pointer rather than the rounded listing
    verified: bool = True  # repo and file name seen in a listing of the repository (see above)

    @property
    def url_name(self) -> str:
        return f"{self.repo}/{self.path}"


@dataclass(frozen=True)
class Setup:
    name: str
    summary: str
    files: tuple[RemoteFile, ...]
    # Whether a file of the same kind found elsewhere in the models folder serves instead (single-file
    # DiTs find their components anywhere in the tree; a release folder must be complete itself).
    substitutes: bool = True

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def _release_components() -> tuple[RemoteFile, ...]:
    """The Wan2.1 release's VAE, umT5 (bf16), tokenizer and CLIP, placed in ComfyUI's folders: the
    formats the engine reads today (sizes from mirrors of the same files: approximate)."""
    return (
        RemoteFile("vae", WAN_I2V, "Wan2.1_VAE.pth", "vae/Wan2.1_VAE.pth", 507_609_880),
        RemoteFile("t5", WAN_I2V, "models_t5_umt5-xxl-enc-bf16.pth", "text_encoders/models_t5_umt5-xxl-enc-bf16.pth",
                   11_400_000_000),
        RemoteFile("tokenizer", WAN_I2V, "google/umt5-xxl/tokenizer.json", "text_encoders/umt5-xxl/tokenizer.json",
                   16_800_000),
        RemoteFile("clip", WAN_I2V, "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth",
                   "clip_vision/models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth", 4_772_359_047),
    )


def _comfy_components(t5: str, t5_size: int) -> tuple[RemoteFile, ...]:
    """ComfyUI's repacks of the same components (shared with a ComfyUI install), and the release's
    tokenizer, which ComfyUI keeps in its code."""
    return (
        RemoteFile("vae", COMFY_WAN, "split_files/vae/wan_2.1_vae.safetensors", "vae/wan_2.1_vae.safetensors", 254_000_000),
        RemoteFile("t5", COMFY_WAN, f"split_files/text_encoders/{t5}", f"text_encoders/{t5}", t5_size, exact=True),
        RemoteFile("clip", COMFY_WAN, "split_files/clip_vision/clip_vision_h.safetensors",
                   "clip_vision/clip_vision_h.safetensors", 1_260_000_000),
        RemoteFile("tokenizer", WAN_I2V, "google/umt5-xxl/tokenizer.json", "text_encoders/umt5-xxl/tokenizer.json",
                   16_800_000),
    )


def _official(repo: str, folder: str, dit: str) -> tuple[RemoteFile, ...]:
    """The release layout, as the official config names it (sizes asked from the hub, but the VAE's)."""
    files = [("dit", dit), ("vae", "Wan2.1_VAE.pth"), ("t5", "umt5-xxl/models_t5_umt5-xxl-enc-bf16.pth"),
             ("tokenizer", "umt5-xxl/tokenizer.json"),
             ("clip", "models_clip_open-clip-xlm-roberta-large-vit-huge-14-onlyvisual.pth")]
    sizes = {"Wan2.1_VAE.pth": 507_609_880}
    return tuple(RemoteFile(role, repo, path, f"{folder}/{path}", sizes.get(path, 0), exact=path in sizes)
                 for role, path in files)


FP8_DIT = RemoteFile("dit", COMFY_SCAIL2, "diffusion_models/wan2.1_14B_SCAIL_2_fp8_scaled.safetensors",
                     "diffusion_models/wan2.1_14B_SCAIL_2_fp8_scaled.safetensors", 17_700_000_000)
PREVIEW_FP8_DIT = RemoteFile("dit", "Kijai/WanVideo_comfy_fp8_scaled",
                             "SCAIL/Wan21-14B-SCAIL-preview_fp8_e4m3fn_scaled_KJ.safetensors",
                             "diffusion_models/Wan21-14B-SCAIL-preview_fp8_e4m3fn_scaled_KJ.safetensors", 0)
FP16_DIT = RemoteFile("dit", COMFY_SCAIL2, "diffusion_models/wan2.1_14B_SCAIL_2_fp16.safetensors",
                      "diffusion_models/wan2.1_14B_SCAIL_2_fp16.safetensors", 32_800_000_000)

SETUPS: dict[str, Setup] = {s.name: s for s in (
    Setup("scail2-fp8", "SCAIL-2: ComfyUI's fp8_scaled repack, the Wan2.1 release's VAE, umT5 and CLIP (24-48 GB cards)",
          (FP8_DIT, *_release_components())),
    Setup("scail2-fp16", "SCAIL-2: ComfyUI's fp16 repack, the Wan2.1 release's VAE, umT5 and CLIP (80 GB cards)",
          (FP16_DIT, *_release_components())),
    Setup("scail2-fp8-comfy", "SCAIL-2: ComfyUI's fp8_scaled repack and ComfyUI's components with the fp8 umT5 "
          "(shared with ComfyUI)",
          (FP8_DIT, *_comfy_components("umt5_xxl_fp8_e4m3fn_scaled.safetensors", 6_735_906_897))),
    Setup("scail-preview", "SCAIL-Preview, the official release folder (SAT file, release VAE, umT5 and CLIP)",
          _official("zai-org/SCAIL-Preview", "SCAIL-Preview", "model/1/mp_rank_00_model_states.pt"),
          substitutes=False),
    Setup("scail-preview-fp8", "SCAIL-Preview: kijai's fp8_scaled file and ComfyUI's components with the fp8 umT5 "
          "(shared with ComfyUI; 24-48 GB cards)",
          (PREVIEW_FP8_DIT, *_comfy_components("umt5_xxl_fp8_e4m3fn_scaled.safetensors", 6_735_906_897))),
    Setup("scail2", "SCAIL-2, the official release folder (fp32 FSDP file, release VAE, umT5 and CLIP)",
          _official("zai-org/SCAIL-2", "SCAIL-2", "model/1/fsdp2_rank_0000_checkpoint.pt"),
          substitutes=False),
)}


def setup(name: str) -> Setup:
    """The setup called ``name``; InputError listing the setups otherwise."""
    if name not in SETUPS:
        raise InputError(f"no setup {name!r}; choose one of: {', '.join(SETUPS)} (scail models list shows each)")
    return SETUPS[name]
