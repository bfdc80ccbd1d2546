"""Motion: what every reader produces and every renderer, rig builder and writer consumes.

One plain value for captured or authored motion: SMPL-24 joints per person and frame in the
camera space they were seen from (OpenCV axes, millimetres), plus what is needed to reproduce
the picture (intrinsics, image size, frame rate) and what helps to edit it (hands, head marks,
SMPL parameters, person ids, origin) and, for an extracted video, the DWPose 2D keypoints the
detector saw (MultiAnimate is driven by those, not by reprojected joints). Its npz form extends the NLF-style file that
``scail render-pose --motion`` reads, so a file written here is readable by tools that only know
``joints3d_nonparam``.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..outputs import atomic_file
from ..pose.camera import Intrinsics

JOINT_COUNT = 24
HAND_POINTS = 21
HEAD_MARKS = ("nose", "right_eye", "left_eye", "right_ear", "left_ear")
FACE_POINTS = 68
DWPOSE_POINTS = 133
# Beyond this many pixels from the image a detected keypoint is a unit or file error.
MAX_PX = 1e5

# npz key -> meaning, for error messages and `scail motion info`.
NPZ_KEYS = {
    "joints3d_nonparam": "[T, P, 24, 3] SMPL joints, mm, OpenCV camera space (required)",
    "intrinsics": "[3, 3] pinhole matrix in pixels",
    "fps": "frames per second",
    "image_size": "[2] image height and width in pixels",
    "hands3d": "[T, P, 2, 21, 3] left and right hand points, mm",
    "head3d": "[T, P, 5, 3] nose, right eye, left eye, right ear, left ear, mm",
    "face3d": "[T, P, 68, 3] 68-point face landmarks, mm (drawn as the white face dots)",
    "keypoints2d": "[T, P, 133, 3] DWPose whole-body keypoints (x, y, score) in pixels of image_size, "
                   "as detected; all NaN where the person was not detected",
    "person_ids": "[P] names of the people",
    "smpl_pose": "[T, P, 72 or 165] SMPL(-X) axis-angle pose",
    "smpl_betas": "[T, P, 10] SMPL shape",
    "smpl_trans": "[T, P, 3] SMPL translation, metres",
    "source": "where the motion came from",
}
DEFAULT_FPS = 16.0
# Beyond this distance from the camera (1 km) a value is a unit or file error, not a person.
MAX_MM = 1e6
MAX_FPS = 1000.0


@dataclass
class SmplParams:
    pose: np.ndarray
    betas: np.ndarray
    trans: np.ndarray


@dataclass
class Motion:
    """Motion of P people over T frames; an all-zero person in a frame means "not there"."""

    joints: np.ndarray
    fps: float = DEFAULT_FPS
    intrinsics: Intrinsics | None = None
    image_size: tuple[int, int] | None = None
    hands: np.ndarray | None = None
    head_marks: np.ndarray | None = None
    face: np.ndarray | None = None
    person_ids: list[str] | None = None
    smpl: SmplParams | None = None
    source: str = ""
    keypoints2d: np.ndarray | None = None  # [T, P, 133, 3] detected (x, y, score), pixels of image_size

    def __post_init__(self) -> None:
        self.joints = _float_array(self.joints, "joints3d_nonparam", (None, None, JOINT_COUNT, 3))
        frames, people = self.joints.shape[:2]
        if frames == 0 or people == 0:
            raise InputError(f"The motion has {frames} frames and {people} people; it needs at least one of each")
        _check_values(self.joints, "joints3d_nonparam")
        if self.hands is not None:
            self.hands = _float_array(self.hands, "hands3d", (frames, people, 2, HAND_POINTS, 3))
            _check_values(self.hands, "hands3d")
        if self.head_marks is not None:
            self.head_marks = _float_array(self.head_marks, "head3d", (frames, people, len(HEAD_MARKS), 3))
            _check_values(self.head_marks, "head3d")
        if self.face is not None:
            self.face = _float_array(self.face, "face3d", (frames, people, FACE_POINTS, 3))
            _check_values(self.face, "face3d")
        if not np.isfinite(self.fps) or not 0 < self.fps <= MAX_FPS:
            raise InputError(f"fps must be a positive number of frames per second, up to {MAX_FPS:g}, got {self.fps!r}")
        self.fps = float(self.fps)
        if self.image_size is not None:
            height, width = (int(v) for v in self.image_size)
            if height <= 0 or width <= 0:
                raise InputError(f"image_size must be positive (height, width), got {self.image_size!r}")
            self.image_size = (height, width)
        if self.keypoints2d is not None:
            self.keypoints2d = _float_array(self.keypoints2d, "keypoints2d", (frames, people, DWPOSE_POINTS, 3))
            if self.image_size is None:
                raise InputError("'keypoints2d' are pixels of the motion's image; the file needs 'image_size' "
                                 "(height, width) too")
            _check_keypoints(self.keypoints2d)
        if self.person_ids is not None:
            self.person_ids = [str(p) for p in self.person_ids]
            if len(self.person_ids) != people:
                raise InputError(f"person_ids names {len(self.person_ids)} people but the joints hold {people}")
        if self.smpl is not None:
            pose = _float_array(self.smpl.pose, "smpl_pose", (frames, people, None))
            if pose.shape[2] not in (72, 165):
                raise InputError(f"smpl_pose must have 72 (SMPL) or 165 (SMPL-X) values per person, got {pose.shape[2]}")
            self.smpl = SmplParams(
                pose=pose,
                betas=_float_array(self.smpl.betas, "smpl_betas", (frames, people, None)),
                trans=_float_array(self.smpl.trans, "smpl_trans", (frames, people, 3)),
            )

    @property
    def frames(self) -> int:
        return self.joints.shape[0]

    @property
    def people(self) -> int:
        return self.joints.shape[1]

    def present(self) -> np.ndarray:
        """[T, P] bool: which people are there in which frame (any non-zero, finite joint)."""
        finite = np.where(np.isfinite(self.joints), self.joints, 0.0)
        return np.any(finite != 0.0, axis=(2, 3))

    def intrinsics_or_default(self, size: tuple[int, int]) -> Intrinsics:
        """The recorded camera, or NLF's 55-degree default for ``size`` when none was recorded."""
        return self.intrinsics if self.intrinsics is not None else Intrinsics.default(*size)


