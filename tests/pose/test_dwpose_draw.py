"""The DWPose skeleton drawing MultiAnimate's pose frames use, against OpenCV drawing the same steps.

The reference below calls OpenCV the way DWPose's ``draw_body_and_foot`` and ``draw_handpose``
(UniAnimate-DiT ``dwpose/util.py``) do: limbs as ``fillConvexPoly(ellipse2Poly(...))`` person by
person within each limb, the canvas times 0.6, joints as radius-4 circles, then every left hand
and every right hand as 2-pixel lines and radius-4 blue dots. Ours must give the same pixels.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from scail_blender.errors import InputError
from scail_blender.pose.dwpose_draw import BODY_COLORS, BODY_LIMBS, draw_people, openpose_points
from scail_blender.pose.marks import HAND_EDGE_COLORS, HAND_EDGES

H, W = 240, 320


def opencv_drawing(bodies: np.ndarray, hands: np.ndarray) -> np.ndarray:
    canvas = np.zeros((H, W, 3), np.uint8)
    for i, (a, b) in enumerate(BODY_LIMBS):
        for person in bodies:
            if np.isnan(person[[a, b]]).any():
                continue
            xs, ys = person[[a, b], 0], person[[a, b], 1]
            length = ((ys[0] - ys[1]) ** 2 + (xs[0] - xs[1]) ** 2) ** 0.5
            angle = math.degrees(math.atan2(ys[0] - ys[1], xs[0] - xs[1]))
            polygon = cv2.ellipse2Poly((int(np.mean(xs)), int(np.mean(ys))), (int(length / 2), 4), int(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, polygon, BODY_COLORS[i])
    canvas = (canvas * 0.6).astype(np.uint8)
    for i in range(20):
        for person in bodies:
            if not np.isnan(person[i]).any():
                cv2.circle(canvas, (int(person[i, 0]), int(person[i, 1])), 4, BODY_COLORS[i], thickness=-1)
    for side in range(2):
        for hand in hands[:, side]:
            pts = [(int(x), int(y)) if np.isfinite([x, y]).all() else (-1, -1) for x, y in hand]
            for (a, b), colour in zip(HAND_EDGES, HAND_EDGE_COLORS):
                if min(*pts[a], *pts[b]) > 0:
                    cv2.line(canvas, pts[a], pts[b], colour, thickness=2)
            for p in pts:
                if min(p) > 0:
                    cv2.circle(canvas, p, 4, (0, 0, 255), thickness=-1)
    return canvas


def people(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    bodies = rng.uniform(-20, [W + 20, H + 20], (count, 20, 2))  # some points off the canvas
    bodies[rng.random((count, 20)) < 0.15] = np.nan
    hands = rng.uniform(-5, [W, H], (count, 2, 21, 2))
    hands[rng.random((count, 2, 21)) < 0.1] = np.nan
    return bodies, hands


@pytest.mark.parametrize("seed", range(6))
def test_same_pixels_as_opencv(seed: int) -> None:
    bodies, hands = people(3, seed)
    ours = draw_people(bodies, hands, H, W)
    assert (ours > 0).mean() > 0.05  # a real drawing
    np.testing.assert_array_equal(ours, opencv_drawing(bodies, hands))


def test_limbs_are_dimmed_and_joints_full() -> None:
    bodies = np.full((1, 20, 2), np.nan)
    bodies[0, 1], bodies[0, 2] = (100, 100), (160, 100)  # neck -> right shoulder: limb 0, red
    canvas = draw_people(bodies, None, H, W)
    assert tuple(canvas[100, 130]) == (153, 0, 0)  # 255 * 0.6 along the limb
    assert tuple(canvas[100, 100]) == BODY_COLORS[1] and tuple(canvas[100, 160]) == BODY_COLORS[2]


def test_openpose_points_from_dwpose_keypoints() -> None:
    kp = np.zeros((133, 3))
    kp[:, 0], kp[:, 1], kp[:, 2] = np.arange(133), 1000 + np.arange(133), 0.9
    kp[18, 2] = 0.2  # a left small toe below the threshold: no left toe point
    body, hands = openpose_points(kp)
    assert body[1].tolist() == [5.5, 1005.5]  # neck: mean of the shoulders (COCO 5, 6)
    assert body[[2, 5, 8, 11, 14, 15], 0].tolist() == [6, 5, 12, 11, 2, 1]
    assert np.isnan(body[18]).all() and body[19].tolist() == [20.5, 1020.5]
    assert hands.shape == (2, 21, 2) and hands[0, 0, 0] == 91 and hands[1, 20, 0] == 132
    with pytest.raises(InputError, match="133, 3"):
        openpose_points(np.zeros((17, 3)))


def test_scene_joints_fill_the_openpose_slots() -> None:
    from scail_blender.pose.dwpose_draw import openpose_from_scene
    from scail_blender.pose.marks import Marks2D
    joints = np.arange(2 * 24 * 2, dtype=float).reshape(2, 24, 2)
    head = np.array([[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]], float)
    body, hands = openpose_from_scene(joints, [Marks2D(head=head, hands=np.ones((2, 21, 2))), None])
    assert body[0, 1].tolist() == joints[0, 12].tolist()  # neck
    assert body[0, 4].tolist() == joints[0, 21].tolist() and body[0, 7].tolist() == joints[0, 20].tolist()  # wrists
    assert body[0, 18].tolist() == joints[0, 10].tolist() and body[0, 19].tolist() == joints[0, 11].tolist()  # toes
    assert body[0, [0, 14, 17]].tolist() == [[1, 1], [2, 2], [5, 5]]  # nose, right eye, left ear from the marks
    assert body[1, 0].tolist() == joints[1, 15].tolist() and np.isnan(body[1, 14:18]).all()  # no marks: SMPL head
    assert (hands[0] == 1).all() and np.isnan(hands[1]).all()
    assert draw_people(body, hands, H, W).shape == (H, W, 3)
