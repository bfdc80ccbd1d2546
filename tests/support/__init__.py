"""Helpers every test folder shares.

Tests that need a pristine Blender (installing the extension, register cycles) run the bpy
module in a child process, because bpy keeps its state for the life of a process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter of this venv; fail the test with its output on error."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(f"child python failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_script(script: str | Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> dict:
    """Run a test script (bpy work lives in real files) in a fresh interpreter; its last stdout
    line is JSON and comes back as a dict. A failing script fails the test with its output."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), full_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{Path(script).name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        pytest.fail(f"{Path(script).name} printed nothing; it must end by printing one JSON line")
    return json.loads(lines[-1])