def _check_values(array: np.ndarray, key: str) -> None:
    """Non-finite or absurd coordinates are errors naming the key, frame and person: drawing them
    as missing would hide a broken file behind a black or partial video."""
    finite = np.isfinite(array)
    bad = ~finite | (np.abs(np.where(finite, array, 0.0)) > MAX_MM)
    if not bad.any():
        return
    t, p = (int(i) for i in np.argwhere(bad)[0][:2])
    value = array[t, p][bad[t, p]].flat[0]
    count = int(bad.reshape(bad.shape[0], -1).any(axis=1).sum())
    where = f"'{key}' frame {t} person {p}" + (f" (and {count - 1} more frames)" if count > 1 else "")
    if not np.isfinite(value):
        raise InputError(f"{where}: {value} is not a number; fix the file (an all-zero person means missing)")
    raise InputError(f"{where}: {value:g} mm is more than 1 km from the camera; check the units (millimetres)")


def _check_keypoints(points: np.ndarray) -> None:
    """A person is either detected in a frame (every value finite) or not (every value NaN): a
    partly NaN or infinite row, or pixels far outside any image, are broken files, refused with
    the frame and person rather than drawn as a half skeleton."""
    absent = np.isnan(points).all(axis=(2, 3))
    broken = ~np.isfinite(points).all(axis=(2, 3)) & ~absent
    far = (np.abs(np.where(np.isfinite(points[..., :2]), points[..., :2], 0.0)) > MAX_PX).any(axis=(2, 3))
    for bad, why in ((broken, "mixes numbers with NaN or inf (a person not detected is all NaN)"),
                     (far, f"has a point more than {MAX_PX:g} pixels from the image")):
        if bad.any():
            t, p = (int(i) for i in np.argwhere(bad)[0])
            raise InputError(f"'keypoints2d' frame {t} person {p} {why}; fix the file or extract the video again")


def _float_array(value: object, key: str, shape: tuple[int | None, ...], dtype: type = np.float32) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(f"'{key}' must be a numeric array of shape {_shape_text(shape)}") from exc
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
        raise InputError(f"'{key}' has shape {list(array.shape)}; expected {_shape_text(shape)}")
    return array


def _shape_text(shape: tuple[int | None, ...]) -> str:
    names = iter("TP")
    return "[" + ", ".join(str(s) if s is not None else next(names, "N") for s in shape) + "]"


