"""Faces: detect them (MediaPipe's raw :class:`Detection`), the analysed :class:`Face` type, align
them, and paste results back."""
from .landmarks import Detection, Face, analyze_faces, select_face

__all__ = ["Detection", "Face", "analyze_faces", "select_face"]
