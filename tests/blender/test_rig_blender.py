"""Rigs and cameras read through the real bpy module (headless): mapping, projection, extraction."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from scail_blender.pose.skeleton import SMPL_JOINT_NAMES

from tests.support.rig_skeletons import MIXAMO, UNREAL, skeleton

bpy = pytest.importorskip("bpy")
import addon_utils  # noqa: E402  (ships with bpy)
from bpy_extras.object_utils import world_to_camera_view  # noqa: E402
from mathutils import Vector  # noqa: E402

from scail_blender.errors import CameraError, RigMappingError  # noqa: E402
from scail_blender.blender.armature import bone_infos, map_armature, sample_pose  # noqa: E402
from scail_blender.blender.camera import camera_params  # noqa: E402
from scail_blender.rig.bonemap import rest_points  # noqa: E402
from scail_blender.rig.camera import intrinsics_from_camera, world_to_opencv  # noqa: E402
from scail_blender.blender.scene_motion import Character, ClipExtractor  # noqa: E402

JOINT = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


def fresh_scene() -> bpy.types.Scene:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def add_camera(scene, location=(0.0, -6.0, 1.0), rotation=(math.pi / 2, 0.0, 0.0), **settings):
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = location, rotation
    for key, value in settings.items():
        setattr(cam.data, key, value)
    scene.camera = cam
    return cam


def build_armature(scene, name: str, bones: list[tuple]) -> bpy.types.Object:
    """An armature made with edit bones, as a user or an importer would."""
    obj = bpy.data.objects.new(name, bpy.data.armatures.new(name))
    scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for bone_name, parent, head, tail in bones:
        edit = obj.data.edit_bones.new(bone_name)
        edit.head, edit.tail = head, tail
        if parent:
            edit.parent = obj.data.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def blender_pixel(scene, cam, point) -> np.ndarray:
    """Blender's own projection, moved to pixel-centre coordinates (ours = Blender's - 0.5)."""
    v = world_to_camera_view(scene, cam, Vector(point))
    pct = scene.render.resolution_percentage / 100
    w, h = scene.render.resolution_x * pct, scene.render.resolution_y * pct
    return np.array([v.x * w - 0.5, (1 - v.y) * h - 0.5])


def our_pixel(scene, cam, point) -> np.ndarray:
    params = camera_params(scene, cam)
    cam_point = world_to_opencv(params) @ np.append(point, 1.0)
    return intrinsics_from_camera(params).project(cam_point[:3])


@pytest.fixture(scope="module")
def rigify_file(tmp_path_factory) -> Path:
    """One generated Rigify rig for the module, saved so every test starts from a clean copy."""
    fresh_scene()
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.pose.rigify_generate()
    path = tmp_path_factory.mktemp("rigify") / "rigify.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


@pytest.mark.parametrize("settings, render", [
    ({}, {}),
    ({"shift_x": 0.12, "shift_y": -0.07}, {}),
    ({"sensor_fit": "HORIZONTAL", "shift_y": 0.1}, {"resolution_x": 512, "resolution_y": 896}),
    ({"sensor_fit": "VERTICAL", "shift_x": -0.05, "lens": 35.0}, {}),
    ({"sensor_fit": "AUTO", "shift_x": 0.2}, {"resolution_x": 512, "resolution_y": 896}),
    ({"shift_x": 0.1, "shift_y": 0.05}, {"pixel_aspect_x": 2.0}),
    ({"sensor_fit": "VERTICAL", "shift_y": 0.15}, {"pixel_aspect_y": 1.5, "resolution_percentage": 50}),
    ({"sensor_fit": "AUTO"}, {"resolution_x": 600, "resolution_y": 500, "pixel_aspect_y": 1.4}),
])
def test_world_point_lands_on_blenders_pixel(settings: dict, render: dict) -> None:
    scene = fresh_scene()
    scene.render.resolution_x, scene.render.resolution_y = 896, 512
    for key, value in render.items():
        setattr(scene.render, key, value)
    cam = add_camera(scene, location=(0.7, -5.0, 1.4), rotation=(math.radians(80), 0.1, 0.3), **settings)
    cam.scale = (2.0, 2.0, 2.0)
    bpy.context.view_layer.update()
    for point in [(0.0, 0.0, 1.0), (0.8, 1.0, 0.2), (-1.2, 2.0, 2.5)]:
        np.testing.assert_allclose(our_pixel(scene, cam, point), blender_pixel(scene, cam, point), atol=0.5)
        assert np.abs(our_pixel(scene, cam, point) - blender_pixel(scene, cam, point)).max() < 1e-3


def test_camera_errors_say_what_to_do() -> None:
    scene = fresh_scene()
    with pytest.raises(CameraError, match="Camera from View"):
        camera_params(scene)
    cam = add_camera(scene, type="ORTHO")
    with pytest.raises(CameraError, match="orthographic"):
        camera_params(scene, cam)


def test_generated_rigify_rig_maps_fully_with_hands_and_face_bones(rigify_file: Path) -> None:
    bpy.ops.wm.open_mainfile(filepath=str(rigify_file))
    bonemap, report = map_armature(bpy.data.objects["rig"])
    assert report.ok and report.preset == "Rigify" and len(report.mapped) == 24, report.summary()
    assert bonemap.body[JOINT["left_shoulder"]].bone == "DEF-upper_arm.L"
    assert bonemap.body[JOINT["right_elbow"]].bone == "DEF-forearm.R"
    assert bonemap.body[JOINT["left_wrist"]].bone == "DEF-hand.L"
    assert bonemap.body[JOINT["right_knee"]].bone == "DEF-shin.R"
    assert bonemap.body[JOINT["neck"]].bone == "DEF-spine.004"
    assert bonemap.body[JOINT["head"]].bone == "DEF-spine.006"
    assert report.hands == {"left": 21, "right": 21}
    assert bonemap.hands["left"][1].bone == "DEF-thumb.01.L" and bonemap.hands["right"][20].end == "tail"
    # Eyes from the ORG eye bones (not the eye-target controls in front of the face), ears from DEF ears.
    assert report.face_from_rule == []
    assert [m.bone for m in bonemap.head_marks] == ["DEF-nose.002", "ORG-eye.R", "ORG-eye.L", "DEF-ear.R",
                                                   "DEF-ear.L"]
    # The metarig it was generated from maps the same way, to the same rest positions.
    meta_map, meta_report = map_armature(bpy.data.objects["metarig"])
    assert meta_report.ok and meta_report.preset == "Rigify" and meta_report.hands == report.hands
    assert meta_map.body[JOINT["left_shoulder"]].bone == "upper_arm.L" and meta_map.head_marks[2].bone == "eye.L"
    np.testing.assert_allclose(rest_points(bone_infos(bpy.data.objects["metarig"]), meta_map),
                               rest_points(bone_infos(bpy.data.objects["rig"]), bonemap), atol=1e-5)


def test_rigify_extraction_follows_the_pose_and_the_camera(rigify_file: Path) -> None:
    bpy.ops.wm.open_mainfile(filepath=str(rigify_file))
    scene = bpy.context.scene
    rig = bpy.data.objects["rig"]
    cam = add_camera(scene, shift_x=0.05)
    scene.render.resolution_x, scene.render.resolution_y = 896, 512
    rig.pose.bones["upper_arm_parent.L"]["IK_FK"] = 1.0  # drive the arm by its FK controls
    arm = rig.pose.bones["upper_arm_fk.L"]
    arm.rotation_mode = "XYZ"
    for frame, angle in ((1, 0.0), (3, 1.2)):
        arm.rotation_euler = (angle, 0.0, 0.0)
        arm.keyframe_insert("rotation_euler", frame=frame)
        rig.location = (0.3 * frame, 0.0, 0.0)
        rig.keyframe_insert("location", frame=frame)
    scene.frame_set(7)
    extractor = ClipExtractor(scene, [rig], frame_times=[1, 2, 3, 2.5])
    assert extractor.scales == [1.0]  # Rigify's metarig is a 2 m human
    steps = 0
    while not extractor.done:
        extractor.step()
        steps += 1
    assert steps == 4 and scene.frame_current == 7
    motion = extractor.motion()
    assert motion.joints.shape == (4, 1, 24, 3) and motion.hands.shape == (4, 1, 2, 21, 3)
    assert motion.image_size == (512, 896) and motion.person_ids == ["rig"]
    wrist = motion.joints[:, 0, JOINT["left_wrist"]]
    forearm = wrist - motion.joints[:, 0, JOINT["left_elbow"]]
    assert np.linalg.norm(forearm[2] - forearm[0]) > 100  # the arm swung (mm), not only the body
    # Each extracted joint projects where Blender projects the deformation bone at that frame.
    for t, frame in enumerate([1, 2, 3]):
        scene.frame_set(frame)
        world = rig.matrix_world @ rig.pose.bones["DEF-hand.L"].head
        np.testing.assert_allclose(motion.intrinsics.project(wrist[t]), blender_pixel(scene, cam, world), atol=0.5)
        depth_mm = -(cam.matrix_world.inverted() @ world).z * 1000
        assert wrist[t, 2] == pytest.approx(depth_mm, rel=1e-4)
    assert np.all(motion.hands[:, 0, :, :, 2] > 0) and np.all(motion.head_marks[:, 0, :, 2] > 0)


def test_mixamo_and_unreal_rigs_built_in_blender_map_and_extract() -> None:
    for names, preset in (({k: "mixamorig:" + v for k, v in MIXAMO.items()}, "Mixamo"),
                          (UNREAL, "Unreal mannequin")):
        scene = fresh_scene()
        obj = build_armature(scene, "Char", skeleton(names, fingers=True))
        bonemap, report = map_armature(obj)
        assert report.ok and report.preset == preset, report.summary()
        assert len(bone_infos(obj)) == len(obj.data.bones)
        assert report.hands == {"left": 21, "right": 21}
        add_camera(scene)
        motion = ClipExtractor(scene, [obj], frame_times=[1]).run()
        # Camera 6 m in front of the character, looking at it: the pelvis is about 6000 mm deep.
        assert motion.joints[0, 0, JOINT["pelvis"], 2] == pytest.approx(6000, abs=10)
        assert np.all(motion.joints[0, 0, :, 2] > 5000)


def test_missing_arm_is_refused_with_the_joint_names() -> None:
    scene = fresh_scene()
    bones = [b for b in skeleton(MIXAMO) if b[0] not in ("LeftForeArm", "LeftHand")]
    obj = build_armature(scene, "NoArm", bones)
    add_camera(scene)
    _, report = map_armature(obj)
    assert report.missing_required == ["left_elbow", "left_wrist"]
    with pytest.raises(RigMappingError, match="left_elbow.*left_wrist"):
        ClipExtractor(scene, [obj])
    with pytest.raises(RigMappingError, match="armature"):
        ClipExtractor(scene, [scene.camera])


# CMU-style skeleton in centimetres, Y up, facing +Z: (name, offset, children); "" is an end site.
_CMU_LEFT_LEG = ("LHipJoint", (0, 0, 0), [("LeftUpLeg", (10, -5, 0), [("LeftLeg", (0, -45, 0), [
    ("LeftFoot", (0, -45, 0), [("LeftToeBase", (0, -8, 12), [("", (0, 0, 6), [])])])])])])
_CMU_LEFT_ARM = ("LeftShoulder", (2, 12, 0), [("LeftArm", (15, 0, 0), [("LeftForeArm", (27, 0, 0), [
    ("LeftHand", (25, 0, 0), [("", (8, 0, 0), [])])])])])


def _mirror(node: tuple) -> tuple:
    name, (x, y, z), children = node
    name = name.replace("Left", "Right").replace("LHip", "RHip")
    return name, (-x, y, z), [_mirror(c) for c in children]


CMU_SKELETON = ("Hips", (0, 0, 0), [
    _CMU_LEFT_LEG, _mirror(_CMU_LEFT_LEG),
    ("LowerBack", (0, 5, 0), [("Spine", (0, 15, 0), [("Spine1", (0, 15, 0), [
        ("Neck", (0, 15, 0), [("Neck1", (0, 5, 0), [("Head", (0, 5, 0), [("", (0, 20, 0), [])])])]),
        _CMU_LEFT_ARM, _mirror(_CMU_LEFT_ARM)])])]),
])


def write_bvh(path: Path, root: tuple, frames: list[tuple[float, float, float]]) -> None:
    """A BVH file whose root translates through ``frames`` while every joint keeps its rest rotation."""
    lines: list[str] = []
    joints = 0

    def emit(node: tuple, depth: int) -> None:
        nonlocal joints
        name, offset, children = node
        pad = "  " * depth
        kind = "ROOT" if depth == 0 else "JOINT"
        lines.append(f"{pad}{kind} {name}" if name else f"{pad}End Site")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {offset[0]} {offset[1]} {offset[2]}")
        if name:
            joints += 1
            position = "Xposition Yposition Zposition " if depth == 0 else ""
            count = 6 if depth == 0 else 3
            lines.append(f"{pad}  CHANNELS {count} {position}Zrotation Xrotation Yrotation")
        for child in children:
            emit(child, depth + 1)
        lines.append(pad + "}")

    emit(root, 0)
    rotations = " ".join(["0"] * (3 * joints))
    lines += ["MOTION", f"Frames: {len(frames)}", "Frame Time: 0.0333333"]
    lines += [f"{x} {y} {z} {rotations}" for x, y, z in frames]
    path.write_text("HIERARCHY\n" + "\n".join(lines) + "\n")


def test_cmu_bvh_in_centimetres_maps_and_is_scaled_to_human_size(tmp_path: Path) -> None:
    scene = fresh_scene()
    path = tmp_path / "walk.bvh"
    write_bvh(path, CMU_SKELETON, [(0, 100, 0), (40, 100, 0)])  # the second frame steps 40 cm sideways
    bpy.ops.import_anim.bvh(filepath=str(path), update_scene_fps=False, update_scene_duration=True)
    obj = next(o for o in scene.objects if o.type == "ARMATURE")
    bonemap, report = map_armature(obj)
    assert report.ok and report.preset == "CMU/BVH" and len(report.mapped) == 24, report.summary()
    # Camera 6 m = 600 units away in the rig's centimetre world, facing the character.
    cam = add_camera(scene, location=(0.0, 600.0, 100.0), rotation=(math.radians(90), 0.0, math.radians(180)))
    cam.data.clip_end = 10000
    extractor = ClipExtractor(scene, [Character(obj)], frame_times=[1, 2])
    height = extractor.heights_m[0]
    assert 150 < height < 200  # read as a 1.7 km giant: the file is in centimetres
    assert extractor.scales[0] == pytest.approx(1.70 / height)
    motion = extractor.run()
    joints = motion.joints[:, 0]
    # Human-sized after scaling: a 1.7 m person has about 1.45 m from head joint to ankle, and the
    # camera 600 units away stands about 6 m away.
    span = np.linalg.norm(joints[0, JOINT["head"]] - joints[0, JOINT["left_ankle"]])
    assert 1300 < span < 1600
    assert 5000 < joints[0, JOINT["pelvis"], 2] < 7500
    # Projections are those of the unscaled scene: the 40-unit step is seen where Blender sees it.
    for t, frame in enumerate((1, 2)):
        scene.frame_set(frame)
        world = obj.matrix_world @ obj.pose.bones["LeftHand"].head
        np.testing.assert_allclose(motion.intrinsics.project(joints[t, JOINT["left_wrist"]]),
                                   blender_pixel(scene, cam, world), atol=0.5)
    # The manual scale wins over the automatic one.
    manual = ClipExtractor(scene, [Character(obj, scale=0.02)], frame_times=[1]).run()
    np.testing.assert_allclose(manual.joints[0, 0], joints[0] * 0.02 / extractor.scales[0], rtol=1e-4)


def test_centimetre_unit_scale_is_already_human(tmp_path: Path) -> None:
    scene = fresh_scene()
    scene.unit_settings.scale_length = 0.01
    obj = build_armature(scene, "Cm", skeleton(MIXAMO, scale=100.0))
    add_camera(scene, location=(0.0, -600.0, 100.0))
    extractor = ClipExtractor(scene, [obj], frame_times=[1])
    assert extractor.heights_m[0] == pytest.approx(1.76, abs=0.05) and extractor.scales == [1.0]
    pelvis = extractor.run().joints[0, 0, JOINT["pelvis"]]
    assert pelvis[2] == pytest.approx(6000, abs=10)


def test_sample_pose_matches_pose_bones(rigify_file: Path) -> None:
    bpy.ops.wm.open_mainfile(filepath=str(rigify_file))
    rig = bpy.data.objects["rig"]
    bonemap, _ = map_armature(rig)
    points = sample_pose(rig, bonemap)
    np.testing.assert_allclose(points[JOINT["left_knee"]], rig.matrix_world @ rig.pose.bones["DEF-shin.L"].head,
                               atol=1e-6)
    np.testing.assert_allclose(points[66 + 2], rig.matrix_world @ rig.pose.bones["ORG-eye.L"].tail, atol=1e-6)
