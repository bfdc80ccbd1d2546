"""The shape of the house, checked over every module: who may import whom, no circles, small files.

Rules (docs/architecture.md draws them), all by package, so a new module is checked the day it
appears and no list of modules is kept by hand:
- Layers run one way: base <- media <- pose <- motion <- rig, extract <- jobs <- engine <-
  commands, the server, the Blender skin. A package imports only itself and the layers below.
- ``jobs/`` imports neither torch nor ``engine/``; torch is imported at module level only in
  ``engine/`` and ``pose/render_torch``. Everything else imports with torch, bpy, mathutils and gpu
  blocked.
- The Blender skin (``blender/`` + ``operators/``) reaches ``engine/`` only inside the functions
  that run a job in Blender's process; nothing imports the skin except the add-on entry point and
  a command that opens a .blend (inside the command).
- No import circle between modules (imports inside functions count too), no module over 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import ROOT, run_script

PACKAGE = ROOT / "scail_blender"
SERVER = ROOT / "server"
MAX_LINES = 400

BASE = ("scail_blender.errors", "scail_blender.progress", "scail_blender.timing", "scail_blender.outputs")
SKIN = ("scail_blender.blender", "scail_blender.operators")
# Each layer with the layers it may import (itself always allowed), bottom up.
LAYERS: dict[str, tuple[str, ...]] = {"scail_blender.errors": ()}
for _base in BASE[1:]:
    LAYERS[_base] = BASE
_below: tuple[str, ...] = BASE
for _layer in ("media", "pose", "motion", ("rig", "extract"), "jobs", "engine"):
    _names = tuple(f"scail_blender.{n}" for n in ((_layer,) if isinstance(_layer, str) else _layer))
    for _name in _names:
        LAYERS[_name] = _below
    _below = (*_below, *_names)
CORE = _below
ENGINE = ("scail_blender.engine",)
BELOW_ENGINE = tuple(p for p in CORE if p not in ENGINE)
LAYERS |= {
    "scail_blender.commands": (*CORE, "scail_blender.cli", "scail_server"),
    "scail_blender.cli": (*BASE, "scail_blender.commands"),
    "scail_server": CORE,
    # the skin reaches the engine only inside functions (see wrong_imports)
    "scail_blender.blender": (*BELOW_ENGINE, *SKIN),
    "scail_blender.operators": (*BELOW_ENGINE, *SKIN),
}
# Where torch may be imported when the module is loaded.
TORCH_AT_IMPORT = ("scail_blender.engine", "scail_blender.pose.render_torch")


def module_files() -> dict[str, Path]:
    files = {}
    for root, paths in ((ROOT, sorted(PACKAGE.rglob("*.py"))), (SERVER, sorted(SERVER.rglob("*.py")))):
        for path in paths:
            parts = path.relative_to(root).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def imports(name: str, path: Path, files: dict[str, Path]) -> list[tuple[str, bool]]:
    """(imported project module, at module level?) for every import of the project's own packages.

    ``from package import name`` counts as importing ``package.name`` when that is a module, else
    ``package``; an import of a module that does not exist is returned as it is, for the caller to
    report.
    """
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    top_level |= {id(n) for node in tree.body if isinstance(node, ast.If | ast.Try) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in files else target for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        found += [(t, id(node) in top_level) for t in dict.fromkeys(targets)
                  if t.split(".")[0] in ("scail_blender", "scail_server")]
    return found


def layer(name: str) -> str:
    return max((p for p in LAYERS if under(name, (p,))), key=len)


def wrong_imports(files: dict[str, Path]) -> list[str]:
    wrong = []
    for name, path in files.items():
        if name == "scail_blender":
            continue  # the add-on entry point: register() loads the skin
        allowed = (*LAYERS[layer(name)], layer(name))
        for target, top in imports(name, path, files):
            if target not in files:
                wrong.append(f"{name} imports {target}, which does not exist")
            elif target == "scail_blender":
                continue
            elif under(target, SKIN) and name.startswith("scail_blender.commands.") and not top:
                continue  # opening a .blend from the command line, inside the command
            elif under(target, ENGINE) and under(name, SKIN) and not top:
                continue  # a job computed in Blender's own process, loaded when it runs
            elif not under(target, allowed):
                wrong.append(f"{name} imports {target}" + (" at module level" if top else ""))
    return wrong


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> modules it imports; a package's ``__init__`` counts only for what it imports itself."""
    return {name: {t for t, _ in imports(name, path, files) if t in files and t != name}
            for name, path in files.items()}


def test_dependencies_run_one_way() -> None:
    files = module_files()
    assert len(files) > 130 and "scail_blender.jobs.runner" in files and "scail_blender.engine.pipeline" in files
    assert wrong_imports(files) == []


def test_no_import_circles() -> None:
    assert circles(import_graph(module_files())) == []


def test_no_module_over_400_lines() -> None:
    long = {name: n for name, path in module_files().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_checkers_see_what_they_guard(tmp_path: Path) -> None:
    """Guard the guards: a relative import going down a layer wrongly, the skin loading the engine at
    module level, and a circle of three are all caught."""
    files = module_files()
    fake = tmp_path / "pose_thing.py"
    fake.write_text("from ..motion.model import Motion\n")
    assert imports("scail_blender.pose.pose_thing", fake, files) == [("scail_blender.motion.model", True)]
    skin = tmp_path / "panel.py"
    skin.write_text("from ..engine import pipeline\n\ndef run():\n    from ..engine.sampling import denoise\n")
    fake_files = files | {"scail_blender.pose.pose_thing": fake, "scail_blender.blender.panel": skin}
    assert wrong_imports(fake_files) == ["scail_blender.pose.pose_thing imports scail_blender.motion.model at module level",
                                         "scail_blender.blender.panel imports scail_blender.engine.pipeline at module level"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def torch_free_modules(files: dict[str, Path]) -> list[str]:
    return [name for name in files if not under(name, (*SKIN, *TORCH_AT_IMPORT))]


BLOCKED_IMPORTS = ROOT / "tests" / "scripts" / "import_blocked.py"


def test_core_imports_without_bpy_and_torch() -> None:
    modules = torch_free_modules(module_files())
    assert "scail_blender.jobs.runner" in modules and "scail_blender.engine.pipeline" not in modules
    result = run_script(BLOCKED_IMPORTS, {"blocked": ["bpy", "torch", "mathutils", "gpu"], "modules": modules})
    assert result["failed"] == {}
    assert result["imported"] == modules


def test_jobs_never_reach_the_engine_or_torch() -> None:
    """Importing every module of jobs/ loads no module of engine/ (checked in a fresh interpreter)."""
    modules = [name for name in module_files() if under(name, ("scail_blender.jobs",))]
    result = run_script(BLOCKED_IMPORTS, {"blocked": ["torch"], "modules": modules, "report_loaded": "scail_blender.engine"})
    assert result["failed"] == {} and result["loaded"] == []


def test_blocker_really_blocks() -> None:
    """Guard the guard: the same blocker makes importing bpy fail."""
    result = run_script(BLOCKED_IMPORTS, {"blocked": ["bpy"], "modules": ["bpy"]})
    assert result == {"imported": [], "failed": {"bpy": "bpy is blocked in this test"}}