def _scalar(value: np.ndarray, key: str) -> float:
    array = np.asarray(value)
    if array.size != 1 or not np.issubdtype(array.dtype, np.number):
        raise InputError(f"'{key}' must be a single number, got shape {list(array.shape)} {array.dtype}")
    return float(array.reshape(()))


def save_motion_npz(motion: Motion, path: str | os.PathLike) -> None:
    """Write ``motion`` as an npz that ``load_motion_npz`` and NLF-style readers understand."""
    arrays: dict[str, np.ndarray] = {"joints3d_nonparam": motion.joints, "fps": np.float64(motion.fps)}
    if motion.intrinsics is not None:
        arrays["intrinsics"] = motion.intrinsics.matrix()
    if motion.image_size is not None:
        arrays["image_size"] = np.array(motion.image_size, np.int64)
    if motion.hands is not None:
        arrays["hands3d"] = motion.hands
    if motion.head_marks is not None:
        arrays["head3d"] = motion.head_marks
    if motion.face is not None:
        arrays["face3d"] = motion.face
    if motion.person_ids is not None:
        arrays["person_ids"] = np.array(motion.person_ids, dtype=np.str_)
    if motion.keypoints2d is not None:
        arrays["keypoints2d"] = motion.keypoints2d
    if motion.smpl is not None:
        arrays.update(smpl_pose=motion.smpl.pose, smpl_betas=motion.smpl.betas, smpl_trans=motion.smpl.trans)
    if motion.source:
        arrays["source"] = np.array(motion.source, dtype=np.str_)
    path = Path(path)
    if path.suffix != ".npz":
        raise InputError(f"Motion files end in .npz, got {path.name}")
    with atomic_file(path, "motion") as temp:
        np.savez_compressed(temp, **arrays)


def load_motion_npz(path: str | os.PathLike) -> Motion:
    """Read an NLF-style npz; never unpickles (object arrays are refused)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Motion file {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path} is not a readable npz file (not a zip archive); save it with numpy.savez")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"{path} is not a readable npz file ({exc})") from exc
    except ValueError as exc:
        raise InputError(f"{path} holds pickled objects, which are never loaded; save plain numeric arrays") from exc
    check_npz_keys(arrays, path.name)
    return motion_from_arrays(arrays, source_default=path.name)


def check_npz_keys(arrays: dict, name: str) -> None:
    """The motion npz format has a fixed set of keys; anything else is refused, as the help says."""
    unknown = sorted(set(arrays) - set(NPZ_KEYS))
    if unknown:
        raise InputError(f"{name} has unknown keys {unknown}; allowed keys: {', '.join(NPZ_KEYS)} "
                         "(remove the others, or save NLF results with NLF's own keys)")
    if "joints3d_nonparam" not in arrays:
        raise InputError(f"{name} has no 'joints3d_nonparam' ({NPZ_KEYS['joints3d_nonparam']})")


def motion_from_arrays(arrays: dict[str, np.ndarray], source_default: str = "") -> Motion:
    """Build a Motion from npz-style arrays (shared by the npz reader and format converters)."""
    intrinsics = None
    if "intrinsics" in arrays:
        intrinsics = Intrinsics.from_matrix(_float_array(arrays["intrinsics"], "intrinsics", (3, 3), np.float64))
    image_size = None
    if "image_size" in arrays:
        size = np.asarray(arrays["image_size"]).reshape(-1)
        if size.shape != (2,):
            raise InputError(f"'image_size' must be [height, width], got {size.tolist()}")
        image_size = (int(size[0]), int(size[1]))
    smpl = None
    if "smpl_pose" in arrays:
        missing = [k for k in ("smpl_betas", "smpl_trans") if k not in arrays]
        if missing:
            raise InputError(f"'smpl_pose' needs {missing} too")
        smpl = SmplParams(arrays["smpl_pose"], arrays["smpl_betas"], arrays["smpl_trans"])
    return Motion(
        joints=arrays["joints3d_nonparam"],
        fps=_scalar(arrays["fps"], "fps") if "fps" in arrays else DEFAULT_FPS,
        intrinsics=intrinsics,
        image_size=image_size,
        hands=arrays.get("hands3d"),
        head_marks=arrays.get("head3d"),
        face=arrays.get("face3d"),
        person_ids=[str(p) for p in arrays["person_ids"]] if "person_ids" in arrays else None,
        smpl=smpl,
        source=str(arrays["source"]) if "source" in arrays else source_default,
        keypoints2d=arrays.get("keypoints2d"),
    )
