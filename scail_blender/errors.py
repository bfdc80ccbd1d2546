"""Errors a user can cause, each with a message that says what to do.

Operators turn these into ``self.report``, the command line into one line on stderr and exit
code 2, the server into a 4xx response. Anything else escaping is a bug. Each class carries a
stable ``code`` (the server's JSON errors and the HTTP client use it to name the failure without
parsing messages).
"""


class ScailError(Exception):
    """Base class: the message is shown to the user as it is."""

    code = "error"


class InputError(ScailError):
    """A file, array or setting given by the user is unusable (wrong shape, key, size...)."""

    code = "invalid_input"


class OverLimit(InputError):
    """A job asks for more than a limit allows (size, steps, pixels x frames); the message names the
    largest allowed. The server answers it with 422."""

    code = "over_limit"


class RigMappingError(ScailError):
    """An armature does not map to the SCAIL skeleton."""

    code = "rig_mapping"


class CameraError(ScailError):
    """The scene camera cannot be used (missing, orthographic...)."""

    code = "camera"


class VideoError(ScailError):
    """A video could not be read or written."""

    code = "invalid_video"


class CheckpointError(ScailError):
    """A model checkpoint is missing, of another model, or damaged."""

    code = "checkpoint"


class OutOfMemory(ScailError):
    """The device ran out of memory in the middle of a job."""

    code = "out_of_memory"


class DeviceGroupError(ScailError):
    """A process of a multi-GPU job failed or could not start; the message names the rank."""


class Cancelled(ScailError):
    """The user cancelled a long operation."""

    code = "cancelled"


class ServerError(ScailError):
    """A job server refused a request or could not be reached; ``code`` is the server's."""

    def __init__(self, message: str, code: str = "server", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


# The codes of the errors a job can end with, for turning a server's answer back into a type.
ERROR_CLASSES: dict[str, type[ScailError]] = {
    cls.code: cls for cls in (InputError, OverLimit, RigMappingError, CameraError, VideoError, CheckpointError,
                              OutOfMemory, Cancelled)
}
