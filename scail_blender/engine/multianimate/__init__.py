"""MultiAnimate (CVPR 2026): several characters animated at once, identities kept apart.

Its network is the stock Wan2.1-I2V-14B DiT (models/wan_i2v.py) with a rank-128 LoRA merged into
it and three small conv encoders beside it (encoders.py): 2D skeleton renders of every character
and one binary mask per character become tokens added after the patch embedding, and the
reference image's skeleton render is added to the I2V conditioning. ``checkpoint`` loads the
published Wan base and a MultiAnimate folder, ``guidance`` runs the guided sampler, ``tiny``
writes tiny folders in the published layouts for tests.
"""
