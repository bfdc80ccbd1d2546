"""The add-on's registration and operators in the bpy module (fresh Blender per test)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import run_python


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_register_unregister_three_times_is_clean() -> None:
    out = run_python("""
        import json, sys, bpy
        import scail_blender
        from scail_blender.blender import addon, draw
        seen = []
        for _ in range(3):
            scail_blender.register()
            seen.append([hasattr(bpy.types, "SCAIL_PT_main"), hasattr(bpy.types.Scene, "scail"),
                         hasattr(bpy.ops.scail, "render_pose") and bpy.ops.scail.render_pose.poll(),
                         draw._handle is not None])
            scail_blender.unregister()
            seen.append([hasattr(bpy.types, "SCAIL_PT_main"), hasattr(bpy.types.Scene, "scail"),
                         any(c.is_registered for c in addon.CLASSES), draw._handle is not None])
        print(json.dumps({"seen": seen, "torch": "torch" in sys.modules}))
        """)
    result = last_json(out.stdout)
    assert result["seen"] == [[True, True, True, True], [False, False, False, False]] * 3
    assert not result["torch"]


SCENE = """
import json, bpy
import scail_blender
from tools.demo_scene import add_camera, add_rigify_dancer, empty_scene
scail_blender.register()
scene = empty_scene()
scene.frame_start, scene.frame_end = 1, 5
rig = add_rigify_dancer(scene, "Dancer")
area = next(a for a in bpy.context.screen.areas if a.type == "VIEW_3D")
"""


def test_operators_through_bpy_ops(tmp_path: Path) -> None:
    out = run_python(SCENE + """
from scail_blender.errors import ScailError
for obj in scene.objects:
    obj.select_set(obj == rig)
bpy.context.view_layer.objects.active = rig
bpy.ops.scail.character_add()
character = scene.scail.characters[0]
report = {"character": character.armature.name, "mapped": character.mapped, "preset": character.preset}

# The overlay's segments: 13 limbs in world space, so they follow the rig when it moves.
from scail_blender.blender import draw
rig.location = (3.0, 0.0, 0.0)
bpy.context.view_layer.update()
coords, colors = draw._limb_lines(scene)
report["overlay"] = [len(coords), len(colors)]
report["overlay_x"] = [min(c[0] for c in coords), max(c[0] for c in coords)]
report["overlay_z"] = [min(c[2] for c in coords), max(c[2] for c in coords)]
rig.location = (0.0, 0.0, 0.0)
bpy.context.view_layer.update()

# No camera yet: the render refuses and names the fix; then Camera from View makes one.
try:
    bpy.ops.scail.render_pose()
except RuntimeError as exc:
    report["no_camera"] = str(exc)
space = area.spaces.active
space.region_3d.view_perspective = "PERSP"
space.region_3d.view_distance = 6.0
space.region_3d.view_location = (0.0, 0.0, 1.0)
with bpy.context.temp_override(area=area, region=next(r for r in area.regions if r.type == "WINDOW")):
    bpy.ops.scail.camera_from_view()
report["camera"] = scene.camera.name
report["resolution"] = [scene.render.resolution_x, scene.render.resolution_y]

# Manual bone choice: the left wrist on the tail of the forearm instead of the hand.
with bpy.context.temp_override(area=area):
    bpy.ops.scail.override_add()
override = character.overrides[0]
override.joint, override.bone, override.end = "left_wrist", "DEF-forearm.L.001", "tail"
bpy.ops.scail.character_remap()
report["remapped"] = character.mapped

bpy.ops.scail.preview_frame()
image = bpy.data.images["SCAIL Pose Preview"]
report["preview"] = list(image.size)
import numpy as np
pixels = np.empty(image.size[0] * image.size[1] * 4, np.float32)
image.pixels.foreach_get(pixels)
report["preview_lit"] = float(pixels.reshape(-1, 4)[:, :3].max())
print(json.dumps(report))
""")
    result = last_json(out.stdout)
    assert result["character"] == "Dancer" and result["mapped"] and result["remapped"]
    assert result["preset"] == "Rigify"
    assert result["overlay"] == [26, 26]
    assert 2.0 < result["overlay_x"][0] < result["overlay_x"][1] < 4.0
    assert 0.0 <= result["overlay_z"][0] < 0.3 and 1.3 < result["overlay_z"][1] < 2.2  # ankles to head
    assert "Camera from View" in result["no_camera"]
    assert result["camera"] == "SCAIL Camera"
    assert result["resolution"] == [896, 512]
    assert result["preview"] == [896, 512]
    assert result["preview_lit"] > 0.2, "the preview shows no skeleton"


def test_render_operator_writes_next_to_the_blend_and_adds_the_strip(tmp_path: Path) -> None:
    blend = tmp_path / "shot.blend"
    out = run_python(SCENE + f"""
add_camera(scene)
scene.render.fps = 16
bpy.ops.wm.save_as_mainfile(filepath={str(blend)!r})
scene = bpy.context.scene
rig = scene.objects["Dancer"]
scene.scail.characters.add().armature = rig
scene.scail.write_frames = True
result = bpy.ops.scail.render_pose()
strip = scene.sequence_editor.strips[0]
print(json.dumps({{"result": sorted(result), "file": bpy.path.abspath(strip.filepath), "raw": strip.filepath,
                  "start": strip.frame_final_start, "duration": strip.frame_final_duration}}))
""")
    result = last_json(out.stdout)
    assert result["result"] == ["FINISHED"]
    # Same rate in scene and video: the strip plays the pose video itself.
    assert result["file"] == str(tmp_path / "shot_Scene_pose.mp4")
    assert result["raw"] == "//shot_Scene_pose.mp4"  # relative, as Blender's own UI adds files
    assert (result["start"], result["duration"]) == (1, 5)
    assert len(list((tmp_path / "shot_Scene_pose").glob("*.png"))) == 5


def test_panels_draw_existing_properties_and_operators() -> None:
    """Panels never draw in background mode, so draw them into a layout that checks every
    property and operator it is given against the registered ones."""
    out = run_python(SCENE + """
