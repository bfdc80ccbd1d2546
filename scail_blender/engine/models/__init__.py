"""Neural networks of the SCAIL engine (torch at import time is allowed here)."""
