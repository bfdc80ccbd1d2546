"""MultiAnimate (CVPR 2026): several characters animated at once, identities kept apart.

Its network is the stock Wan2.1-I2V-14B DiT (models/wan_i2v.py) with a rank-128 LoRA merged into
it and three small conv encoders beside it (``encoders``): 2D skeleton renders of every character
and one binary mask per character become tokens added after the patch embedding, and the
reference image's skeleton render is added to the I2V conditioning. ``files`` reads sharded
safetensors headers, ``checkpoint`` loads the published Wan base and a MultiAnimate folder (and
tells a checkpoint's model from its tensors), ``guidance`` is the guided sampler, ``pipeline``
one generation from arrays to a video, ``tiny`` writes tiny folders in the published layouts.
"""
