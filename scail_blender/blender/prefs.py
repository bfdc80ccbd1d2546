"""Add-on preferences: where outputs go and which backend runs the model.

Generate sends jobs to the backend chosen here: "In Blender" (a runner inside Blender on the
checkpoint folder; needs torch in Blender's Python, which Install Engine puts into the
extension's user folder) or "Server" (URL + token; Start Local Server runs `scail serve` with the
"Python with torch" on this machine). A Models Folder (a ComfyUI models/ folder, or one holding
the official downloads) replaces the Checkpoint Folder when set: its files are found by their
headers, the DiT menu lists the DiTs found, and Get Models downloads a setup's missing files into
it. Everything here is per-installation, not per .blend.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from .compat import config_folder, extension_user_folder
from ..errors import InputError
from ..jobs.weights.finder import ModelsFolder, resolve, scan
from ..jobs.weights.identify import is_multianimate_folder
from ..jobs.weights.setups import SETUPS
from ..motion.smpl import find_body_model

# The add-on's id is the root package (``scail_blender``, or ``bl_ext.<repo>.scail_blender`` when
# installed as an extension), not this sub-package: Blender keys preferences by it.
PACKAGE = __package__.rpartition(".")[0]


# The last scan of each models folder (reading every header of a large folder on each redraw would
# stall the UI), and the DiT menu's items, which Blender needs kept alive while they are shown.
_scans: dict[str, ModelsFolder] = {}
_dit_items: list[tuple[str, str, str]] = []
models_cancel: dict[str, object] = {}  # "event": the running Get Models' cancel event


def models_scan(folder: str) -> ModelsFolder | None:
    """The models folder's files, scanned once until ``forget_scans`` (None: no such folder)."""
    if folder not in _scans:
        try:
            _scans[folder] = scan(folder)
        except InputError:
            return None
    return _scans[folder]


def forget_scans() -> None:
    """Scan again on next use: the folder changed or Get Models added files."""
    _scans.clear()


def _models_dir_changed(self, context) -> None:
    forget_scans()


def _dits(self, context) -> list[tuple[str, str, str]]:
    found = models_scan(bpy.path.abspath(self.models_dir)) if self.models_dir else None
    _dit_items[:] = [(found.relative(f.path), f"{f.path.name} ({f.describe()})", str(f.path))
                     for f in (found.usable("dit") if found is not None else [])] or [("", "no DiT found", "")]
    return _dit_items


