"""The Blender half of mesh masks: which meshes make up each character, and their evaluated
triangles at the current frame. Everything else (projection, z-buffer, occlusion, the capsule
stand-in for a character without a mesh) is ``pose.silhouettes``, without bpy.

Only calls that are the same from 4.2 LTS to 5.0 are used (``evaluated_get``, ``to_mesh``,
``calc_loop_triangles``, ``foreach_get``), so nothing here goes through ``compat``.
"""

from __future__ import annotations

from collections.abc import Sequence

import bpy
import numpy as np

from ..pose.camera import Intrinsics
from ..pose.mask_labels import LabelWorker
from ..pose.silhouettes import capsule_depth, mesh_grey, nearest_person, triangle_depth, triangle_shading
from ..pose.skeleton import smpl_to_scail
from .armature import deformed_meshes
from .visibility import render_visibility_skip, view_layer


def character_meshes(scene: bpy.types.Scene, armature: bpy.types.Object) -> list[bpy.types.Object]:
    """The meshes a render shows of ``armature``'s character: those it deforms (Armature
    modifier or armature parenting) and those parented to it or to one of its bones (props,
    hair), children of those included."""
    found = {o.name: o for o in deformed_meshes(armature)}
    found.update((o.name, o) for o in armature.children_recursive if o.type == "MESH")
    return [found[name] for name in sorted(found)
            if name in scene.objects and not render_visibility_skip(scene, found[name])]


def world_triangles(obj: bpy.types.Object, depsgraph: bpy.types.Depsgraph) -> np.ndarray:
    """``[N, 3, 3]`` world-space corners of ``obj``'s triangles as evaluated now (armature,
    shape keys and every other modifier applied)."""
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        mesh.calc_loop_triangles()
        co = np.empty(len(mesh.vertices) * 3, np.float32)
        mesh.vertices.foreach_get("co", co)
        corners = np.empty(len(mesh.loop_triangles) * 3, np.int32)
        mesh.loop_triangles.foreach_get("vertices", corners)
        world = np.asarray(evaluated.matrix_world, np.float64)
    finally:
        evaluated.to_mesh_clear()
    points = co.reshape(-1, 3).astype(np.float64) @ world[:3, :3].T + world[:3, 3]
    return points[corners.reshape(-1, 3)]


class MaskCollector:
    """Per frame, which character each pixel of the pose render shows, from their meshes.

    ``armatures`` are the render's characters in order; ``depth_scales`` the factor each one's
    joints were scaled by about the camera (the capsule stand-in's depth is divided by it, so
    every character is compared in true scene depth). ``clip`` is the camera's clip start and
    end in mm; ``frames`` how many frames the clip has. With ``shading`` each frame also gets
    the grey of the mesh driving video (``labels.layer(1)``, labels ``layer(0)``).
    """

    def __init__(self, scene: bpy.types.Scene, armatures: Sequence[bpy.types.Object], intrinsics: Intrinsics,
                 size: tuple[int, int], mm_per_unit: float, depth_scales: Sequence[float],
                 clip: tuple[float, float], frames: int, shading: bool = False) -> None:
        self.scene = scene
        self.meshes = [character_meshes(scene, armature) for armature in armatures]
        self.intrinsics = intrinsics
        self.size = size
        self.mm_per_unit = mm_per_unit
        self.depth_scales = list(depth_scales)
        self.clip = clip
        self.shading = shading
        self.labels = LabelWorker(size, frames, 2 if shading else 1)

    def add_frame(self, to_camera: np.ndarray, joints: np.ndarray) -> None:
        """Queue the labelling of the current frame: ``to_camera`` is the 4x4 world -> OpenCV
        camera matrix (scene units), ``joints`` the frame's ``[P, 24+, 3]`` camera-space joints as
        rendered. Only the triangles are read here (main thread); the z-buffer runs in
        ``labels``' thread."""
        # The scene's own view layer, not the context's: the board's timer runs without a window.
        depsgraph = view_layer(self.scene).depsgraph
        figures: list[np.ndarray] = []
        for p, meshes in enumerate(self.meshes):
            if meshes:
                world = np.concatenate([world_triangles(obj, depsgraph) for obj in meshes])
                figures.append((world @ to_camera[:3, :3].T + to_camera[:3, 3]) * self.mm_per_unit)
            else:
                figures.append(smpl_to_scail(np.nan_to_num(joints[p, :24], nan=0.0)))
        self.labels.put(lambda: self._label(figures))

    def _label(self, figures: list[np.ndarray]) -> np.ndarray:
        if self.shading:
            return self._shaded(figures)
        depths = [triangle_depth(f, self.intrinsics, self.size, *self.clip) if meshes
                  else capsule_depth(f, self.intrinsics, self.size, self.depth_scales[p])
                  for p, (f, meshes) in enumerate(zip(figures, self.meshes))]
        return nearest_person(depths, self.size)

    def _shaded(self, figures: list[np.ndarray]) -> np.ndarray:
        """``[2, H, W]``: the labels and the mesh driving grey of the surface each pixel shows."""
        depths, shades = [], []
        for p, (f, meshes) in enumerate(zip(figures, self.meshes)):
            if meshes:
                depth, shade = triangle_shading(f, self.intrinsics, self.size, *self.clip)
            else:
                depth = capsule_depth(f, self.intrinsics, self.size, self.depth_scales[p])
                shade = np.full(self.size, np.nan)
            depths.append(depth)
            shades.append(shade)
        labels = nearest_person(depths, self.size)
        if not shades:
            return np.stack([labels, np.zeros_like(labels)])
        shown = np.take_along_axis(np.stack(shades), np.maximum(labels, 0)[None], axis=0)[0]
        return np.stack([labels, mesh_grey(labels, shown)])
