"""Camera refit to a reference image (SCAIL-Pose's ``--use_align``), made robust.

The driving skeleton keeps its bone lengths; the intrinsics change so that its first frame lands
on the reference character: K' = [[f m, 0, W/2 + p], [0, f m s, H/2 + q], [0, 0, 1]], solved from
(1, 1, 0, 0) with m in [0.7, 1.4], s in [0.8, 1.15], p in [-W, W], q in [-H, H] against the
reference's 2D body keypoints. As officially: neck + knees + ankles (slots 9, 10, 12, 13) when all
four are seen, loss e_neck + 4 sum(e_rest); else neck + head, shoulders, elbows (0, 2, 3, 5, 6),
loss 8 e_neck + sum(e_rest) (squared pixel errors).

What the official code does badly (zai-org/SCAIL issue 25) is done differently here: a solution
on a bound of m or s is solved again with the bounds widened once (m in [0.35, 2.8], s in
[0.65, 1.4]); too few points to fix a scale keep m = s = 1 and move only p, q; no usable point
leaves the camera as it is. The report says which happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..pose.camera import Intrinsics
from ..pose.skeleton import SLOT_FROM_SMPL, SLOT_NAMES

log = logging.getLogger(__name__)

BOUNDS = {"m": (0.7, 1.4), "s": (0.8, 1.15)}
WIDE_BOUNDS = {"m": (0.35, 2.8), "s": (0.65, 1.4)}
LOWER = (9, 10, 12, 13)
UPPER = (0, 2, 3, 5, 6)
NECK = 1
VISIBLE = 0.3
# OpenPose-18 body slot -> COCO-17 index of DWPose (the neck, slot 1, is the mean of the shoulders).
OPENPOSE_FROM_COCO = {0: 0, 2: 6, 3: 8, 4: 10, 5: 5, 6: 7, 7: 9, 8: 12, 9: 14, 10: 16, 11: 11, 12: 13, 13: 15}


@dataclass
class AlignReport:
    """What the refit did, for the user to read."""

    mode: str                      # "lower body", "upper body", "translation only" or "not aligned"
    joints: list[str] = field(default_factory=list)
    m: float = 1.0
    s: float = 1.0
    p: float = 0.0
    q: float = 0.0
    on_bound: list[str] = field(default_factory=list)
    widened: bool = False
    rms_px: float = float("nan")

    def text(self) -> str:
        if self.mode == "not aligned":
            return "align: no body keypoint of the reference is usable; the camera is unchanged"
        bound = f"; still on the {'/'.join(self.on_bound)} bound" if self.on_bound else ""
        wide = "; bounds widened once" if self.widened else ""
        return (f"align ({self.mode}, {', '.join(self.joints)}): m={self.m:.3f} s={self.s:.3f} "
                f"p={self.p:.1f} q={self.q:.1f}, rms {self.rms_px:.1f} px{wide}{bound}")


def openpose_body(keypoints: np.ndarray) -> np.ndarray:
    """[14, 3] (x, y, score) in SCAIL slots from DWPose's [133, 3]; the neck is the mean of the
    shoulders, seen only when both are."""
    out = np.zeros((14, 3))
    for slot, coco in OPENPOSE_FROM_COCO.items():
        out[slot] = keypoints[coco]
    shoulders = keypoints[[5, 6]]
    out[NECK, :2] = shoulders[:, :2].mean(axis=0)
    out[NECK, 2] = 1.0 if np.all(shoulders[:, 2] > VISIBLE) else 0.0
    return out


def fit_camera(joints: np.ndarray, reference: np.ndarray, intrinsics: Intrinsics,
               size: tuple[int, int]) -> tuple[Intrinsics, AlignReport]:
    """New intrinsics putting SMPL ``joints`` [24, 3] (mm) onto the reference's ``reference``
    [14, 3] slot keypoints (x, y, score) in an image of ``size`` (height, width)."""
    height, width = size
    slots = np.asarray(joints, np.float64)[list(SLOT_FROM_SMPL)]
    seen = (reference[:, 2] > VISIBLE) & np.any(slots != 0, axis=1) & (slots[:, 2] > 0)
    lower = [i for i in LOWER if seen[i]]
    if len(lower) == len(LOWER):
        mode, chosen, weights = "lower body", lower, (1.0, 4.0)
    else:
        mode, chosen, weights = "upper body", [i for i in UPPER if seen[i]], (8.0, 1.0)
    use = ([NECK] if seen[NECK] else []) + chosen
    if not use:
        return intrinsics, AlignReport("not aligned")
    w = np.array([weights[0] if i == NECK else weights[1] for i in use])
    ray = slots[use, :2] / slots[use, 2:3]
    target = reference[use, :2] - [width / 2, height / 2]
    f = intrinsics.fx
    report = AlignReport(mode, [SLOT_NAMES[i] for i in use])
    if len(use) < 2 or np.ptp(ray[:, 0]) < 1e-6 or np.ptp(ray[:, 1]) < 1e-6:
        report.mode = "translation only"
        m = s = 1.0
        p, q = np.average(target - f * ray, axis=0, weights=w)
    else:
        m, s, p, q = _solve(ray, target, w, f, size, BOUNDS)
        report.on_bound = _on_bound(m, s, BOUNDS)
        if report.on_bound:
            report.widened = True
            m, s, p, q = _solve(ray, target, w, f, size, WIDE_BOUNDS)
            report.on_bound = _on_bound(m, s, WIDE_BOUNDS)
    residual = np.stack([f * m * ray[:, 0] + p, f * m * s * ray[:, 1] + q], axis=1) - target
    report.m, report.s, report.p, report.q = float(m), float(s), float(p), float(q)
    report.rms_px = float(np.sqrt(np.mean(np.sum(residual ** 2, axis=1))))
    log.info(report.text())
    new = Intrinsics(f * m, f * m * s, width / 2 + p, height / 2 + q)
    return new, report


def _solve(ray: np.ndarray, target: np.ndarray, w: np.ndarray, f: float, size: tuple[int, int],
           bounds: dict[str, tuple[float, float]]) -> tuple[float, float, float, float]:
    from scipy.optimize import least_squares

    height, width = size
    root_w = np.sqrt(w)

    def residuals(x: np.ndarray) -> np.ndarray:
        m, s, p, q = x
        u = f * m * ray[:, 0] + p - target[:, 0]
        v = f * m * s * ray[:, 1] + q - target[:, 1]
        return np.concatenate([u * root_w, v * root_w])

    lo = [bounds["m"][0], bounds["s"][0], -width, -height]
    hi = [bounds["m"][1], bounds["s"][1], width, height]
    result = least_squares(residuals, x0=[1.0, 1.0, 0.0, 0.0], bounds=(lo, hi), x_scale=[1, 1, width, height],
                           xtol=1e-12, ftol=1e-12, gtol=1e-12)
    return tuple(float(v) for v in result.x)


def _on_bound(m: float, s: float, bounds: dict[str, tuple[float, float]]) -> list[str]:
    hit = []
    for name, value in (("m", m), ("s", s)):
        lo, hi = bounds[name]
        if min(value - lo, hi - value) < 1e-4 * (hi - lo):
            hit.append(name)
    return hit