class ScailPreferences(bpy.types.AddonPreferences):
    bl_idname = PACKAGE

    output_policy: bpy.props.EnumProperty(
        name="Output Folder",
        items=(
            ("BLEND_DIR", "Next to the .blend", "Write videos next to the saved .blend file"),
            ("FOLDER", "Chosen Folder", "Write videos into the folder below"),
        ),
        default="BLEND_DIR",
    )
    output_folder: bpy.props.StringProperty(
        name="Folder",
        subtype="DIR_PATH",
        description="Folder for pose videos; also used for unsaved .blend files",
    )
    backend: bpy.props.EnumProperty(
        name="Backend",
        items=(
            ("IN_PROCESS", "In Blender", "Run SCAIL inside Blender (needs a GPU and the checkpoint)"),
            ("SERVER", "Server", "Send jobs to a scail server (local or on a GPU machine)"),
        ),
        default="SERVER",
    )
    server_url: bpy.props.StringProperty(
        name="Server URL", default="http://127.0.0.1:8188",
        description="Address of a `scail serve` job server; other machines need Blender's online access allowed",
    )
    server_token: bpy.props.StringProperty(name="Token", subtype="PASSWORD",
                                           description="The server's --token (empty for a loopback server without one)")
    checkpoint_dir: bpy.props.StringProperty(
        name="Checkpoint Folder", subtype="DIR_PATH",
        description="SCAIL-Preview or SCAIL-2 folder: used by In Blender and by Start Local Server",
    )
    models_dir: bpy.props.StringProperty(
        name="Models Folder", subtype="DIR_PATH", update=_models_dir_changed,
        description="ComfyUI models/ folder or a folder with the SCAIL downloads: the DiT, VAE, umT5 and CLIP are "
                    "found in it by their contents; when set it is used instead of the Checkpoint Folder",
    )
    dit: bpy.props.EnumProperty(name="DiT", items=_dits,
                                description="Which DiT of the Models Folder generations use (its file, layout and dtype)")
    setup: bpy.props.EnumProperty(name="Setup", items=[(s.name, s.name, s.summary) for s in SETUPS.values()],
                                  description="The files Get Models downloads into the Models Folder")
    python_path: bpy.props.StringProperty(
        name="Python with torch", subtype="FILE_PATH",
        description="python executable of an environment with `pip install 'scail-blender[server,engine]'`, "
                    "for Start Local Server",
    )
    pose_weights_dir: bpy.props.StringProperty(
        name="Pose Weights", subtype="DIR_PATH",
        description="Folder with SCAIL-Pose's pretrained_weights (NLF and DWPose) for Extract Motion from Video "
                    "in Blender; empty uses $SCAIL_POSE_WEIGHTS (a server uses its own)",
    )
    smpl_dir: bpy.props.StringProperty(
        name="SMPL Models", subtype="DIR_PATH",
        description="Folder holding your SMPL model files; Export SCAIL Motion uses its neutral model for the body mesh",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        col = layout.column(heading="Output")
        col.prop(self, "output_policy")
        col.prop(self, "output_folder")
        col = layout.column(heading="Motion")
        col.prop(self, "smpl_dir")
        col.prop(self, "pose_weights_dir")
        col = layout.column(heading="Generate")
        col.prop(self, "backend")
        col.prop(self, "models_dir")
        if self.models_dir:
            col.prop(self, "dit")
            found = models_scan(bpy.path.abspath(self.models_dir))
            missing = (["the folder does not exist"] if found is None else
                       [name for name, role in (("DiT", "dit"), ("VAE", "vae"), ("umT5", "t5"),
                                                ("tokenizer", "tokenizer"), ("CLIP", "clip")) if not found.usable(role)])
            col.label(text="Missing: " + ", ".join(missing) if missing else "VAE, umT5, tokenizer and CLIP found",
                      icon="ERROR" if missing else "CHECKMARK")
            row = col.row(align=True)
            row.prop(self, "setup", text="")
            if models_cancel.get("event") is not None:
                row.operator("scail.cancel_get_models", icon="CANCEL")
            else:
                row.operator("scail.get_models", icon="IMPORT")
        else:
            col.prop(self, "checkpoint_dir")
        if self.backend == "SERVER":
            col.prop(self, "server_url")
            col.prop(self, "server_token")
            col.prop(self, "python_path")
            col.operator("scail.start_server", icon="PLAY")
        else:
            col.operator("scail.install_engine", icon="IMPORT")


def user_folder() -> Path:
    """The extension's own user folder (kept across updates), or a config folder for a legacy add-on."""
    try:
        return extension_user_folder(PACKAGE)
    except ValueError:  # not installed as an extension (scripts, tests)
        return config_folder("scail_blender")


def engine_site(create: bool = True) -> Path:
    """Where Install Engine puts torch and friends (pip --target)."""
    path = user_folder() / "site-packages"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def preferences(context: bpy.types.Context | None = None) -> ScailPreferences | None:
    """The preferences when the add-on is registered under its package name, else None.

    Scripts that import the package without enabling it (tests, the command line) have no
    preferences; callers then use the defaults.
    """
    context = context or bpy.context
    addon = context.preferences.addons.get(PACKAGE)
    return addon.preferences if addon else None


def checkpoint_folder(context: bpy.types.Context | None = None) -> Path:
    """The preferences' checkpoint for In Blender and Start Local Server, checked at the button:
    the chosen DiT of the Models Folder (its release folder, or the DiT file whose components the
    engine finds in the same tree) when one is set, else the Checkpoint Folder. A folder that is
    unset, does not exist or lacks a file would otherwise fail only later, in the job row or the
    server's log."""
    prefs = preferences(context)
    models = getattr(prefs, "models_dir", "")
    if models:
        try:
            return resolve(bpy.path.abspath(models), prefs.dit or None).checkpoint
        except InputError as exc:
            first = str(exc).splitlines()[0].rstrip(":")
            raise InputError(f"Models Folder: {first}; choose Get Models in the add-on preferences, or another "
                             "folder") from exc
    chosen = bpy.path.abspath(prefs.checkpoint_dir) if prefs is not None and prefs.checkpoint_dir else ""
    if not chosen:
        raise InputError("No checkpoint folder: set Checkpoint Folder (your SCAIL-Preview or SCAIL-2 folder) "
                         "in the add-on preferences")
    path = Path(chosen)
    if not path.exists():  # a folder, or a converted .safetensors file typed in
        raise InputError(f"The checkpoint folder {path} does not exist: set Checkpoint Folder in the add-on "
                         "preferences to the SCAIL-Preview or SCAIL-2 folder you downloaded")
    return path


def multianimate_checkpoint(context: bpy.types.Context | None = None) -> bool:
    """Whether the preferences' checkpoint (In Blender, Start Local Server) is a MultiAnimate folder:
    then the panel renders and sends that model's inputs. False when none is set up yet."""
    try:
        return is_multianimate_folder(checkpoint_folder(context))
    except InputError:
        return False


def smpl_model_file(context: bpy.types.Context | None = None) -> Path | None:
    """The neutral SMPL model found in the preferences' SMPL folder, or None when none is set up."""
    prefs = preferences(context)
    if prefs is None or not prefs.smpl_dir:
        return None
    return find_body_model(bpy.path.abspath(prefs.smpl_dir))


def pose_weights_dir(context: bpy.types.Context | None = None) -> str | None:
    """The preferences' pose weights folder, or None (the extraction then reads $SCAIL_POSE_WEIGHTS)."""
    prefs = preferences(context)
    return bpy.path.abspath(prefs.pose_weights_dir) if prefs is not None and prefs.pose_weights_dir else None


def output_folder(context: bpy.types.Context | None = None) -> Path:
    """The folder the current settings send outputs to, created if needed."""
    prefs = preferences(context)
    chosen = bpy.path.abspath(prefs.output_folder) if prefs and prefs.output_folder else ""
    if prefs is not None and prefs.output_policy == "FOLDER":
        if not chosen:
            raise InputError("Output folder policy is 'Chosen Folder' but no folder is set: "
                             "pick one in the add-on preferences.")
        return Path(chosen)
    if bpy.data.filepath:
        return Path(bpy.data.filepath).parent
    if chosen:
        return Path(chosen)
    raise InputError("The .blend is not saved, so there is no folder next to it: save the file, "
                     "or choose an output folder in the add-on preferences.")
