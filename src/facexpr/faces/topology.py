"""Index sets of MediaPipe's 478-point face mesh: the one place these numbers live.

Contours are ordered loops (so they can be drawn as polygons). "Left"/"right" are the subject's.
"""
from __future__ import annotations

import numpy as np

N_LANDMARKS = 478
N_MESH = 468  # the face mesh; the last 10 points are the irises

LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
EYE_RIGHT = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
EYE_LEFT = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
BROW_RIGHT = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
BROW_LEFT = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
IRIS_RIGHT = (468, 469, 470, 471, 472)  # centre first, then the rim
IRIS_LEFT = (473, 474, 475, 476, 477)
IRISES = IRIS_RIGHT + IRIS_LEFT

# Upper/lower lid mid points and eye corners (for openness measures).
EYE_RIGHT_LIDS = (159, 145)
EYE_LEFT_LIDS = (386, 374)
EYE_RIGHT_CORNERS = (33, 133)
EYE_LEFT_CORNERS = (263, 362)
MOUTH_CORNERS = (61, 291)
INNER_LIP_MID = (13, 14)


def _facing(loop: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """(upper, lower) point pairs facing each other across a closed contour that starts at one
    corner and runs along the lower edge to the other corner (as :data:`LIPS_INNER` and the eyes do)."""
    half = len(loop) // 2
    lower, upper = loop[1:half], loop[half + 1:][::-1]
    return tuple(zip(upper, lower))


# Upper/lower points facing each other: lids and inner lips may meet but never cross.
RIGHT_LID_PAIRS, LEFT_LID_PAIRS = _facing(EYE_RIGHT), _facing(EYE_LEFT)
LID_PAIRS = RIGHT_LID_PAIRS + LEFT_LID_PAIRS
INNER_LIP_PAIRS = _facing(LIPS_INNER)
# The lips as rows of points, top to bottom, each row left to right as the inner contour's
# facing pairs: upper lip (outer edge, two rows between, inner edge), lower lip (inner edge, two
# rows, outer edge). A lip may thin to nothing, but its rows never pass each other.
UPPER_LIP_ROWS = ((185, 40, 39, 37, 0, 267, 269, 270, 409), (184, 74, 73, 72, 11, 302, 303, 304, 408),
                  (183, 42, 41, 38, 12, 268, 271, 272, 407), tuple(u for u, _ in INNER_LIP_PAIRS))
LOWER_LIP_ROWS = (tuple(l for _, l in INNER_LIP_PAIRS), (96, 89, 179, 86, 15, 316, 403, 319, 325),
                  (77, 90, 180, 85, 16, 315, 404, 320, 307), (146, 91, 181, 84, 17, 314, 405, 321, 375))
LIP_ROW_PAIRS = tuple(pair for rows in (UPPER_LIP_ROWS, LOWER_LIP_ROWS)
                      for a, b in zip(rows[:-1], rows[1:]) for pair in zip(a, b))

# Points that expressions barely move: forehead, nose bridge and tip, temples, inner eye corners.
# Pose (similarity) alignment uses only these, so an open jaw or raised brows do not tilt the pose.
STABLE = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 109, 338, 67, 297, 103, 332, 54, 284,
          127, 356, 234, 454, 162, 389, 21, 251, 133, 362, 193, 417, 122, 351, 245, 465)


def face_size(xy: np.ndarray) -> float:
    """A robust size in pixels: the larger side of the landmark bounding box."""
    mn, mx = xy[:, :2].min(0), xy[:, :2].max(0)
    return float(max(mx - mn))


def interocular(xy: np.ndarray) -> float:
    return float(np.linalg.norm(xy[IRIS_RIGHT[0], :2] - xy[IRIS_LEFT[0], :2]))
