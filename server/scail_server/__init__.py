"""The SCAIL job server: a FastAPI app that queues generation jobs on one device.

It imports no bpy. ``create_app(settings)`` builds the app; ``scail serve`` runs it with uvicorn.
"""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
