"""Render SCAIL-2 references from a scene of dancers with body meshes, then turntable views.

Parameters: ``folder`` (outputs), ``engine`` (EEVEE or WORKBENCH), ``mode``, ``people`` (1 or
2), ``views`` (extra views to render, may be empty), ``no_mesh`` (add a character without a
mesh and expect the refusal), ``size`` [H, W], ``save`` (save the scene there instead, for the command line),
``break_engines`` (renders fail unless in Cycles). Reports the scene settings before and after, the
plan's colours and notes, and each file written.
"""

from pathlib import Path
from types import SimpleNamespace

import bpy

from scail_blender.blender.reference_render import plan_reference, render_reference
from scail_blender.blender.reference_views import render_views
from scail_blender.errors import ScailError

from tests.blender.scripts.common import add_rigify_dancer, bodies_scene, emit, params


def state(scene: bpy.types.Scene) -> dict:
    r = scene.render
    return {"engine": r.engine, "res": [r.resolution_x, r.resolution_y, r.resolution_percentage],
            "film": r.film_transparent, "camera": scene.camera.name, "frame": scene.frame_current,
            "hidden": sorted(o.name for o in scene.objects if o.hide_render), "path": r.filepath,
            "light": scene.display.shading.light, "cycles_samples": scene.cycles.samples,
            "sequencer": r.use_sequencer}


def break_engines() -> None:
    """Make every render but a Cycles one fail, as an engine without a GPU context would."""
    import scail_blender.blender.reference_render as module

    real = module.bpy

    def render(**kwargs):
        if real.context.scene.render.engine != "CYCLES":
            raise RuntimeError("Error: cannot render here (test)")
        return real.ops.render.render(**kwargs)

    class Bpy:  # the module as reference_render sees it, with that render
        ops = SimpleNamespace(render=SimpleNamespace(render=render))

        def __getattr__(self, name):
            return getattr(real, name)

    module.bpy = Bpy()


p = params()
folder = Path(p["folder"])
if p.get("break_engines"):
    break_engines()
scene, rigs = bodies_scene(p["people"])
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
