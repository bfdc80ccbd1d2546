""""Camera from View": make the scene camera see what the active viewport sees.

Users frame a character by orbiting the viewport; SCAIL needs a real camera. Blender's viewport
behaves like a camera with a 72 mm sensor (36 mm at zoom 2) on its longer side, so the camera
gets the same orientation and a lens chosen so that the pose video's frame is the largest
rectangle of its aspect that fits in the viewport. The render resolution is set to the pose
size so the camera view's frame shows exactly what will be rendered.
"""

from __future__ import annotations

import bpy

from ..errors import CameraError
from ..pose.framing import MODEL_SIZE

VIEWPORT_SENSOR = 36.0  # Blender's DEFAULT_SENSOR_WIDTH
VIEWPORT_ZOOM = 2.0     # Blender's CAMERA_PARAM_ZOOM_INIT_PERSP for non-camera views
CAMERA_NAME = "SCAIL Camera"


def viewport_lens(view_lens: float, view_size: tuple[int, int], size: tuple[int, int]) -> float:
    """Camera focal length (36 mm sensor, AUTO fit) framing ``size`` (H, W) inside the view.

    ``view_size`` is the viewport region's (width, height) in pixels.
    """
    vw, vh = max(view_size[0], 1), max(view_size[1], 1)
    tan_long = VIEWPORT_SENSOR * VIEWPORT_ZOOM / (2.0 * view_lens)
    tan_x, tan_y = (tan_long, tan_long * vh / vw) if vw >= vh else (tan_long * vw / vh, tan_long)
    height, width = size
    if width / height <= tan_x / tan_y:
        tan_y_cam, tan_x_cam = tan_y, tan_y * width / height
    else:
        tan_x_cam, tan_y_cam = tan_x, tan_x * height / width
    tan_cam_long = tan_x_cam if width >= height else tan_y_cam
    return VIEWPORT_SENSOR / (2.0 * tan_cam_long)


def camera_from_view(scene: bpy.types.Scene, space: bpy.types.SpaceView3D, view_size: tuple[int, int],
                     size: tuple[int, int]) -> bpy.types.Object:
    """Create or update the scene camera to match ``space``'s view; returns the camera object."""
    region_3d = space.region_3d
    if region_3d.view_perspective == "ORTHO":
        raise CameraError("The viewport is orthographic and SCAIL needs a perspective camera: "
                          "switch the view to perspective (Numpad 5), then use Camera from View again.")
    camera = scene.camera
    if camera is None or camera.type != "CAMERA":
        camera = bpy.data.objects.new(CAMERA_NAME, bpy.data.cameras.new(CAMERA_NAME))
        scene.collection.objects.link(camera)
        scene.camera = camera
    render = scene.render
    render.resolution_x, render.resolution_y = size[1], size[0]
    render.resolution_percentage = 100
    render.pixel_aspect_x = render.pixel_aspect_y = 1.0
    if region_3d.view_perspective == "CAMERA":
        return camera  # the viewport already looks through the scene camera
    data = camera.data
    data.type = "PERSP"
    data.sensor_fit = "AUTO"
    data.sensor_width = VIEWPORT_SENSOR
    data.shift_x = data.shift_y = 0.0
    data.lens = viewport_lens(space.lens, view_size, size)
    camera.matrix_world = region_3d.view_matrix.inverted()
    return camera


def pose_size_for_view(scene: bpy.types.Scene, view_size: tuple[int, int]) -> tuple[int, int]:
    """The panel's pose size; "From Camera" takes SCAIL's size in the viewport's orientation."""
    size = scene.scail.size()
    if size is not None:
        return size
    height, width = MODEL_SIZE
    return (width, height) if view_size[1] > view_size[0] else (height, width)


def find_view3d(context: bpy.types.Context) -> tuple[bpy.types.SpaceView3D, tuple[int, int]] | None:
    """The active 3D view, else the screen's largest one, with its drawing region's size."""
    areas = [context.area] if context.area and context.area.type == "VIEW_3D" else []
    if not areas and context.screen:
        areas = sorted((a for a in context.screen.areas if a.type == "VIEW_3D"),
                       key=lambda a: a.width * a.height, reverse=True)
    for area in areas:
        region = next((r for r in area.regions if r.type == "WINDOW"), None)
        if region is not None:
            return area.spaces.active, (region.width, region.height)
    return None


class SCAIL_OT_camera_from_view(bpy.types.Operator):
    """Create or update the scene camera so it sees what this viewport sees"""

    bl_idname = "scail.camera_from_view"
    bl_label = "Camera from View"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if find_view3d(context) is None:
            cls.poll_message_set("Needs a 3D viewport")
            return False
        return True

    def execute(self, context):
        space, view_size = find_view3d(context)
        try:
            camera = camera_from_view(context.scene, space, view_size, pose_size_for_view(context.scene, view_size))
        except CameraError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"{camera.name} now matches the viewport")
        return {"FINISHED"}


CLASSES = (SCAIL_OT_camera_from_view,)
