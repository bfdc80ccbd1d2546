"""Captured and authored motion: the Motion model and its file formats (no bpy here)."""

from .io import LoadedMotion, load_motion, read_motion, save_motion

__all__ = ["LoadedMotion", "load_motion", "read_motion", "save_motion"]
