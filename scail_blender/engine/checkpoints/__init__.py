"""SCAIL DiT checkpoints: read the three official formats, check them, build the model; convert them.

``formats`` opens files, ``comfy`` maps ComfyUI's repacks (prefixed names, fp8 weights with their
scales) to plain wan-branch tensors, ``names`` maps SAT names to the wan branch's, ``loading``
checks a checkpoint and builds the model, ``convert`` writes safetensors.

Formats (all hold the same tensors, only named and packed differently):

- SAT, SCAIL-Preview's release: ``model/1/mp_rank_00_model_states.pt``, a DeepSpeed pickle whose
  "module" entry is the state dict, names prefixed ``model.diffusion_model.`` and the attention
  projections fused (q|k|v, k|v, k_img|v_img stacked on dim 0);
- FSDP, SCAIL-2's release: ``model/1/fsdp2_rank_0000_checkpoint.pt``, float32, the same SAT names
  under "module", next to NumPy RNG state;
- safetensors in the wan-branch names (``blocks.0.self_attn.q.weight``...), what the official
  convert.py writes and what ``scail convert`` writes for fast reloads; ComfyUI's and kijai's
  repacks of them too (``model.diffusion_model.`` prefix, fp16/bf16, fp8 e4m3fn with or without
  per-tensor scales, kept fp8 in the model);
- GGUF, the SCAIL-Preview quantisations in ComfyUI-GGUF's Wan layout (``gguf``), the blocks'
  linears kept in their GGML bytes and dequantised per call (models/ggml.py).

What any weights file is (these DiTs, the encoders in official and ComfyUI form, LoRAs, and what
cannot serve) is told from its header alone, without torch, by ``jobs.weights.identify``;
``component_files`` reads ComfyUI's VAE, umT5 and CLIP vision files.

Reading never holds two copies of the weights: pickles are memory-mapped, safetensors read one
tensor at a time, each tensor is cast and moved to its device on the way, and the model is built
on the meta device and takes the loaded tensors as its parameters. Non-tensor objects in the
pickles (optimizer settings, RNG states) are replaced by inert stand-ins, so nothing in a
downloaded file is executed.
"""
