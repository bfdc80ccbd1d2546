"""Place a clip in the Sequencer beside a busy channel, then place it again later; report
where each copy landed, how many strips remain and whether prefetch was restored.

Parameters: ``clip`` (12 frames at 24 fps), ``other`` (30 frames at 24 fps).
"""

import bpy

from scail_blender.blender.compat import strips
from scail_blender.blender.sequencer import place_movie

from tests.blender.scripts.common import emit, params

p = params()
scene = bpy.context.scene
scene.render.fps = 24
editor = scene.sequence_editor_create()
editor.use_prefetch = True
strips(editor).new_movie("busy", p["other"], channel=1, frame_start=1)
strip = place_movie(scene, p["clip"], 10, 12)
first = [strip.channel, strip.frame_final_start, strip.frame_final_duration]
again = place_movie(scene, p["clip"], 40, 12)
names = sorted(s.name for s in strips(editor))
emit({"first": first, "again": [again.channel, again.frame_final_start, again.frame_final_duration, len(names)],
      "prefetch": editor.use_prefetch})
