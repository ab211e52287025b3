"""Appearance the warp cannot borrow from the target: what an opened mouth or a widened eye
reveals. Small pure functions (numpy/cv2, on the part's bounding box only) that return an image +
soft alpha to blend in; any method may call them. Imports ``faces/`` only, never ``methods/``.
"""
from .common import Layer, colour_probe
from .eyes import EyeConfig, open_eye
from .mouth import MouthConfig, mix_synthetic, synth_mouth

__all__ = ["Layer", "colour_probe", "EyeConfig", "open_eye", "MouthConfig", "mix_synthetic",
           "synth_mouth"]
