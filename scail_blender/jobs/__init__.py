"""Jobs without torch: the job contract, the runner, the HTTP client and the helpers around them.

Everything here is what Blender loads when the add-on is enabled and what a client machine
needs to talk to a job server, so nothing in this package may import torch or ``engine/``: the
runner gets the code that computes (a pipeline factory) from whoever starts it.
"""
