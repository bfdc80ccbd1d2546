"""Video to Motion, as the official SCAIL-Pose extracts it: YOLOX person boxes, DWPose
whole-body 2D keypoints, NLF 3D joints, then people tracked across frames.

bpy-free; onnxruntime and torch are imported only inside the functions that run the networks,
so importing this package costs nothing.
"""

from .pipeline import Extraction, ExtractOptions, extract_motion

__all__ = ["ExtractOptions", "Extraction", "extract_motion"]
