"""The DWPose / OpenPose skeleton drawing MultiAnimate's pose frames use: every character on one canvas.

MultiAnimate (like UniAnimate-DiT, whose pose guider it keeps) sees skeletons drawn by DWPose's
``draw_pose`` in its "body and foot, without face" form, with the same pixels for everyone (the
identities come from the masks, not the colours). Facts of that drawing (UniAnimate-DiT
``dwpose/util.py`` ``draw_body_and_foot``, ``draw_handpose``, ``run_align_pose.py``):

- on black, for each of 19 limbs in turn and within it each person in turn, the limb as a filled
  ellipse polygon (``ellipse2Poly`` about the limb's midpoint, half length |AB|/2, half width 4,
  the limb's angle in whole degrees, 1-degree steps) in the limb's OpenPose colour;
- the whole canvas then times 0.6 (truncated to uint8), which dims every limb;
- for each of 20 joints in turn and within it each person, a filled circle of radius 4 in the
  joint's full colour;
- then every left hand, then every right hand: its 20 edges as 2-pixel lines in HSV rainbow
  colours, then its 21 points as (0, 0, 255) circles of radius 4; a hand point is drawn only where
  its pixel column and row are both above 0;
- the palette is given as RGB but the array is written by OpenCV (``cv2.imencode`` in
  UniAnimate-DiT's ``prepare_training_data.py``, ``cv2.imwrite`` in ``run_align_pose.py``), which
  takes it as BGR; the loaders read the files back as RGB with PIL. So the frames the model was
  trained on hold the palette with red and blue exchanged: the neck-to-nose limb red, the
  shoulders blue, hand dots red. UniAnimate's saved pose frames and MultiAnimate's pipeline figure
  show exactly that, and ``draw_people`` returns it.

The 20 body points are OpenPose's 18 (nose, neck, right shoulder, elbow, wrist, left shoulder,
elbow, wrist, right hip, knee, ankle, left hip, knee, ankle, right eye, left eye, right ear,
left ear) plus the left and right toes. Pixels are those OpenCV paints (pose/raster.py).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from .marks import HAND_DOT_COLOR, HAND_EDGE_COLORS, HAND_EDGES, Marks2D
from .raster import MAX_COORD, disk, ellipse_polygon, fill_convex, thick_line

BODY_LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
              (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (13, 18), (10, 19))
BODY_COLORS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
               (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
               (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85), (170, 255, 255), (255, 255, 0))
STICK_HALF_WIDTH = 4
LIMB_DIM = 0.6
JOINT_RADIUS = 4
HAND_LINE = 2
HAND_DOT_RADIUS = 4
SCORE_THRESHOLD = 0.3
# COCO-WholeBody (DWPose's 133 points) -> the 18 OpenPose body slots; the neck is computed.
OPENPOSE_FROM_COCO = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
LEFT_TOES, RIGHT_TOES = (17, 18), (20, 21)
LEFT_HAND, RIGHT_HAND = slice(91, 112), slice(112, 133)
# From a scene: SMPL joints into the OpenPose slots (nose and eyes/ears come from the head marks;
# the toes are SMPL's foot joints, at the ball of the foot). SMPL's hips sit inside the pelvis,
# higher and narrower than DWPose's: close, not the same points.
OPENPOSE_FROM_SMPL = {1: 12, 2: 17, 3: 19, 4: 21, 5: 16, 6: 18, 7: 20, 8: 2, 9: 5, 10: 8, 11: 1, 12: 4, 13: 7,
                      18: 10, 19: 11}
SMPL_HEAD = 15


def openpose_points(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DWPose keypoints [..., 133, 3] (x, y, score) -> body [..., 20, 2] and hands [..., 2, 21, 2]
    (left, right) in pixels, NaN where DWPose's drawing leaves a point out (score <= 0.3; the neck
    needs both shoulders, a toe point both of its toes, and is their mean)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.shape[-2:] != (133, 3):
        raise InputError(f"DWPose keypoints must be [..., 133, 3] (x, y, score), got {list(keypoints.shape)}")
    xy = np.where((keypoints[..., 2:] > SCORE_THRESHOLD), keypoints[..., :2], np.nan)
    body = np.empty((*xy.shape[:-2], 20, 2))
    for slot, coco in enumerate(OPENPOSE_FROM_COCO):
        body[..., slot, :] = xy[..., 5:7, :].mean(axis=-2) if coco is None else xy[..., coco, :]
    body[..., 18, :] = xy[..., LEFT_TOES, :].mean(axis=-2)
    body[..., 19, :] = xy[..., RIGHT_TOES, :].mean(axis=-2)
    return body, np.stack([xy[..., LEFT_HAND, :], xy[..., RIGHT_HAND, :]], axis=-3)


def openpose_from_scene(joints: np.ndarray, marks: list[Marks2D | None] | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Projected SMPL joints [P, 24, 2] (pixels, NaN where missing) and each person's 2D head and
    hand marks -> body [P, 20, 2] and hands [P, 2, 21, 2] for ``draw_people``. Without head marks
    the nose is SMPL's head joint and the eyes and ears are left out."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (24, 2):
        raise InputError(f"joints must be [people, 24, 2] (SMPL, projected), got {list(joints.shape)}")
    marks = marks or [None] * len(joints)
    if len(marks) != len(joints):
        raise InputError(f"{len(marks)} sets of marks for {len(joints)} people")
    body = np.full((len(joints), 20, 2), np.nan)
    hands = np.full((len(joints), 2, 21, 2), np.nan)
    for slot, smpl in OPENPOSE_FROM_SMPL.items():
        body[:, slot] = joints[:, smpl]
    body[:, 0] = joints[:, SMPL_HEAD]
    for person, mark in enumerate(marks):
        if mark is not None and mark.head is not None:
            body[person, [0, 14, 15, 16, 17]] = mark.head
        if mark is not None and mark.hands is not None:
            hands[person] = mark.hands
    return body, hands


def _pixel(point: np.ndarray) -> tuple[int, int] | None:
    """int() of a finite point within reach of OpenCV's fixed-point code, else None."""
    if not np.isfinite(point).all() or (np.abs(point) >= MAX_COORD).any():
        return None
    return int(point[0]), int(point[1])


