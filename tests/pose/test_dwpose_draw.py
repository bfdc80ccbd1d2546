"""The DWPose skeleton drawing MultiAnimate's pose frames use, against OpenCV drawing the same steps.

The reference below calls OpenCV the way DWPose's ``draw_body_and_foot`` and ``draw_handpose``
(UniAnimate-DiT ``dwpose/util.py``) do: limbs as ``fillConvexPoly(ellipse2Poly(...))`` person by
person within each limb, the canvas times 0.6, joints as radius-4 circles, then every left hand
and every right hand as 2-pixel lines and radius-4 dots; then, as UniAnimate's data scripts do,
OpenCV encodes that array to a file and the model's loaders read the file with PIL as RGB. Ours
must give the same pixels as that file.
"""

from __future__ import annotations

import math

import io

import cv2
import numpy as np
import pytest
from PIL import Image

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


def as_the_model_reads_it(canvas: np.ndarray) -> np.ndarray:
    """The pose file DWPose's array becomes (``cv2.imencode``, lossless here) read back as RGB with PIL."""
    ok, data = cv2.imencode(".png", canvas)
    assert ok
    return np.asarray(Image.open(io.BytesIO(data.tobytes())).convert("RGB"))


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
    np.testing.assert_array_equal(ours, as_the_model_reads_it(opencv_drawing(bodies, hands)))


def test_limbs_are_dimmed_and_joints_full() -> None:
    bodies = np.full((1, 20, 2), np.nan)
    bodies[0, 1], bodies[0, 2] = (100, 100), (160, 100)  # neck -> right shoulder: limb 0, palette red
    canvas = draw_people(bodies, None, H, W)
    assert tuple(canvas[100, 130]) == (0, 0, 153)  # 255 * 0.6 along the limb, red and blue exchanged
    assert tuple(canvas[100, 100]) == BODY_COLORS[1][::-1] and tuple(canvas[100, 160]) == BODY_COLORS[2][::-1]


# Colours measured (brightest pixel of a 3x3 or 5x5 window on the mark) in the released pose
# frames: MultiAnimate's pipeline figure (static/images/pipeline.png of hyc001/MultiAnimate at
# e94831d, its 216x129 reference-pose panel) and UniAnimate's saved pose frame
# (ali-vilab/UniAnimate data/saved_pose/IMG_20240514_104337/0000.jpg, 512x768, written by
# run_align_pose.py). The key is ("limb" or "joint" or "hand dot", index).
RELEASED = {
    "MultiAnimate figure": {("limb", 12): (130, 2, 5), ("limb", 0): (1, 1, 151), ("limb", 10): (141, 106, 26),
                            ("limb", 11): (133, 55, 5), ("joint", 13): (224, 4, 86), ("hand dot", 0): (218, 1, 2)},
    "UniAnimate frame": {("limb", 12): (160, 5, 1), ("limb", 0): (1, 0, 153), ("limb", 10): (155, 102, 0),
                         ("limb", 17): (55, 0, 158), ("hand dot", 0): (253, 5, 6)},
}
# JPEG and the figure's downscaling move a colour by up to 37 levels here (the figure's hand dots);
# the palette as drawn before red and blue were exchanged is at least 107 levels away from each.
RELEASED_TOLERANCE = 40


@pytest.mark.parametrize("source", sorted(RELEASED))
def test_colours_match_the_released_pose_frames(source: str) -> None:
    """The model was trained on DWPose's drawing as OpenCV writes it: red and blue exchanged (the
    neck-to-nose limb red, the shoulders blue, hand dots red), as the released frames show."""
    body = np.array([[200, 60], [200, 100], [160, 100], [150, 140], [140, 180], [240, 100], [250, 140], [260, 180],
                     [180, 170], [175, 200], [170, 225], [220, 170], [225, 200], [230, 225], [195, 55], [205, 55],
                     [188, 58], [212, 58], [245, 235], [160, 235]], float)[None]
    hands = np.full((1, 2, 21, 2), np.nan)
    hands[0, 0, 0] = (30, 30)  # one dot, far from everything
    canvas = draw_people(body, hands, H, W).astype(int)
    for (kind, index), measured in RELEASED[source].items():
        if kind == "limb":
            a, b = BODY_LIMBS[index]
            x, y = body[0, [a, b]].mean(axis=0).astype(int)
        else:
            x, y = (30, 30) if kind == "hand dot" else body[0, index].astype(int)
        assert np.abs(canvas[y, x] - measured).max() <= RELEASED_TOLERANCE, (kind, index, canvas[y, x], measured)


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
