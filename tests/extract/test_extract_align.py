"""Camera refit to a reference: known cameras are recovered, half-body and nearly empty
references degrade instead of failing, and a bound that is hit is widened once."""

from __future__ import annotations

import numpy as np
import pytest

from scail_blender.extract.align import fit_camera, openpose_body
from scail_blender.motion.smpl import REST_JOINTS
from scail_blender.pose.camera import Intrinsics
from scail_blender.pose.skeleton import SLOT_FROM_SMPL

SIZE = (512, 896)


def _driving() -> np.ndarray:
    joints = REST_JOINTS * 1000.0 * np.array([1.0, -1.0, -1.0])
    joints[:, 0] += 0.3 * joints[:, 1]  # lean a little so x and y are not separable by accident
    return joints + [150.0, 200.0, 3500.0]


def _reference(m: float, s: float, p: float, q: float, hidden: tuple[int, ...] = ()) -> np.ndarray:
    base = Intrinsics.default(*SIZE)
    camera = Intrinsics(base.fx * m, base.fx * m * s, SIZE[1] / 2 + p, SIZE[0] / 2 + q)
    points = camera.project(_driving()[list(SLOT_FROM_SMPL)])
    ref = np.c_[points, np.full(14, 0.9)]
    ref[list(hidden), 2] = 0.0
    return ref


@pytest.mark.parametrize("hidden, mode", [((), "lower body"), ((9, 10, 12, 13), "upper body"),
                                          ((8, 9, 10, 11, 12, 13, 4, 7), "upper body")])
def test_known_camera_is_recovered(hidden: tuple[int, ...], mode: str) -> None:
    base = Intrinsics.default(*SIZE)
    camera, report = fit_camera(_driving(), _reference(1.2, 1.05, 30.0, -20.0, hidden), base, SIZE)
    assert report.mode == mode and not report.widened and not report.on_bound
    np.testing.assert_allclose([report.m, report.s, report.p, report.q], [1.2, 1.05, 30.0, -20.0], atol=1e-4)
    assert report.rms_px < 1e-3
    assert camera.fx == pytest.approx(base.fx * 1.2) and camera.cy == pytest.approx(SIZE[0] / 2 - 20.0)


def test_a_bound_that_is_hit_is_widened() -> None:
    """A reference character much larger on screen: the official bounds stop m at 1.4 and leave
    the skeleton off; widened once, the fit lands."""
    camera, report = fit_camera(_driving(), _reference(1.8, 1.0, 0.0, 40.0, (9, 10, 12, 13)),
                                Intrinsics.default(*SIZE), SIZE)
    assert report.widened and not report.on_bound
    assert report.m == pytest.approx(1.8, abs=1e-4) and report.rms_px < 1e-3
    _, stuck = fit_camera(_driving(), _reference(4.0, 1.0, 0.0, 0.0), Intrinsics.default(*SIZE), SIZE)
    assert stuck.widened and "m" in stuck.on_bound and "still on the m" in stuck.text()


def test_sparse_references_do_not_fail() -> None:
    base = Intrinsics.default(*SIZE)
    only_neck = _reference(1.0, 1.0, 25.0, -10.0, tuple(i for i in range(14) if i != 1))
    camera, report = fit_camera(_driving(), only_neck, base, SIZE)
    assert report.mode == "translation only" and report.joints == ["neck"]
    assert (report.m, report.s) == (1.0, 1.0)
    assert report.p == pytest.approx(25.0) and report.q == pytest.approx(-10.0)
    nothing = _reference(1.0, 1.0, 0.0, 0.0, tuple(range(14)))
    camera, report = fit_camera(_driving(), nothing, base, SIZE)
    assert report.mode == "not aligned" and camera == base and "unchanged" in report.text()


def test_openpose_body_from_dwpose() -> None:
    kp = np.zeros((133, 3))
    kp[:17, 0] = np.arange(17)
    kp[:17, 2] = 0.9
    kp[6, 2] = 0.1  # right shoulder unseen: no neck
    body = openpose_body(kp)
    assert body[0, 0] == 0 and body[2, 0] == 6 and body[5, 0] == 5 and body[13, 0] == 15
    assert body[1, 0] == 5.5 and body[1, 2] == 0.0