from scail_blender.blender import prefs, ui

class Layout:
    def __init__(self, drawn):
        self.drawn = drawn
    def _child(self, *args, **kwargs):
        return Layout(self.drawn)
    row = column = box = split = _child
    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name}"
        self.drawn.append("prop " + name)
    def prop_search(self, data, name, search_data, search_name, **kwargs):
        assert name in data.bl_rna.properties and search_name in search_data.bl_rna.properties
        self.drawn.append("search " + name)
    def operator(self, idname, **kwargs):
        group, name = idname.split(".")
        assert hasattr(getattr(bpy.ops, group), name) and getattr(getattr(bpy.ops, group), name).get_rna_type()
        self.drawn.append("op " + idname)
    def template_list(self, list_type, list_id, data, name, active_data, active_name, **kwargs):
        assert hasattr(bpy.types, list_type) and name in data.bl_rna.properties
        assert active_name in active_data.bl_rna.properties
        self.drawn.append("list " + name)
    def template_ID(self, data, name, **kwargs):
        assert name in data.bl_rna.properties
        self.drawn.append("id " + name)
    def label(self, **kwargs):
        self.drawn.append("label")
    def progress(self, **kwargs):
        self.drawn.append("progress")

class Host:
    def __init__(self):
        self.drawn = []
        self.layout = Layout(self.drawn)

bpy.context.view_layer.objects.active = rig
rig.select_set(True)
bpy.ops.scail.character_add()
character = scene.scail.characters[0]
character.overrides.add()
character.show_map = True
scene.scail.size_preset = "CUSTOM"
scene.scail.use_scene_range = False
bpy.context.window_manager.scail_job.running = True
drawn = {}
for panel in ui.CLASSES:
    if issubclass(panel, bpy.types.Panel):
        host = Host()
        panel.draw(host, bpy.context)
        drawn[panel.__name__] = host.drawn
class PreferencesHost(Host):
    bl_rna = prefs.ScailPreferences.bl_rna
    backend = "SERVER"
host = PreferencesHost()
prefs.ScailPreferences.draw(host, bpy.context)
drawn["preferences"] = host.drawn
print(json.dumps(drawn))
""")
    drawn = last_json(out.stdout)
    assert "progress" in drawn["SCAIL_PT_main"] and "op scail.cancel" in drawn["SCAIL_PT_main"]
    characters = drawn["SCAIL_PT_characters"]
    assert "list characters" in characters and "list overrides" in characters
    assert characters.count("label") > 24, "the bone map of the Rigify rig should be listed"
    camera = drawn["SCAIL_PT_camera_output"]
    assert {"prop width", "prop height", "prop fps", "op scail.camera_from_view"} <= set(camera)
    assert "id reference_image" in drawn["SCAIL_PT_reference"]
    assert {"prop output_policy", "prop server_url", "prop server_token", "prop smpl_dir"} <= set(drawn["preferences"])


def test_modal_operator_steps_reports_progress_and_cancels_on_esc(tmp_path: Path) -> None:
    """Background Blender has no event loop, so feed the operator's modal() the timer and Esc
    events it would get in a window, exactly as Blender calls it."""
    out = run_python(SCENE + f"""
import time
from pathlib import Path
from types import SimpleNamespace
from scail_blender.operators.render_pose import SCAIL_OT_render_pose, TICK_S
from scail_blender.blender.scene_render import PoseRenderJob, plan_pose_render
add_camera(scene)
scene.frame_end = 30
scene.frame_set(7)
wm = bpy.context.window_manager

def drive(esc_after=None):
    reports = []
    op = SimpleNamespace(report=lambda level, text: reports.append((sorted(level)[0], text)))
    op._job = PoseRenderJob(plan_pose_render(scene, Path({str(tmp_path / "pose.mp4")!r})))
    op._timer = wm.event_timer_add(TICK_S, window=bpy.context.window)
    op._end = SCAIL_OT_render_pose._end.__get__(op)
    wm.scail_job.running = True
    seen, steps = [], 0
    while True:
        kind = "ESC" if steps == esc_after else "TIMER"
        result = SCAIL_OT_render_pose.modal(op, bpy.context, SimpleNamespace(type=kind))
        steps += 1
        seen.append(round(wm.scail_job.progress, 3))
        time.sleep(TICK_S)  # the timer's interval, during which Blender is idle
        if result & {{"FINISHED", "CANCELLED"}}:
            return {{"result": sorted(result), "reports": reports, "running": wm.scail_job.running,
                    "rising": seen == sorted(seen), "steps": steps, "frame": scene.frame_current,
                    "strips": len(scene.sequence_editor.strips) if scene.sequence_editor else 0}}

cancelled = drive(esc_after=1)
finished = drive()
print(json.dumps({{"cancelled": cancelled, "finished": finished}}))
""")
    result = last_json(out.stdout)
    cancelled, finished = result["cancelled"], result["finished"]
    assert cancelled["result"] == ["CANCELLED"] and cancelled["reports"][0][0] == "WARNING"
    assert not cancelled["running"] and cancelled["frame"] == 7 and cancelled["strips"] == 0
    assert finished["result"] == ["FINISHED"] and finished["reports"][0][0] == "INFO"
    assert not finished["running"] and finished["rising"] and finished["steps"] > 2
    assert finished["frame"] == 7 and finished["strips"] == 1
    assert (tmp_path / "pose.24fps.mp4").exists()
