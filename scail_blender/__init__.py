"""scail-blender: Blender rigs, cameras and captured motion to SCAIL character animation.

The package doubles as a Blender extension and as a plain library (command line, server).
Importing it must stay free of bpy and torch, so the Blender entry points below load the
Blender skin only when Blender calls them.
"""

__version__ = "0.1.0"


def register() -> None:
    from .blender import addon

    addon.register()


def unregister() -> None:
    from .blender import addon

    addon.unregister()
