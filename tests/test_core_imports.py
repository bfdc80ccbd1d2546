"""The bpy-free core imports with bpy and torch unavailable (design rule)."""

from __future__ import annotations

import pkgutil

import scail_blender

from .conftest import run_python

# The Blender skin: the only modules allowed to import bpy.
SKIN = ("scail_blender.addon", "scail_blender.operators", "scail_blender.ui", "scail_blender.props",
        "scail_blender.prefs", "scail_blender.rig.armature", "scail_blender.rig.blender_camera",
        "scail_blender.rig.extract", "scail_blender.rig.build", "scail_blender.draw", "scail_blender.compat",
        "scail_blender.sequencer", "scail_blender.characters", "scail_blender.scene_render")
# Modules that compute tensors and may import torch at the top. The job contract is the
# exception inside the backend: clients and the server read it without torch.
TORCH = ("scail_blender.backend.", "scail_blender.pose.render_torch")
TORCH_FREE = ("scail_blender.backend.jobs", "scail_blender.backend.runner", "scail_blender.backend.client")


def core_modules() -> list[str]:
    names = ["scail_blender"]
    for info in pkgutil.walk_packages(scail_blender.__path__, prefix="scail_blender."):
        if info.name in TORCH_FREE or not info.name.startswith(SKIN + TORCH):
            names.append(info.name)
    return names


BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError(f'{name} is blocked in this test')
        return None
sys.meta_path.insert(0, Block())
"""


def test_core_imports_without_bpy_and_torch() -> None:
    modules = core_modules()
    code = f"BLOCKED = {{'bpy', 'torch', 'mathutils', 'gpu'}}\n{BLOCKER}\n" + "\n".join(
        f"import {name}" for name in modules
    ) + "\nprint('imported', len(sys.modules))\n"
    proc = run_python(code)
    assert "imported" in proc.stdout


def test_blocker_really_blocks() -> None:
    """Guard the guard: the same blocker makes importing bpy fail."""
    code = f"BLOCKED = {{'bpy'}}\n{BLOCKER}\ntry:\n    import bpy\nexcept ImportError:\n    print('blocked')\n"
    assert "blocked" in run_python(code).stdout
