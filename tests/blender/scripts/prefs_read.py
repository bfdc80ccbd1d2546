"""In a fresh Blender, load the user preferences saved by ``prefs_save.py`` from the same
BLENDER_USER_RESOURCES folder (the bpy module starts from factory settings) and report the
add-on's state and preferences."""

import importlib

import bpy
import addon_utils  # importable only once bpy is

from tests.blender.scripts.common import emit

NAME = "bl_ext.user_default.scail_blender"

report = {"read": sorted(bpy.ops.wm.read_userpref())}
report["enabled"] = addon_utils.check(NAME)[1]
addon = bpy.context.preferences.addons.get(NAME)
preferences = addon.preferences if addon else None
report["is_scail"] = isinstance(preferences, importlib.import_module(NAME + ".blender.prefs").ScailPreferences)
report["output_policy"] = preferences.output_policy if preferences else None
report["output_folder"] = preferences.output_folder if preferences else None
emit(report)
