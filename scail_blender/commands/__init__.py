"""Sub-commands of the ``scail`` command line, one module each (see ``scail_blender.cli``)."""
