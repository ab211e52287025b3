"""Faces: detect and describe them (landmarks), align them, and paste results back."""
from .landmarks import Face, analyze_faces, select_face

__all__ = ["Face", "analyze_faces", "select_face"]
