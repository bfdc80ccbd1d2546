"""Helpers every test folder shares.

Tests that need a pristine Blender (installing the extension, register cycles) run the bpy
module in a child process, because bpy keeps its state for the life of a process. The child
runs a real script file, so its tracebacks point into that file and the linter reads it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


# The interpreter the Blender scripts (tests/blender/scripts/) run in: this venv's (bpy 5.0.1) unless
# SCAIL_BPY_PYTHON names another, such as the venv `make test` builds with the oldest supported bpy.
BPY_PYTHON_ENV = "SCAIL_BPY_PYTHON"
BLENDER_SCRIPTS = ROOT / "tests" / "blender" / "scripts"


def bpy_python() -> str:
    """The interpreter of the Blender scripts: ``$SCAIL_BPY_PYTHON`` if set, else this process's own."""
    return os.environ.get(BPY_PYTHON_ENV) or sys.executable


def run_script(path: str | os.PathLike, *args: str | os.PathLike | dict, env: dict[str, str] | None = None,
               timeout: float = 300) -> Any:
    """Run the script ``path`` in a fresh interpreter and return its last line, parsed as JSON.

    Blender scripts run in ``bpy_python()``, other scripts (import checks, start-up timing) in
    this process's own interpreter. A dict in ``args`` goes to the script as one JSON argument.
    The child runs from the repository root with it first on PYTHONPATH, so it imports this
    checkout of the package (the venv's editable install may point at another). The test fails
    with the child's output when it exits with an error or prints no JSON line.
    """
    import pytest  # here, not at the top: child scripts import tests.support under a bpy venv without pytest

    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "server"), *filter(None, [full_env.get("PYTHONPATH")])])
    argv = [json.dumps(a) if isinstance(a, dict) else str(a) for a in args]
    python = bpy_python() if BLENDER_SCRIPTS in Path(path).resolve().parents else sys.executable
    proc = subprocess.run([python, str(path), *argv], cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    output = f"{path} {' '.join(argv)}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    if proc.returncode != 0:
        pytest.fail(f"child python failed ({proc.returncode}): {output}")
    lines = proc.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        pytest.fail(f"child python printed no JSON line last: {output}")
