"""Model files on disk and from the hub, without torch: what a file is, where a setup's files are, getting them.

``identify`` says what one file is from its header alone (safetensors JSON header, the pickle of a
PyTorch zip, a GGUF header, a tokenizer.json), so Blender can fill its menus without torch
(``dit_names`` holds the DiT's tensor names and SAT's renaming, to check a DiT is whole);
``finder`` scans a ComfyUI ``models/`` tree or the official release folders and picks the DiT and
its VAE, umT5, tokenizer and CLIP; ``setups`` names the files of each published setup on the hub;
``download`` fetches the missing ones with huggingface_hub.
"""
