"""Judges: models facexpr did not train, used only to measure results.

Import the submodule you need (``emotion_faceapi``, ``identity_dlib``); each loads its weights
lazily, on first use, through a cached getter.
"""
