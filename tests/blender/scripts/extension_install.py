"""Install the built extension zip into the user folder of BLENDER_USER_RESOURCES, enable,
disable and enable it again, then write an mp4 with only the imageio-ffmpeg and Pillow wheels
the extension bundles importable; report each step.

Parameters: ``zip``, ``video`` (the mp4 to write), ``frames_dir``.
"""

import importlib
import importlib.abc
import importlib.machinery
import sys

import bpy
import addon_utils  # importable only once bpy is
import numpy as np

from tests.blender.scripts.common import emit, params

NAME = "bl_ext.user_default.scail_blender"
BUNDLED = ("imageio_ffmpeg", "PIL")

p = params()
report = {"install": sorted(bpy.ops.extensions.package_install_files(filepath=p["zip"], repo="user_default",
                                                                     enable_on_install=True))}
report["enabled"] = addon_utils.check(NAME)[1]
report["torch"] = "torch" in sys.modules
addon_utils.disable(NAME)
report["after_disable"] = addon_utils.check(NAME)[1]
addon_utils.enable(NAME)
report["after_enable"] = addon_utils.check(NAME)[1]

# Only the wheels the extension brought may provide imageio_ffmpeg and PIL from here on.
site = bpy.utils.user_resource("EXTENSIONS", path=".local/lib/python3.11/site-packages")


class BundledOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in BUNDLED:
            spec = importlib.machinery.PathFinder.find_spec(fullname, [site])
            if spec is None:
                raise ImportError(fullname + " is not bundled with the extension")
            return spec
        return None


sys.meta_path.insert(0, BundledOnly())
for module in [m for m in sys.modules if m.split(".")[0] in BUNDLED]:
    del sys.modules[module]
video = importlib.import_module(NAME + ".media.video")
frames = [np.full((32, 48, 3), 40 * k, np.uint8) for k in range(5)]
video.write_video(frames, p["video"], 16, frames_dir=p["frames_dir"])
info = video.probe_video(p["video"])
report["probe"] = [info.frames, info.width, info.height]
imageio_ffmpeg = importlib.import_module("imageio_ffmpeg")
report["ffmpeg_from"], report["site"] = imageio_ffmpeg.__file__, site
emit(report)
