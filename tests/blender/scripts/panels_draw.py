"""Draw every panel and the preferences into a layout that checks each property and operator
it is given against the registered ones (panels never draw in background mode); report what
each drew. The job list holds a running and a failed job."""

from types import SimpleNamespace

import bpy

from scail_blender.jobs.status import JobStatus
from scail_blender.blender import backends, board, prefs, ui, ui_scail2

from tests.blender.scripts.common import addon_scene, emit


class Layout:
    def __init__(self, drawn):
        self.drawn = drawn

    def _child(self, *args, **kwargs):
        return Layout(self.drawn)

    row = column = box = split = _child

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name}"
        self.drawn.append("prop " + name)

    def prop_search(self, data, name, search_data, search_name, **kwargs):
        assert name in data.bl_rna.properties and search_name in search_data.bl_rna.properties
        self.drawn.append("search " + name)

    def operator(self, idname, **kwargs):
        group, name = idname.split(".")
        assert hasattr(getattr(bpy.ops, group), name) and getattr(getattr(bpy.ops, group), name).get_rna_type()
        self.drawn.append("op " + idname)
        return SimpleNamespace()  # the operator's properties, as Blender returns them

    def operator_menu_enum(self, idname, prop, **kwargs):
        group, name = idname.split(".")
        assert prop in getattr(getattr(bpy.ops, group), name).get_rna_type().properties
        self.drawn.append("menu " + idname)

    def template_list(self, list_type, list_id, data, name, active_data, active_name, **kwargs):
        assert hasattr(bpy.types, list_type) and name in data.bl_rna.properties
        assert active_name in active_data.bl_rna.properties
        self.drawn.append("list " + name)

    def template_ID(self, data, name, **kwargs):
        assert name in data.bl_rna.properties
        self.drawn.append("id " + name)

    def template_icon(self, icon_value, **kwargs):
        assert icon_value > 0
        self.drawn.append("icon")

    def label(self, **kwargs):
        self.drawn.append("label")

    def progress(self, **kwargs):
        self.drawn.append("progress")


class Host:
    def __init__(self):
        self.drawn = []
        self.layout = Layout(self.drawn)


scene, rig, _ = addon_scene()


class PreferencesHost(Host):
    """The preferences' properties exist only once the add-on is registered, hence defined here."""

    bl_rna = prefs.ScailPreferences.bl_rna
    backend = "SERVER"
    models_dir = ""


class ModelsHost(PreferencesHost):
    """A Models Folder that does not exist: the menu, the missing line and Get Models are drawn."""

    models_dir = "/nonexistent/models"
    dit = ""
    setup = "scail2-fp8"


bpy.context.view_layer.objects.active = rig
rig.select_set(True)
bpy.ops.scail.character_add()
character = scene.scail.characters[0]
character.overrides.add()
character.show_map = True
scene.scail.size_preset = "CUSTOM"
scene.scail.use_scene_range = False
scene.scail.mask_source, scene.scail.reference_frame_source = "mask_image", "CUSTOM"
scene.scail.extra_references.add().view = "side"
scene.scail.pose_source = "STRIP"  # the strip search: the Sequencer's "sequences" on 4.2-4.3, "strips" after
scene.sequence_editor_create()
placement = board.Placement(blend="", scene=scene.name, frame_start=1, channel=1, scene_fps=24.0, prompt="p", seed=1)
server = backends.server("http://127.0.0.1:9", None)
for record in (board.JobRecord(key="a", kind="generate", backend=server, job_id="a", placement=placement, label="seed 1: p",
                               status=JobStatus(id="a", state="running", phase="denoise", step=3, total=10, progress=0.4,
                                                eta_seconds=12.0)),
               board.JobRecord(key="b", kind="generate", backend=server, placement=placement, label="seed 1: p", error="boom",
                               status=JobStatus(id="b", state="failed")),
               board.JobRecord(key="c", kind="extract", backend=server, job_id="c", label="motion of dance.mp4",
                               status=JobStatus(id="c", state="running", phase="extract", step=5, total=20, progress=0.25)),
               board.JobRecord(key="d", kind="render", label="pose video shot_pose.mp4",
                               status=JobStatus(id="d", state="running", phase="render", message="Reading joints",
                                                progress=0.3))):
    board.records[record.key] = record
drawn = {}
for panel in (*ui.CLASSES, *ui_scail2.CLASSES):
    if issubclass(panel, bpy.types.Panel):
        host = Host()
        panel.draw(host, bpy.context)
        drawn[panel.__name__] = host.drawn
host = PreferencesHost()
prefs.ScailPreferences.draw(host, bpy.context)
drawn["preferences"] = host.drawn
host = ModelsHost()
prefs.ScailPreferences.draw(host, bpy.context)
drawn["preferences_models"] = host.drawn
drawn["lines"] = {key: record.line() for key, record in board.records.items()}
emit(drawn)