def draw_people(bodies: np.ndarray, hands: np.ndarray | None, height: int, width: int) -> np.ndarray:
    """RGB uint8 [height, width, 3]: every person's skeleton on one black canvas, as the pose files
    the model was trained on hold it (DWPose's drawing with red and blue exchanged, see above).

    bodies [P, 20, 2] and hands [P, 2, 21, 2] (left, right) in pixels (x, y), NaN where missing
    (``openpose_points`` makes them from DWPose keypoints).
    """
    return np.ascontiguousarray(_dwpose_canvas(bodies, hands, height, width)[..., ::-1])


def _dwpose_canvas(bodies: np.ndarray, hands: np.ndarray | None, height: int, width: int) -> np.ndarray:
    """DWPose's own array: the palette written in as given, before OpenCV writes it out."""
    bodies = np.asarray(bodies, dtype=np.float64)
    if bodies.ndim != 3 or bodies.shape[1:] != (20, 2):
        raise InputError(f"bodies must be [people, 20, 2] (OpenPose body + toes), got {list(bodies.shape)}")
    canvas = np.zeros((height, width, 3), np.uint8)
    for limb, (a, b) in enumerate(BODY_LIMBS):
        for person in bodies:
            ends = person[[a, b]]
            if not np.isfinite(ends).all() or (np.abs(ends) >= MAX_COORD).any():
                continue
            (x0, y0), (x1, y1) = ends.tolist()
            half = int(((y0 - y1) ** 2 + (x0 - x1) ** 2) ** 0.5 / 2)
            angle = int(math.degrees(math.atan2(y0 - y1, x0 - x1)))
            polygon = ellipse_polygon(int((x0 + x1) / 2), int((y0 + y1) / 2), half, STICK_HALF_WIDTH, angle)
            canvas[fill_convex(polygon, height, width)] = BODY_COLORS[limb]
    canvas = (canvas * LIMB_DIM).astype(np.uint8)
    for joint in range(20):
        for person in bodies:
            centre = _pixel(person[joint])
            if centre is not None:
                canvas[disk(*centre, JOINT_RADIUS, height, width)] = BODY_COLORS[joint]
    if hands is None:
        return canvas
    hands = np.asarray(hands, dtype=np.float64)
    if hands.shape != (len(bodies), 2, 21, 2):
        raise InputError(f"hands must be [{len(bodies)} people, 2, 21, 2], got {list(hands.shape)}")
    for side in range(2):  # every left hand, then every right hand, as DWPose stacks them
        for hand in hands[:, side]:
            points = [_pixel(p) for p in hand]
            drawn = [p is not None and p[0] > 0 and p[1] > 0 for p in points]
            for (a, b), colour in zip(HAND_EDGES, HAND_EDGE_COLORS):
                if drawn[a] and drawn[b]:
                    canvas[thick_line(*points[a], *points[b], HAND_LINE, height, width)] = colour
            for point, ok in zip(points, drawn):
                if ok:
                    canvas[disk(*point, HAND_DOT_RADIUS, height, width)] = HAND_DOT_COLOR
    return canvas
