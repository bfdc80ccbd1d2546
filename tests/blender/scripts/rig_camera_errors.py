"""Read camera parameters with no camera and with an orthographic one; report the errors."""

from scail_blender.blender.camera import camera_params

from tests.blender.scripts.common import emit
from tests.blender.scripts.rigs import add_camera, error_of, fresh_scene

scene = fresh_scene()
no_camera = error_of(camera_params, scene)
cam = add_camera(scene, type="ORTHO")
emit({"no_camera": no_camera, "ortho": error_of(camera_params, scene, cam)})
