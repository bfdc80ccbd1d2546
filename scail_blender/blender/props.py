"""Scene settings of the Animate Character panel.

Characters, camera/output and prompt live on the scene (saved with the .blend). The job
settings the panel shows are made from the job contract's fields (``setting_property``), so
their defaults, ranges and tooltips are the ones the command line and the server use.
"""

from __future__ import annotations

import typing

import bpy

from ..jobs.contract import MODES, JobSettings, setting_fields
from ..jobs.loras import LORA_STRENGTH
from ..jobs.sampling import default_setting
from ..pose.identity import PALETTE_NAMES

# Blender's integer properties are 32-bit: a wider range is cut to what they hold.
INT_RANGE = (-(2**31), 2**31 - 1)
# Keys are H x W like the command line's --size; values are (height, width).
SIZE_PRESETS = {"512x896": (512, 896), "896x512": (896, 512), "704x1280": (704, 1280)}


def setting_property(name: str):
    """A panel property for the job setting ``name``: its label, default, range and help text."""
    f = setting_fields()[name]
    m = f.metadata
    default = default_setting(name)
    keywords = {"name": m["label"], "default": default, "description": m["doc"][:1].upper() + m["doc"][1:]}
    if isinstance(default, float):
        bounds = {"min": m["low"], "max": m["high"]}
        return bpy.props.FloatProperty(**keywords, **{k: v for k, v in bounds.items() if v is not None})
    low = INT_RANGE[0] if m["low"] is None else max(m["low"], INT_RANGE[0])
    high = INT_RANGE[1] if m["high"] is None else min(m["high"], INT_RANGE[1])
    return bpy.props.IntProperty(**keywords, min=low, max=high)


def setting_choice(name: str):
    """A panel enum for the job setting ``name`` (a ``Literal``): its choices, default and help text."""
    f = setting_fields()[name]
    m = f.metadata
    choices = typing.get_args(typing.get_type_hints(JobSettings)[name])
    return bpy.props.EnumProperty(name=m["label"], default=default_setting(name), description=m["doc"][:1].upper() + m["doc"][1:],
                                  items=tuple((choice, choice.title(), "") for choice in choices))


