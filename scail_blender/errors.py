"""Errors a user can cause, each with a message that says what to do.

Operators turn these into ``self.report``, the command line into one line on stderr and exit
code 2, the server into a 4xx response. Anything else escaping is a bug.
"""


class ScailError(Exception):
    """Base class: the message is shown to the user as it is."""


class InputError(ScailError):
    """A file, array or setting given by the user is unusable (wrong shape, key, size...)."""


class RigMappingError(ScailError):
    """An armature does not map to the SCAIL skeleton."""


class CameraError(ScailError):
    """The scene camera cannot be used (missing, orthographic...)."""


class VideoError(ScailError):
    """A video could not be read or written."""


class CheckpointError(ScailError):
    """A model checkpoint is missing, of another model, or damaged."""


class OutOfMemory(ScailError):
    """The device ran out of memory in the middle of a job."""


class DeviceGroupError(ScailError):
    """A process of a multi-GPU job failed or could not start; the message names the rank."""


class Cancelled(ScailError):
    """The user cancelled a long operation."""
