# Two entry points for people (see README): `make demo` and `make test`.
# Both create or refresh .venv from pyproject.toml before running.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The oldest supported Blender's bpy module (pyproject's oldest-blender extra) in a venv of its
# own: `make test` runs the Blender tests marked oldest_blender in it as well (SCAIL_BPY_PYTHON).
OLDEST_VENV := .venv-bpy4.2
OLDEST_STAMP := $(OLDEST_VENV)/.installed


.PHONY: venv demo test lint extension bench clean gltf-validator

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

$(OLDEST_STAMP): pyproject.toml
	test -x $(OLDEST_VENV)/bin/python || $(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install -q -e '.[oldest-blender]'
	touch $(OLDEST_STAMP)

# Khronos glTF-Validator (npm) for the GLB tests; skipped quietly where npm is missing.
gltf-validator:
	command -v npm >/dev/null && cd tools/gltf_validator && npm install --no-audit --no-fund -q || true

demo: $(STAMP)
	$(PY) tools/demo.py --out demo $(DEMO_ARGS)

test: $(STAMP) $(OLDEST_STAMP) gltf-validator
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider
	SCAIL_BPY_PYTHON=$(abspath $(OLDEST_VENV))/bin/python $(PY) -m pytest -q -p no:cacheprovider -m oldest_blender tests/blender

lint: $(STAMP)
	$(VENV)/bin/ruff check .

extension: $(STAMP)
	$(PY) tools/build_extension.py --out dist

bench: $(STAMP)
	$(PY) bench/render_pose.py
	$(PY) bench/render_blend.py

clean:
	rm -rf build dist demo .pytest_cache
