"""The photo's measured response (``facexpr.response``): the closed loop's correction, once per
photo, for ``animate`` and Live."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facexpr.expression.blendshapes import NAMES
from facexpr.pipeline import MAX_GAIN
from facexpr.response import RAMP, ResponseCurves

SMILE = (NAMES.index("mouthSmileLeft"), NAMES.index("mouthSmileRight"))
JAW = (NAMES.index("jawOpen"),)


def curves(smile=(0.0, 0.05, 0.7), jaw=(0.2, 0.4, 0.75)) -> ResponseCurves:
    return ResponseCurves((SMILE, JAW), np.array([0.0, 0.25, 0.5, 1.0]),
                          np.array([(0.0,) + tuple(smile), (0.0,) + tuple(jaw)]) + np.linspace(0, 1e-6, 4))


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 0.5), st.floats(0.0, 0.5))
def test_amplified_stays_within_the_closed_loops_bounds_and_keeps_order(c, d, a, b):
    r = curves(smile=tuple(np.cumsum([a, b, 0.1])))
    x, y = np.zeros(52), np.zeros(52)
    x[SMILE[0]], y[SMILE[0]] = c, d
    ax, ay = r.amplified(x)[SMILE[0]], r.amplified(y)[SMILE[0]]
    assert c - 1e-12 <= ax <= MAX_GAIN * c + 1e-12      # never weaker than asked, never past the loop's gain
    assert ax <= max(c, 1.0) + 1e-12                     # nor past the full shape
    if c < d:
        assert ax <= ay + 1e-9                            # a stronger request is never drawn weaker


def test_what_the_photo_hardly_shows_is_raised_and_the_rest_passes():
    r = curves()
    d = np.zeros(52)
    d[list(SMILE)] = 0.4            # this photo shows 0.05 of a smile at 0.5: raised towards 0.77
    d[JAW[0]] = 0.3                 # shows 0.3 at ~0.375
    d[NAMES.index("browInnerUp")] = 0.5   # not measured: unchanged
    d[NAMES.index("eyeBlinkLeft")] = -0.2
    out = r.amplified(d)
    assert np.allclose(out[list(SMILE)], 0.5 + 0.5 * (0.4 - 0.05) / (0.7 - 0.05), atol=1e-4)
    assert out[JAW[0]] == pytest.approx(0.25 + 0.25 * (0.3 - 0.2) / 0.2, abs=1e-4)
    assert out[NAMES.index("browInnerUp")] == 0.5 and out[NAMES.index("eyeBlinkLeft")] == -0.2
    small = np.zeros(52)
    small[SMILE[0]] = RAMP / 4      # a still driver's noise is not amplified at full gain
    assert small[SMILE[0]] <= r.amplified(small)[SMILE[0]] <= small[SMILE[0]] * (1 + (MAX_GAIN - 1) / 4) + 1e-12


@pytest.mark.data
def test_the_measured_response_brings_a_weak_smile_up_to_what_was_asked(london):
    """London 005 shows MediaPipe almost no smile at weight 0.4; rendered at the calibrated weight,
    it shows more of the 0.4 it was asked for than at the plain weight."""
    import cv2

    from _support import data_file
    from facexpr.expression.analysis import analyze_faces, mediapipe_scores
    from facexpr.expression.model import load_default_model
    from facexpr.expression.retarget import retargeted
    from facexpr.faces.landmarks import reanalyze
    from facexpr.io import load_image
    from facexpr.methods import RenderJob
    from facexpr.pipeline import load_method, render
    from facexpr.response import measure_response

    img = load_image(data_file(london.parent, "london/neutral/005_03.jpg"))
    img = cv2.resize(img, (512, 512), interpolation=cv2.INTER_AREA)
    face = analyze_faces(img)[0]
    model, method = load_default_model(), load_method("warp", "transfer")
    r = measure_response(method, img, face, model)
    assert np.all(np.diff(r.shown, axis=1) >= 0)
    asked = np.zeros(52)
    asked[list(SMILE)] = 0.4
    shown = []
    for d in (asked, r.amplified(asked)):
        out, _ = render(method, RenderJob(img, face, img, face, retargeted(face, d, model)), model)
        shown.append(float(np.mean(reanalyze(out, face).blendshapes[list(SMILE)] - mediapipe_scores(face)[list(SMILE)])))
    plain, calibrated = shown
    assert abs(calibrated - 0.4) < abs(plain - 0.4) - 0.1, shown
