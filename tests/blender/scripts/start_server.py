"""Start Local Server from the panel with this interpreter as the "Python with torch", wait for
its health check through the job timer, then disable the add-on; report what was seen.

Parameters: ``checkpoint``, ``port``.
"""

import sys
import time

import bpy
import addon_utils  # importable only once bpy is
import requests

from scail_blender.blender import backends, board, prefs

from tests.blender.scripts.common import emit, params

p = params()
addon_utils.enable("scail_blender", default_set=True)
preferences = prefs.preferences()
preferences.python_path, preferences.checkpoint_dir = sys.executable, p["checkpoint"]
preferences.server_url = f"http://127.0.0.1:{p['port']}"
bpy.ops.scail.start_server()
server = backends.local_server()
activity = board.activities["server"]
board.drain_until(lambda: activity.state in {"ok", "failed"}, 120.0)
report = {"state": activity.state, "message": activity.message, "command": server.command,
          "health": requests.get(preferences.server_url + "/v1/health", timeout=5).status_code,
          "again": bpy.ops.scail.start_server.poll()}
addon_utils.disable("scail_blender", default_set=True)
time.sleep(0.2)
report["running_after_disable"] = server.running
emit(report)
