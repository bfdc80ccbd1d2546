"""The shape of the house, checked: who may import whom, and what imports without bpy or torch.

Rules (docs/architecture.md draws them):
- ``pose/`` (renderer, marks, video io) uses only the base modules (errors, progress, timing, outputs);
  ``motion/`` may use ``pose/``; ``rig/`` and ``extract/`` may use both; ``backend/`` the core;
  ``commands/``, ``scail_server`` and the Blender skin (``blender/`` + ``operators/``) sit on top.
- Nothing imports the Blender skin except the add-on entry point (``scail_blender/__init__``),
  the skin itself, and a command that opens a .blend, which may do so inside a function only.
- bpy is imported only by the skin; the core imports with bpy, mathutils, gpu and torch blocked
  (torch only where tensors are computed).
Rules are by package prefix, so a new module is checked the day it appears.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import scail_blender

from tests.support import ROOT, run_script

PACKAGE = ROOT / "scail_blender"
SERVER = ROOT / "server"
BASE = ("scail_blender.errors", "scail_blender.progress", "scail_blender.timing", "scail_blender.outputs")
SKIN = ("scail_blender.blender", "scail_blender.operators")
CORE = ("scail_blender.pose", "scail_blender.motion", "scail_blender.rig", "scail_blender.extract",
        "scail_blender.backend")
# package prefix -> the prefixes it may import (itself always included).
ALLOWED: dict[str, tuple[str, ...]] = {
    "scail_blender.errors": (),
    "scail_blender.progress": BASE,
    "scail_blender.timing": BASE,
    "scail_blender.outputs": BASE,
    "scail_blender.pose": BASE,
    "scail_blender.motion": (*BASE, "scail_blender.pose"),
    "scail_blender.rig": (*BASE, "scail_blender.pose", "scail_blender.motion"),
    "scail_blender.extract": (*BASE, "scail_blender.pose", "scail_blender.motion"),
    "scail_blender.backend": (*BASE, *CORE),
    "scail_blender.commands": (*BASE, *CORE, "scail_blender.commands", "scail_blender.cli", "scail_server"),
    "scail_blender.cli": (*BASE, "scail_blender.commands"),
    "scail_server": (*BASE, *CORE),
    "scail_blender.blender": (*BASE, *CORE, *SKIN),
    "scail_blender.operators": (*BASE, *CORE, *SKIN),
}
# Modules that compute tensors and may import torch at the top. The job contract is the
# exception inside the backend: clients and the server read it without torch.
TORCH = ("scail_blender.backend.", "scail_blender.pose.render_torch")
TORCH_FREE = ("scail_blender.backend.jobs", "scail_blender.backend.client", "scail_blender.backend.runner",
              # what the add-on loads when it is enabled (Generate's backends, the local server, pip)
              "scail_blender.backend.remote", "scail_blender.backend.local_server", "scail_blender.backend.install")


def module_files() -> dict[str, Path]:
    files = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for path in sorted(SERVER.rglob("*.py")) if SERVER.is_dir() else []:
        parts = path.relative_to(SERVER).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def imports(name: str, path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import of the project's own packages."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            targets = [target] + [f"{target}.{a.name}" for a in node.names]
            if target.split(".")[0] in ("scail_blender", "scail_server"):
                found.append((f"{MISSING_MARK}{target}", id(node) in top_level))
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in ("scail_blender", "scail_server"):
                found.append((target, id(node) in top_level))
    return found


MISSING_MARK = "from-module:"


def owner(name: str) -> str:
    return max((p for p in ALLOWED if name == p or name.startswith(p + ".")), key=len)


def is_module(target: str, files: dict[str, Path]) -> bool:
    return target in files


def test_dependencies_run_one_way() -> None:
    files = module_files()
    wrong, checked = [], 0
    for name, path in files.items():
        if name in ("scail_blender",):
            continue  # the add-on entry point: register() loads the skin
        rules = ALLOWED[owner(name)] + (owner(name),)
        for target, top in imports(name, path):
            if target.startswith(MISSING_MARK):
                base = target.removeprefix(MISSING_MARK)
                if base not in files:
                    wrong.append(f"{name} imports from {base}, which does not exist")
                continue
            if not is_module(target, files) or target == "scail_blender":
                continue
            if target.startswith(SKIN) and name.startswith("scail_blender.commands.") and not top:
                continue  # opening a .blend from the command line, inside the command
            checked += 1
            if not any(target == p or target.startswith(p + ".") for p in rules):
                wrong.append(f"{name} imports {target}")
    assert checked > 150 and wrong == []


def test_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    """Guard the guard: the resolver catches a relative import that goes the wrong way."""
    fake = tmp_path / "pose_thing.py"
    fake.write_text("from ..motion.model import Motion\n")
    assert ("scail_blender.motion.model", True) in imports("scail_blender.pose.pose_thing", fake)


def test_bpy_only_in_the_skin() -> None:
    stray = []
    for name, path in module_files().items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(m.split(".")[0] in ("bpy", "bpy_extras", "mathutils", "gpu") for m in mods):
                if not name.startswith(SKIN):
                    stray.append(name)
    assert stray == []


def core_modules() -> list[str]:
    names = ["scail_blender"]
    for info in pkgutil.walk_packages(scail_blender.__path__, prefix="scail_blender."):
        if info.name in TORCH_FREE or not info.name.startswith(SKIN + TORCH):
            names.append(info.name)
    return names


BLOCKED_IMPORTS = ROOT / "tests" / "scripts" / "import_blocked.py"


def test_core_imports_without_bpy_and_torch() -> None:
    modules = core_modules()
    assert "scail_blender.motion.pose_video" in modules and "scail_blender.backend.jobs" in modules
    server = [name for name in module_files() if name.startswith("scail_server")]
    result = run_script(BLOCKED_IMPORTS, {"blocked": ["bpy", "torch", "mathutils", "gpu"], "modules": modules + server})
    assert result["failed"] == {}
    assert result["imported"] == modules + server


def test_blocker_really_blocks() -> None:
    """Guard the guard: the same blocker makes importing bpy fail."""
    result = run_script(BLOCKED_IMPORTS, {"blocked": ["bpy"], "modules": ["bpy"]})
    assert result == {"imported": [], "failed": {"bpy": "bpy is blocked in this test"}}