def _is_armature(_self, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


def _joint_items(_self, _context) -> list[tuple[str, str, str]]:
    from ..pose.skeleton import SMPL_JOINT_NAMES

    return [(name, name.replace("_", " ").title(), f"SMPL joint {i}") for i, name in enumerate(SMPL_JOINT_NAMES)]


def _remap_owner(self, context) -> None:
    """Editing a manual choice maps its character again, so the report never lags behind."""
    from .characters import remap_character

    path = self.path_from_id()  # scail.characters[i].overrides[j]
    character = self.id_data.path_resolve(path.rsplit(".overrides", 1)[0])
    remap_character(character)


class ScailJointOverride(bpy.types.PropertyGroup):
    """One manual choice: this SMPL joint sits at the head or tail of that bone."""

    joint: bpy.props.EnumProperty(name="Joint", items=_joint_items, update=_remap_owner)
    bone: bpy.props.StringProperty(name="Bone", update=_remap_owner)
    end: bpy.props.EnumProperty(
        name="End",
        items=(("head", "Head", "The bone's root"), ("tail", "Tail", "The bone's tip")),
        default="head",
        update=_remap_owner,
    )


def _is_camera(_self, obj: bpy.types.Object) -> bool:
    return obj.type == "CAMERA"


class ScailExtraReference(bpy.types.PropertyGroup):
    """One SCAIL-2 extra reference view (Render Extra Views fills these) and its mask."""

    view: bpy.props.StringProperty(name="View")
    use: bpy.props.BoolProperty(name="Use", default=True, description="Send this view with the job")
    image: bpy.props.PointerProperty(name="Image", type=bpy.types.Image)
    mask: bpy.props.PointerProperty(name="Mask", type=bpy.types.Image)


class ScailCharacter(bpy.types.PropertyGroup):
    armature: bpy.props.PointerProperty(name="Armature", type=bpy.types.Object, poll=_is_armature)
    enabled: bpy.props.BoolProperty(name="Render", default=True, description="Include in pose renders")
    overrides: bpy.props.CollectionProperty(type=ScailJointOverride)
    active_override: bpy.props.IntProperty()
    preset: bpy.props.StringProperty(name="Preset", description="Bone-name preset the mapper recognised")
    report: bpy.props.StringProperty(name="Mapping Report", description="Result of the last mapping")
    mapped: bpy.props.BoolProperty(name="Mapped", description="All required joints were found")
    bonemap_json: bpy.props.StringProperty(description="The last mapping, for the panel and the viewport overlay")
    show_map: bpy.props.BoolProperty(name="Bone Map", description="List which bone each joint comes from")


class ScailLora(bpy.types.PropertyGroup):
    """One LoRA of the job's stack (merged in the list's order)."""

    name: bpy.props.StringProperty(
        name="LoRA", subtype="FILE_PATH",
        description="A .safetensors LoRA: a file of this computer (uploaded to a server with the job), or the "
                    "name of one of the server's LoRAs (its --lora-dir)",
    )
    strength: bpy.props.FloatProperty(name="Strength", default=1.0, min=LORA_STRENGTH[0], max=LORA_STRENGTH[1],
                                      description="How strongly the LoRA applies: 1 as trained, 0 not at all, "
                                                  "negative subtracts it")
    enabled: bpy.props.BoolProperty(name="Use", default=True, description="Include this LoRA in the next job")


class ScailSettings(bpy.types.PropertyGroup):
    characters: bpy.props.CollectionProperty(type=ScailCharacter)
    active_character: bpy.props.IntProperty()

    # Explicit numbers: saved files store the number, so items keep theirs when new ones come.
    size_preset: bpy.props.EnumProperty(
        name="Size",
        items=(
            ("CAMERA", "From Camera", "SCAIL's native size in the scene camera's orientation: 512 high x 896 wide "
             "for landscape and square renders, 896 high x 512 wide for portrait ones", 4),
            ("512x896", "512 high x 896 wide (landscape)", "SCAIL's native size: 512 pixels high, 896 wide", 0),
            ("896x512", "896 high x 512 wide (portrait)", "SCAIL's native size upright: 896 pixels high, 512 wide", 1),
            ("704x1280", "704 high x 1280 wide (landscape)", "The large size: 704 pixels high, 1280 wide", 2),
            ("CUSTOM", "Custom", "Any height and width, multiples of 32", 3),
        ),
        default="CAMERA",
    )
    framing: bpy.props.EnumProperty(
        name="Framing",
        description="How the camera fits a pose size of another shape than its render resolution (never stretched)",
        items=(
            ("sensor", "Sensor Fit", "As Blender renders the camera at the pose size (its sensor fit keeps one side)"),
            ("crop", "Cover and Crop", "Scale the camera's picture to cover the pose size and crop the centre, "
             "as SCAIL's video preprocessing does"),
        ),
        default="sensor",
    )
    width: bpy.props.IntProperty(name="Width", default=896, min=32, max=4096, step=32)
    height: bpy.props.IntProperty(name="Height", default=512, min=32, max=4096, step=32)
    fps: bpy.props.IntProperty(name="FPS", default=16, min=1, max=120, description="Pose video frame rate (SCAIL uses 16)")
    use_scene_range: bpy.props.BoolProperty(name="Scene Range", default=True)
    frame_start: bpy.props.IntProperty(name="Start", default=1)
    frame_end: bpy.props.IntProperty(name="End", default=81)
    write_frames: bpy.props.BoolProperty(name="Also PNG Frames", description="Write each pose frame as a PNG too")
    add_strip: bpy.props.BoolProperty(name="Add to Sequencer", default=True)
    write_mask: bpy.props.BoolProperty(
        name="Also SCAIL-2 Mask",
        description="Also write the SCAIL-2 driving mask beside the pose video (each character's silhouette from "
                    "its meshes, or its skeleton when it has none, in its identity colour, lossless) and put it in "
                    "Pose Mask",
    )
    mask_mode: bpy.props.EnumProperty(
        name="Mask Mode",
        items=(
            ("animation", "Animation", "Characters on black: animate the reference character with this motion", 0),
            ("replacement", "Replacement", "Characters on white: the region where footage's people are replaced", 1),
        ),
        default="animation",
    )
    driving: bpy.props.EnumProperty(
        name="Driving",
        description="What Render Pose Video draws: the driving video SCAIL-2 follows",
        items=(
            ("skeleton", "Skeleton", "The SCAIL skeleton of each character (SCAIL-Preview and SCAIL-2)", 0),
            ("mesh", "Mesh", "The characters' own meshes, flat-shaded grey on black: SCAIL-2 follows mesh "
                             "renderings zero-shot (a character without a mesh shows as its capsule silhouette)", 1),
        ),
        default="skeleton",
    )
    show_skeleton: bpy.props.BoolProperty(
        name="Show Skeleton", description="Draw the SCAIL skeleton over mapped rigs in the viewport"
    )

    reference_image: bpy.props.PointerProperty(name="Reference", type=bpy.types.Image)
    prompt: bpy.props.StringProperty(name="Prompt", description="What the character looks like and does")
    negative_prompt: bpy.props.StringProperty(name="Negative", description="What the video should not show")
    pose_source: bpy.props.EnumProperty(
        name="Pose Video",
        items=(
            ("RENDERED", "Rendered", "The video Render Pose Video writes for this scene", 0),
            ("FILE", "Chosen File", "A pose video from elsewhere (scail render-pose, scail extract), or footage "
                                    "for SCAIL-2 end-to-end driving or the plate of replacement mode", 1),
            ("STRIP", "Sequencer Strip", "A movie strip of this scene's Sequencer as the driving video: footage for "
                                         "SCAIL-2 end-to-end driving, or the plate of replacement mode", 2),
        ),
        default="RENDERED",
    )
    pose_file: bpy.props.StringProperty(name="Pose File", subtype="FILE_PATH")
    pose_strip: bpy.props.StringProperty(name="Strip", description="The movie strip whose file drives the animation")
    black_out: bpy.props.BoolProperty(
        name="Black Out Outside People",
        description="SCAIL-2 end-to-end driving: send the driving video black outside the Pose Mask's people (a copy "
                    "written beside the result; the mask must have the video's frames, size and rate)",
    )
    reference_mask: bpy.props.PointerProperty(
        name="Reference Mask", type=bpy.types.Image,
        description="SCAIL-2 only: each character in its identity colour in the reference image, on white (animation mode) or black (replacement)",
    )
    pose_mask: bpy.props.StringProperty(
        name="Pose Mask", subtype="FILE_PATH",
        description="SCAIL-2 only: each character in its identity colour in every frame of the pose video, on black (animation mode) or white (replacement)",
    )
    mode: bpy.props.EnumProperty(
        name="Mode", description=setting_fields()["mode"].metadata["doc"].capitalize() + " (SCAIL-2); also how "
        "Render Reference paints its mask: on white for animation, on black for replacement",
        items=[(m, m.title(), f"SCAIL-2 {m} mode") for m in MODES], default="animation",
    )
    reference_engine: bpy.props.EnumProperty(
        name="Engine", description="Render engine of Render Reference (Cycles at 8 samples renders only where "
        "the chosen one cannot)",
        items=(("EEVEE", "Eevee", "Eevee with the scene's lights and materials"),
               ("WORKBENCH", "Workbench", "Workbench: fast, solid shading")),
        default="EEVEE",
    )
    reference_frame_source: bpy.props.EnumProperty(
        name="Frame", description="Which scene frame Render Reference renders",
        items=(("POSE_START", "First Pose Frame", "The first frame of the pose video, as the driving mask shows it"),
               ("CURRENT", "Current Frame", "The frame the scene shows now"),
               ("CUSTOM", "Custom", "The frame given below")),
        default="POSE_START",
    )
    reference_frame: bpy.props.IntProperty(name="Reference Frame", default=1)
    reference_camera: bpy.props.PointerProperty(
        name="Reference Camera", type=bpy.types.Object, poll=_is_camera,
        description="Camera of Render Reference (empty: the scene camera, framed as the first driving frame)",
    )
    view_front: bpy.props.BoolProperty(name="Front", description="Render Extra Views: a view from the pose camera's side")
    view_side: bpy.props.BoolProperty(name="Side", default=True, description="Render Extra Views: a quarter turn on")
    view_back: bpy.props.BoolProperty(name="Back", default=True, description="Render Extra Views: from behind")
    extra_references: bpy.props.CollectionProperty(type=ScailExtraReference)
    mask_source: bpy.props.EnumProperty(
        name="Mask From", description="How Mask from Image makes the reference mask of a picked reference image",
        items=(("alpha", "Alpha", "The image's transparency: opaque is the character"),
               ("mask_image", "Mask Image", "A black-and-white mask of the image: white is the character"),
               ("colour", "Background Colour", "Every pixel unlike a plain background colour is the character")),
        default="alpha",
    )
    mask_image: bpy.props.PointerProperty(name="Mask Image", type=bpy.types.Image)
    key_colour: bpy.props.FloatVectorProperty(name="Background", subtype="COLOR_GAMMA", size=3, min=0.0, max=1.0,
                                              default=(1.0, 1.0, 1.0))
    key_tolerance: bpy.props.IntProperty(name="Tolerance", default=24, min=0, max=254,
                                         description="How far (0-255 per channel) a pixel may be from the background")
    identity: bpy.props.EnumProperty(
        name="Identity", description="The character's colour (blue for the leftmost in the driving video, then red...)",
        items=[(str(i), name.title(), f"Identity {i + 1}") for i, name in enumerate(PALETTE_NAMES)], default="0",
    )
    steps: setting_property("steps")
    cfg: setting_property("cfg")
    shift: setting_property("shift")
    seed: setting_property("seed")
    loras: bpy.props.CollectionProperty(type=ScailLora)
    active_lora: bpy.props.IntProperty()
    lora_mode: setting_choice("lora_mode")

    def size(self) -> tuple[int, int] | None:
        """(height, width) of the pose video; None follows the scene camera."""
        if self.size_preset == "CAMERA":
            return None
        if self.size_preset == "CUSTOM":
            return self.height, self.width
        return SIZE_PRESETS[self.size_preset]

    def frame_range(self, scene: bpy.types.Scene) -> tuple[int, int]:
        if self.use_scene_range:
            return scene.frame_start, scene.frame_end
        return self.frame_start, self.frame_end


CLASSES = (ScailJointOverride, ScailCharacter, ScailLora, ScailExtraReference, ScailSettings)


def ensure_registered() -> None:
    """Make the panel's saved settings readable when the add-on is not enabled (command line)."""
    if not hasattr(bpy.types.Scene, "scail"):
        for cls in CLASSES:
            bpy.utils.register_class(cls)
        register()


def register() -> None:
    bpy.types.Scene.scail = bpy.props.PointerProperty(type=ScailSettings)


def unregister() -> None:
    del bpy.types.Scene.scail
