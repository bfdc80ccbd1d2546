"""One entry point for every motion file the project reads or writes.

``load_motion`` is what ``scail render-pose --motion``, ``scail motion`` and Blender's Import
Motion call; the format is chosen by content where the extension is ambiguous (.npz holds
either our Motion arrays or NLF results; .glb either our skinned file or ComfyUI-SCAIL-Pose's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .comfy_glb import is_comfy_glb, read_comfy_glb
from .gltf import read_glb
from .mesh_fit import is_mesh_result, motion_from_meshes
from .model import MAX_FPS, NPZ_KEYS, Motion, check_npz_keys, motion_from_arrays, save_motion_npz
from .nlf import motion_from_nlf
from .safe_pickle import load_npz, load_pickle, load_torch
from .skinned_glb import is_scail_glb, read_scail_glb, write_motion_glb
from .smpl import BodyModel
from .smpl_params import is_smpl_params, motion_from_smpl_params

READ_SUFFIXES = (".npz", ".pt", ".pth", ".pkl", ".pickle", ".glb")
WRITE_SUFFIXES = (".npz", ".glb")


@dataclass
class LoadedMotion:
    """A motion and what the reader had to assume or could not recover, for the user to see."""

    motion: Motion
    kind: str
    notes: list[str] = field(default_factory=list)


def read_motion(path: str | os.PathLike, fps: float | None = None,
                body_model: str | os.PathLike | None = None) -> LoadedMotion:
    """Read any supported motion file; ``fps`` overrides a frame rate the file lacks or has.

    ``body_model`` (an SMPL / SMPL-X model file or a folder of them; default $SCAIL_SMPL_MODELS)
    turns SMPL-family parameter files into joints with the user's own body shape.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READ_SUFFIXES:
        raise InputError(f"{path.name}: unknown motion format; readable are {', '.join(READ_SUFFIXES)}.")
    if not path.is_file():
        raise InputError(f"motion file {path} does not exist.")
    if suffix == ".glb":
        loaded = _read_glb(path)
    elif suffix == ".npz":
        arrays = load_npz(path)
        # SMPL-family parameter files are told apart first: their keys belong to neither format.
        if is_smpl_params(arrays):
            motion, notes = motion_from_smpl_params(arrays, path.name, body_model, fps)
            loaded = LoadedMotion(motion, "SMPL parameters (npz)", notes)
        elif _npz_kind(arrays, path.name) == "motion":
            check_npz_keys(arrays, path.name)
            loaded = LoadedMotion(motion_from_arrays(arrays, source_default=path.name), "motion npz")
        elif is_mesh_result(arrays):
            motion, notes = motion_from_meshes(arrays, path.name, body_model, fps)
            loaded = LoadedMotion(motion, "NLF meshes (npz)", notes)
        else:
            motion, notes = motion_from_nlf(arrays, path.name, fps)
            loaded = LoadedMotion(motion, "NLF results (npz)", notes)
    else:
        obj = load_torch(path) if suffix in (".pt", ".pth") else load_pickle(path)
        motion, notes = motion_from_nlf(obj, path.name, fps)
        loaded = LoadedMotion(motion, f"NLF results ({suffix[1:]})", notes)
    if fps is not None:
        loaded.motion.fps = _checked_fps(fps)
    return loaded


def load_motion(path: str | os.PathLike) -> Motion:
    """The motion in ``path`` (npz, pt, pkl, GLB), in OpenCV camera space, mm."""
    return read_motion(path).motion


def save_motion(motion: Motion, path: str | os.PathLike, body: BodyModel | None = None) -> None:
    """Write ``motion`` as npz (lossless) or as a skinned GLB (for 3D tools)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        save_motion_npz(motion, path)
    elif suffix == ".glb":
        write_motion_glb(motion, path, body)
    else:
        raise InputError(f"{Path(path).name}: motion can be written as {' or '.join(WRITE_SUFFIXES)}.")


def _read_glb(path: Path) -> LoadedMotion:
    gltf = read_glb(path)
    if is_scail_glb(gltf):
        return LoadedMotion(read_scail_glb(gltf), "scail-blender GLB")
    if is_comfy_glb(gltf):
        motion, notes = read_comfy_glb(gltf)
        return LoadedMotion(motion, "ComfyUI-SCAIL-Pose GLB", notes)
    generator = gltf.doc.get("asset", {}).get("generator", "unknown")
    raise InputError(
        f"{path.name} (made by '{generator}') is neither a scail-blender motion GLB nor a "
        "ComfyUI-SCAIL-Pose pose GLB. Import other rigs with File > Import > glTF in Blender and "
        "use them as characters instead."
    )


# Keys of NLF's own result dict (and of SCAIL-Pose's saves of it) that the motion npz never has.
NLF_KEYS = frozenset({
    "boxes", "pose", "betas", "trans", "joints3d", "poses3d", "joints2d", "vertices3d", "vertices2d",
    "vertices3d_nonparam", "vertices2d_nonparam", "joints2d_nonparam", "joint_uncertainties",
    "vertex_uncertainties", "video_height", "video_width",
})


def _npz_kind(arrays: dict, name: str) -> str:
    """"motion" or "nlf", told apart by the keys each format has (and NLF's ragged or single-person
    joint arrays); a motion npz with a stray key is a motion npz with a stray key, and is refused."""
    keys = set(arrays)
    nlf, ours = keys & NLF_KEYS, keys & (set(NPZ_KEYS) - {"joints3d_nonparam"})
    if nlf and ours:
        raise InputError(f"{name} mixes keys of the motion npz ({sorted(ours)}) and of NLF results ({sorted(nlf)}); "
                         f"keep one format: the motion npz allows {', '.join(NPZ_KEYS)}")
    if nlf:
        return "nlf"
    joints = arrays.get("joints3d_nonparam")
    if keys == {"joints3d_nonparam"} and isinstance(joints, np.ndarray) and (joints.dtype == object or joints.ndim == 3):
        return "nlf"
    return "motion"


def _checked_fps(fps: float) -> float:
    if not np.isfinite(fps) or not 0 < fps <= MAX_FPS:
        raise InputError(f"frame rate {fps!r} is not usable: give a number of frames per second above 0 and up to {MAX_FPS:g}, e.g. 16.")
    return float(fps)
