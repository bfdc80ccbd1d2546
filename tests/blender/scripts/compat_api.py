"""blender/compat.py on the running bpy: F-curves made twice are one curve, a channel group is
made once and reused, the F-curves read back are the ones made (on a legacy or a slotted action
alike), strips are listed on an editor. Prints one JSON line."""

import bpy

from scail_blender.blender import compat
from tests.blender.scripts.common import emit

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
empty = bpy.data.objects.new("Empty", None)
scene.collection.objects.link(empty)
unanimated = compat.fcurves(empty)
empty.animation_data_create()
action = bpy.data.actions.new("EmptyAction")
empty.animation_data.action = action
x = compat.fcurve_ensure(action, empty, "location", 0, "Move")
again = compat.fcurve_ensure(action, empty, "location", 0, "Move")
y = compat.fcurve_ensure(action, empty, "location", 1, "Move")
hidden = compat.fcurve_ensure(action, empty, "hide_render", 0)
x.keyframe_points.insert(1.0, 2.5)
scene.frame_set(1)
read = compat.fcurves(empty)
editor = scene.sequence_editor_create()
emit({"version": list(bpy.app.version), "unanimated": unanimated, "same": again == x,
      "curves": sorted((c.data_path, c.array_index, c.group.name if c.group else None) for c in read),
      "groups": sorted({c.group.name for c in read if c.group}), "one_group": x.group == y.group,
      "hidden_group": hidden.group.name if hidden.group else None, "x": empty.location.x,
      "strips": len(compat.strips(editor))})
