"""Render SCAIL-2 references from a scene of dancers with body meshes, then turntable views.

Parameters: ``folder`` (outputs), ``engine`` (EEVEE or WORKBENCH), ``mode``, ``people`` (1 or
2), ``views`` (extra views to render, may be empty), ``no_mesh`` (add a character without a
mesh and expect the refusal), ``size`` [H, W], ``save`` (save the scene there instead, for the command line). Reports the scene settings before and after, the
plan's colours and notes, and each file written.
"""

from pathlib import Path

import bpy

from scail_blender.blender.reference_render import plan_reference, render_reference
from scail_blender.blender.reference_views import render_views
from scail_blender.errors import ScailError

from tests.blender.scripts.common import add_camera, add_rigify_dancer, emit, empty_scene, params


def body(rig: bpy.types.Object) -> bpy.types.Object:
    """A cylinder for a body, riding on the rig (armature parenting, as a skinned mesh would)."""
    bpy.ops.mesh.primitive_cylinder_add(radius=0.28, depth=1.8, location=(0.0, 0.0, 0.9))
    mesh = bpy.context.active_object
    mesh.name = f"{rig.name}Body"
    mesh.parent = rig  # identity parent inverse: the body stands where the rig stands
    mesh.parent_type = "ARMATURE"
    return mesh


def state(scene: bpy.types.Scene) -> dict:
    r = scene.render
    return {"engine": r.engine, "res": [r.resolution_x, r.resolution_y, r.resolution_percentage],
            "film": r.film_transparent, "camera": scene.camera.name, "frame": scene.frame_current,
            "hidden": sorted(o.name for o in scene.objects if o.hide_render), "path": r.filepath,
            "light": scene.display.shading.light}


p = params()
folder = Path(p["folder"])
scene = empty_scene()
scene.render.fps = 24
scene.frame_start, scene.frame_end = 1, 20
scene.render.resolution_x, scene.render.resolution_y = 1920, 1080
scene.eevee.taa_render_samples = 1
hero = add_rigify_dancer(scene, "Hero", (-0.8, 0.0, 0.0), frames=(1, 20))
body(hero)
rigs = [hero]
if p["people"] > 1:
    extra = add_rigify_dancer(scene, "Extra", (0.9, 0.6, 0.0), phase=2.0, frames=(1, 20))
    body(extra)
    rigs.append(extra)
bpy.ops.mesh.primitive_plane_add(size=20)  # a floor: in the scene, never in the reference
bpy.data.objects.new("Lamp", bpy.data.lights.new("Lamp", "SUN"))
scene.collection.objects.link(bpy.data.objects["Lamp"])
add_camera(scene)
scene.frame_set(7)
if p.get("save"):
    bpy.ops.wm.save_as_mainfile(filepath=p["save"])
    emit({"saved": p["save"]})
result = {"before": state(scene)}
if p.get("no_mesh"):
    add_rigify_dancer(scene, "Ghost", (0.0, 2.0, 0.0), frames=(1, 20))
    try:
        plan_reference(scene, folder / "ref.png", folder / "ref_mask.png", engine=p["engine"], mode=p["mode"])
    except ScailError as exc:
        result["refused"] = str(exc)
    emit(result)

plan = plan_reference(scene, folder / "ref.png", folder / "ref_mask.png", engine=p["engine"], mode=p["mode"],
                      size=tuple(p["size"]), backdrop=(255, 255, 255))
render_reference(plan)
views = render_views(plan, p["views"]) if p["views"] else []
result.update(after=state(scene), frame=plan.frame, identities=plan.identities.tolist(),
              names=[c.obj.name for c in plan.characters], notes=plan.notes,
              views=[[str(a), str(b)] for a, b in views],
              cameras=sorted(o.name for o in bpy.data.collections["SCAIL Views"].objects) if views else [])
emit(result)
