"""The Blender skin: everything that imports bpy, apart from the thin operators.

Registration, properties, preferences, the panel, the viewport overlay, the Sequencer, reading
rigs and cameras from the scene and building rigs from motion. The bpy-free core never imports
this package (tests/test_layout.py); the add-on entry point loads it when Blender calls it.
"""
