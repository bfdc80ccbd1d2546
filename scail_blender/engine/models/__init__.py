"""Neural networks of the SCAIL backend (torch at import time is allowed here)."""
