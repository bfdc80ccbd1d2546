"""The 2D marks: our rasterisers against OpenCV, and whole-person drawing against the official recipe."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np
import pytest

from scail_blender.errors import InputError
from scail_blender.pose.camera import Intrinsics
from scail_blender.pose.marks import (
    Marks2D,
    disk,
    draw_marks,
    ellipse_polygon,
    fill_convex,
    mark_pixels,
    project_marks,
    thick_line,
    thin_line,
)

H, W = 48, 64


def mask(pixels: tuple[np.ndarray, np.ndarray], height: int = H, width: int = W) -> np.ndarray:
    out = np.zeros((height, width), np.uint8)
    out[pixels] = 1
    return out


def test_rasterisers_match_opencv_pixel_for_pixel() -> None:
    rng = np.random.default_rng(7)
    for _ in range(400):
        x1, y1, x2, y2 = (int(v) for v in rng.integers(-25, 90, 4))
        for thickness in (1, 2):
            ref = np.zeros((H, W), np.uint8)
            cv2.line(ref, (x1, y1), (x2, y2), 1, thickness)
            np.testing.assert_array_equal(mask(thick_line(x1, y1, x2, y2, thickness, H, W)), ref)
        cx, cy, radius = int(rng.integers(-6, 70)), int(rng.integers(-6, 54)), int(rng.integers(0, 6))
        ref = np.zeros((H, W), np.uint8)
        cv2.circle(ref, (cx, cy), radius, 1, -1)
        np.testing.assert_array_equal(mask(disk(cx, cy, radius, H, W)), ref)
        length, angle = int(rng.integers(0, 30)), int(rng.integers(-180, 181))
        poly = cv2.ellipse2Poly((cx, cy), (length, 4), angle, 0, 360, 1)
        np.testing.assert_array_equal(ellipse_polygon(cx, cy, length, 4, angle), poly)
        ref = np.zeros((H, W), np.uint8)
        cv2.fillConvexPoly(ref, poly, 1)
        np.testing.assert_array_equal(mask(fill_convex(poly, H, W)), ref)
    assert not thin_line(-5, -5, -1, -9, H, W)[0].size  # entirely outside


def official_canvas(people: list[Marks2D], height: int, width: int) -> np.ndarray:
    """The official per-person drawing (cheeks, dim, head dots, hands, face) with OpenCV."""
    thin = min(max(int(min(height, width) / 300), 1), 2)
    total = np.zeros((height, width, 3), np.uint8)
    cheek_colors = [[85, 0, 255], [170, 0, 255], [255, 0, 255], [255, 0, 170]]
    dot_colors = [[255, 0, 0], [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85]]
    edges = [[0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [0, 9], [9, 10],
             [10, 11], [11, 12], [0, 13], [13, 14], [14, 15], [15, 16], [0, 17], [17, 18], [18, 19], [19, 20]]
    for marks in people:
        canvas = np.zeros((height, width, 3), np.uint8)
        head = marks.head
        for (i, j), color in zip([(0, 1), (1, 3), (0, 2), (2, 4)], cheek_colors):
            if np.isnan(head[[i, j]]).any():
                continue
            X, Y = head[[i, j], 1], head[[i, j], 0]
            length = ((X[0] - X[1]) ** 2 + (Y[0] - Y[1]) ** 2) ** 0.5
            angle = np.degrees(np.arctan2(X[0] - X[1], Y[0] - Y[1]))
            poly = cv2.ellipse2Poly((int(np.mean(Y)), int(np.mean(X))), (int(length / 2), 4), int(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, poly, color)
        canvas = (canvas * 0.6).astype(np.uint8)
        for point, color in zip(head, dot_colors):
            if not np.isnan(point).any():
                cv2.circle(canvas, (int(point[0]), int(point[1])), 4, color, thickness=-1)
        for hand in marks.hands:
            for k, (i, j) in enumerate(edges):
                if np.isnan(hand[[i, j]]).any():
                    continue
                x1, y1, x2, y2 = int(hand[i, 0]), int(hand[i, 1]), int(hand[j, 0]), int(hand[j, 1])
                if x1 > 0.01 and y1 > 0.01 and x2 > 0.01 and y2 > 0.01:
                    color = np.array(colorsys.hsv_to_rgb(k / 20.0, 1.0, 1.0)) * 255
                    cv2.line(canvas, (x1, y1), (x2, y2), color, thickness=thin)
            for point in hand:
                if not np.isnan(point).any() and int(point[0]) > 0.01 and int(point[1]) > 0.01:
                    cv2.circle(canvas, (int(point[0]), int(point[1])), thin, (0, 0, 255), thickness=-1)
        for index, point in enumerate(marks.face):
            if index in list(range(17, 27)) + list(range(36, 70)) and not np.isnan(point).any():
                x, y = int(point[0]), int(point[1])
                if x > 0.01 and y > 0.01:
                    cv2.circle(canvas, (x, y), thin, (255, 255, 255), thickness=-1)
        total = total + canvas
    return total


def random_person(rng: np.random.Generator, height: int, width: int) -> Marks2D:
    centre = rng.uniform((-20, -20), (width + 20, height + 20))
    head = centre + rng.normal(0, 25, (5, 2))
    hands = centre + rng.normal(0, 60, (2, 21, 2))
    face = centre + rng.normal(0, 20, (68, 2))
    for arr in (head, hands.reshape(-1, 2), face):
        arr[rng.random(len(arr)) < 0.1] = np.nan
    return Marks2D(head=head, hands=hands, face=face)


@pytest.mark.parametrize("size", [(96, 128), (640, 700)])
def test_people_marks_match_the_official_drawing(size: tuple[int, int]) -> None:
    """Overlapping people (uint8 wrap-around sums), clipped and missing points, 1 and 2 px hands."""
    height, width = size
    rng = np.random.default_rng(height)
    for _ in range(15):
        people = [random_person(rng, height, width) for _ in range(3)]
        base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        base[rng.random((height, width)) < 0.5] = 0
        canvas = official_canvas(people, height, width)
        expected = base.copy()
        expected[canvas != 0] = canvas[canvas != 0]
        ours = base.copy()
        draw_marks(ours, people + [None])
        np.testing.assert_array_equal(ours, expected)


def test_project_marks_drops_missing_and_behind() -> None:
    camera = Intrinsics(500.0, 500.0, 100.0, 50.0)
    head = np.array([[0, 0, 1000], [100, 50, 1000], [0, 0, 0], [np.nan, 0, 1000], [0, 0, -5]], float)
    marks = project_marks(head, None, camera)
    np.testing.assert_allclose(marks.head[0], (100, 50))
    np.testing.assert_allclose(marks.head[1], (150, 75))
    assert np.isnan(marks.head[2:]).all()
    assert marks.hands is None and marks.face is None
    with pytest.raises(InputError, match=r"\[2, 21, 3\]"):
        project_marks(None, np.zeros((21, 3)), camera)
    with pytest.raises(InputError, match=r"\[5, 2\]"):
        Marks2D(head=np.zeros((4, 2)))


def test_marks_of_a_batch_of_frames_match_the_official_drawing() -> None:
    """Frames with several, one, no people or None; a point too far away counts as missing."""
    height, width = 80, 112
    rng = np.random.default_rng(11)
    batch = [[random_person(rng, height, width) for _ in range(n)] for n in (2, 0, 1, 3)] + [None]
    far = batch[2][0]
    official_people = [Marks2D(head=far.head, hands=far.hands.copy(), face=far.face)]
    official_people[0].hands[1, 5] = np.nan
    far.hands[1, 5] = (1e12, 40.0)
    frames = rng.integers(0, 256, (len(batch), height, width, 3), dtype=np.uint8)
    expected = frames.copy()
    for frame, people in zip(expected, batch[:2] + [official_people] + batch[3:]):
        if people:
            canvas = official_canvas(people, height, width)
            frame[canvas != 0] = canvas[canvas != 0]
    assert (expected != frames).any(axis=(1, 2, 3)).tolist() == [True, False, True, True, False]
    for frame, pixels in zip(frames, mark_pixels(batch, height, width)):
        frame.put(*pixels)
    np.testing.assert_array_equal(frames, expected)
    strided = np.zeros((height, 2 * width, 3), np.uint8)[:, ::2]  # not contiguous
    draw_marks(strided, batch[3])
    np.testing.assert_array_equal(strided, official_canvas(batch[3], height, width))
