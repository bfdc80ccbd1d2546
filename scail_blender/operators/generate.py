"""Generate, the job list's buttons, Release Model, Start Local Server, Install Engine and Get Models.

Thin: the work is in ``blender/generate.py`` and ``blender/board.py`` (and the bpy-free
``jobs/`` package); operators turn their typed errors into reports. Cancel and Remove act on any
row of the board: a generation, an extraction or a pose render.
"""

from __future__ import annotations

import os
import sys
import threading

import bpy

from ..blender import backends, board, generate, prefs
from ..errors import Cancelled, InputError, ScailError


class SCAIL_OT_generate(bpy.types.Operator):
    """Send a SCAIL job (reference, pose video, prompt, settings) to the preferences' backend; the result lands above its pose strip"""

    bl_idname = "scail.generate"
    bl_label = "Generate"

    def execute(self, context):
        try:
            job, placement = generate.job_from_panel(context)
            record = generate.submit(context, job, placement)
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Job queued {record.backend.place}: its progress, or the answer, is in the job list")
        return {"FINISHED"}


class _JobOperator:
    key: bpy.props.StringProperty(options={"HIDDEN", "SKIP_SAVE"})

    def record(self) -> board.JobRecord | None:
        record = board.records.get(self.key)
        if record is None:
            self.report({"ERROR"}, f"No job {self.key!r} in the list")
        return record


class SCAIL_OT_job_cancel(_JobOperator, bpy.types.Operator):
    """Stop this job: at once when queued, after the current step when running (a pose render removes its partial files)"""

    bl_idname = "scail.job_cancel"
    bl_label = "Cancel Job"

    def execute(self, context):
        record = self.record()
        if record is None:
            return {"CANCELLED"}
        board.cancel(record)
        return {"FINISHED"}


class SCAIL_OT_job_remove(_JobOperator, bpy.types.Operator):
    """Remove this job from the list (a running one is cancelled; a server deletes its files; strips stay)"""

    bl_idname = "scail.job_remove"
    bl_label = "Remove Job"

    def execute(self, context):
        record = self.record()
        if record is None:
            return {"CANCELLED"}
        board.remove(record)
        return {"FINISHED"}


class SCAIL_OT_release_model(bpy.types.Operator):
    """Free the in-process model's memory now, or right after the running job"""

    bl_idname = "scail.release_model"
    bl_label = "Release Model"

    @classmethod
    def poll(cls, context):
        return backends.in_process_backend() is not None

    def execute(self, context):
        now = backends.in_process_backend().release()
        self.report({"INFO"}, "Model released" if now else "The model is released after the running job")
        return {"FINISHED"}


class SCAIL_OT_start_server(bpy.types.Operator):
    """Run `scail serve` on this machine with the preferences' Python with torch and checkpoint"""

    bl_idname = "scail.start_server"
    bl_label = "Start Local Server"

    @classmethod
    def poll(cls, context):
        server = backends.local_server()
        return server is None or not server.running

    def execute(self, context):
        from ..jobs.local_server import LocalServer, serve_command

        p = prefs.preferences(context)
        if p is None or not p.python_path:
            self.report({"ERROR"}, "Set 'Python with torch' and the checkpoint folder in the add-on preferences")
            return {"CANCELLED"}
        try:
            command = serve_command(bpy.path.abspath(p.python_path), str(prefs.checkpoint_folder(context)),
                                    p.server_url, prefs.user_folder() / "server-data")
            server = LocalServer(command, prefs.user_folder() / "server.log")
            backends.set_local_server(server)
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        url = p.server_url
        board.post("activity", "server", ("running", f"starting {url}"))

        def check() -> None:
            try:
                server.wait_healthy(url)
                board.post("activity", "server", ("ok", f"serving at {url}"))
            except ScailError as exc:
                board.post("activity", "server", ("failed", str(exc)))

        threading.Thread(target=check, name="scail-server-health", daemon=True).start()
        return {"FINISHED"}


class SCAIL_OT_install_engine(bpy.types.Operator):
    """Download torch and the other backend packages with pip into the extension's user folder (needs online access; several GB)"""

    bl_idname = "scail.install_engine"
    bl_label = "Install Engine"

    @classmethod
    def poll(cls, context):
        return board.activities["install"].state != "running"

    def execute(self, context):
        from ..jobs.install import pip_command, run_pip, write_constraints

        try:
            backends.require_online_access("https://pypi.org", "Install Engine")
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        import numpy

        target = prefs.engine_site()
        constraints = write_constraints(prefs.user_folder() / "constraints.txt", {"numpy": numpy.__version__})
        command = pip_command(sys.executable, target, constraints)
        board.post("activity", "install", ("running", "pip install " + " ".join(command[-4:])))

        def work() -> None:
            try:
                run_pip(command, lambda line: board.post("activity", "install", ("line", line)))
                board.post("activity", "install", ("ok", f"installed into {target}"))
            except (ScailError, OSError) as exc:
                board.post("activity", "install", ("failed", str(exc)))

        threading.Thread(target=work, name="scail-pip", daemon=True).start()
        return {"FINISHED"}


class SCAIL_OT_get_models(bpy.types.Operator):
    """Download the files the chosen setup needs and the Models Folder lacks, from the Hugging Face hub (needs online access; tens of GB)"""

    bl_idname = "scail.get_models"
    bl_label = "Get Models"

    @classmethod
    def poll(cls, context):
        return prefs.models_cancel.get("event") is None

    def execute(self, context):
        from ..jobs.install import add_to_path
        from ..jobs.weights.download import get
        from ..jobs.weights.setups import setup

        p = prefs.preferences(context)
        try:
            if p is None or not p.models_dir:
                raise InputError("Set the Models Folder in the add-on preferences first")
            backends.require_online_access(os.environ.get("HF_ENDPOINT") or "https://huggingface.co", "Get Models")
            chosen = setup(p.setup)
        except ScailError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        add_to_path(prefs.engine_site(create=False))  # huggingface_hub comes with Install Engine
        folder = bpy.path.abspath(p.models_dir)
        cancel = prefs.models_cancel["event"] = threading.Event()
        board.post("activity", "models", ("running", f"getting {chosen.name} into {folder}"))

        def work() -> None:
            try:
                written = get(chosen, folder, on_progress=lambda e: board.post("activity", "models", ("line", e.message)),
                              cancel=cancel)
                board.post("activity", "models", ("ok", f"{len(written)} files downloaded into {folder}"
                                                  if written else f"every file of {chosen.name} is in {folder}"))
            except Cancelled:
                board.post("activity", "models", ("failed", "cancelled; Get Models again resumes the partial file"))
            except (ScailError, OSError) as exc:
                board.post("activity", "models", ("failed", str(exc)))
            finally:
                prefs.forget_scans()
                prefs.models_cancel.pop("event", None)

        threading.Thread(target=work, name="scail-get-models", daemon=True).start()
        return {"FINISHED"}


class SCAIL_OT_cancel_get_models(bpy.types.Operator):
    """Stop Get Models after the current megabyte; the partial file stays and Get Models resumes it"""

    bl_idname = "scail.cancel_get_models"
    bl_label = "Cancel"

    def execute(self, context):
        event = prefs.models_cancel.get("event")
        if event is not None:
            event.set()
        return {"FINISHED"}


CLASSES = (SCAIL_OT_generate, SCAIL_OT_job_cancel, SCAIL_OT_job_remove, SCAIL_OT_release_model,
           SCAIL_OT_start_server, SCAIL_OT_install_engine, SCAIL_OT_get_models, SCAIL_OT_cancel_get_models)
