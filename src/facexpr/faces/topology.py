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


# The mirror partner of every landmark (the subject's left <-> right; midline points and the iris
# centres' order map onto themselves): a face seen in a mirror has landmark i where the original
# has MIRROR[i]. Found once by reflecting the mean real face and matching points (Hungarian
# assignment, worst mismatch 0.011 of the stable-point radius); an involution.
MIRROR = (
    0, 1, 2, 248, 4, 5, 6, 249, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 250, 251, 252, 253,
    254, 255, 256, 257, 258, 259, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 270, 271, 272,
    273, 274, 275, 276, 277, 278, 279, 280, 281, 282, 283, 284, 285, 286, 287, 288, 289, 290, 291,
    292, 293, 294, 295, 296, 297, 298, 299, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310,
    311, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 322, 323, 94, 324, 325, 326, 327, 328,
    329, 330, 331, 332, 333, 334, 335, 336, 337, 338, 339, 340, 341, 342, 343, 344, 345, 346, 347,
    348, 349, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 360, 361, 362, 363, 364, 365, 366,
    367, 368, 369, 370, 371, 372, 373, 374, 375, 376, 377, 378, 379, 151, 152, 380, 381, 382, 383,
    384, 385, 386, 387, 388, 389, 390, 164, 391, 392, 393, 168, 394, 395, 396, 397, 398, 399, 175,
    400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418,
    195, 419, 197, 420, 199, 200, 421, 422, 423, 424, 425, 426, 427, 428, 429, 430, 431, 432, 433,
    434, 435, 436, 437, 438, 439, 440, 441, 442, 443, 444, 445, 446, 447, 448, 449, 450, 451, 452,
    453, 454, 455, 456, 457, 458, 459, 460, 461, 462, 463, 464, 465, 466, 467, 3, 7, 20, 21, 22, 23,
    24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71,
    72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 95, 96,
    97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116,
    117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131, 132, 133, 134, 135,
    136, 137, 138, 139, 140, 141, 142, 143, 144, 145, 146, 147, 148, 149, 150, 153, 154, 155, 156,
    157, 158, 159, 160, 161, 162, 163, 165, 166, 167, 169, 170, 171, 172, 173, 174, 176, 177, 178,
    179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191, 192, 193, 194, 196, 198, 201,
    202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220,
    221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
    240, 241, 242, 243, 244, 245, 246, 247, 473, 476, 475, 474, 477, 468, 471, 470, 469, 472
)


def face_size(xy: np.ndarray) -> float:
    """A robust size in pixels: the larger side of the landmark bounding box."""
    mn, mx = xy[:, :2].min(0), xy[:, :2].max(0)
    return float(max(mx - mn))


def interocular(xy: np.ndarray) -> float:
    return float(np.linalg.norm(xy[IRIS_RIGHT[0], :2] - xy[IRIS_LEFT[0], :2]))
