"""Install and enable the built extension zip, read its preferences as Blender keys them (by
the installed root package), change two of them and save the user preferences; report what
was found.

Parameters: ``zip``, ``folder`` (the output folder to store in the preferences).
"""

import importlib

import bpy

from tests.blender.scripts.common import emit, params

NAME = "bl_ext.user_default.scail_blender"

p = params()
report = {"install": sorted(bpy.ops.extensions.package_install_files(filepath=p["zip"], repo="user_default",
                                                                     enable_on_install=True))}
module = importlib.import_module(NAME + ".blender.prefs")
addon = bpy.context.preferences.addons.get(NAME)
preferences = addon.preferences if addon else None
report["registered"] = addon is not None
report["bl_idname"] = module.ScailPreferences.bl_idname
report["is_scail"] = isinstance(preferences, module.ScailPreferences)
report["found_by_the_addon"] = preferences is not None and module.preferences() == preferences
if preferences is not None:
    preferences.output_policy = "FOLDER"
    preferences.output_folder = p["folder"]
report["save"] = sorted(bpy.ops.wm.save_userpref())
emit(report)
