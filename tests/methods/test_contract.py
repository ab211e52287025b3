"""The contract of every registered method × every request kind (transfer, edit), and of every
method × every way of running it (transfer, edit, animate, swap): the request's intensity and
regions arrive at the method, in the job's intent, and shape what it is told.

Where a method declares a capability, the request is measurably carried out on the London pair
(AUs measured the one way the evaluation measures them,
:func:`facexpr.evaluate.judges.expression.measure_aus`); where it does not, the pipeline refuses
the request with :class:`~facexpr.errors.MethodCannot` (the CLI: one line, exit code 2) before
reading any image. This is the test that would have caught ``facexpr edit -m landmark-fusion``
returning an unedited face.

Known shortfalls of shipped weights are ``xfail(strict=True)``: the claim stays, the test says it
is not met yet, and it turns red the day it is (so the marker cannot outlive the problem).
"""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from facexpr.errors import MethodCannot
from facexpr.evaluate.judges.expression import measure_aus
from facexpr.expression.action_units import AUS
from facexpr.faces.topology import BROW_LEFT, BROW_RIGHT
from facexpr.faces.landmarks import analyze_faces
from facexpr.io import load_image
from facexpr.methods import CAPABILITIES, EDIT, TRANSFER, available, get_spec
from facexpr.pipeline import EditConfig, TransferConfig, run_edit, run_transfer

from _support import SOURCE_REL, TARGET_REL, data_file, facexpr_cmd

AU12 = AUS.index(12)
# (method, kind) whose shipped CPU-trained weights do not (yet) make a measurable change; see the
# AU-editing table in docs/RESULTS.md (ganimation: 0 of 17 AUs with rho >= 0.6).
# ganimation's transfer passed while the AUs were read by the prior fit (its output's AUs came >= 10 %
# closer to the source's); read by the expression reader they come 2 % closer and AU12 does not rise.
KNOWN_SHORT = {("ganimation", EDIT): "CPU-trained ganimation weights leave the face as it is (AU12 0.00 -> 0.00)",
               ("ganimation", TRANSFER): "CPU-trained ganimation weights hardly move the face (AUs 2 % closer to "
                                         "the source's, AU12 unchanged)"}
# The plain pix2pix baseline (no warp) sits at this test's 10 % line: it passed read by the fifth
# and seventh readers (seventh: AUs 12.7 % closer to the source's) and fell short read by the sixth (9.4 %).


def _cases():
    for name in available():
        for kind in CAPABILITIES:
            marks = [pytest.mark.xfail(strict=True, reason=KNOWN_SHORT[(name, kind)])] \
                if (name, kind) in KNOWN_SHORT and kind in get_spec(name).capabilities else []
            yield pytest.param(name, kind, marks=marks, id=f"{name}-{kind}")


@pytest.fixture(scope="module")
def pair_faces(shared_data):
    src = load_image(data_file(shared_data, SOURCE_REL))
    tgt = load_image(data_file(shared_data, TARGET_REL))
    t_face = analyze_faces(tgt)[0]
    s_face = analyze_faces(src)[0]
    return src, tgt, t_face, measure_aus(src, s_face), measure_aus(tgt, t_face)


@pytest.mark.parametrize("name,kind", list(_cases()))
def test_method_contract(name, kind, pair_faces):
    src, tgt, t_face, src_aus, tgt_aus = pair_faces
    spec = get_spec(name)
    if kind not in spec.capabilities:
        with pytest.raises(MethodCannot, match=f"method '{name}' cannot {kind}"):
            if kind == EDIT:
                run_edit("never-read.jpg", EditConfig(name, ((12, 0.8),)))
            else:
                run_transfer("never-read.jpg", "never-read.jpg", TransferConfig(name))
        return
    if kind == TRANSFER:  # the smile of the source: AU12 rises, or the AUs come closer to the source's
        out = measure_aus(run_transfer(src, tgt, TransferConfig(name)).image, t_face)
        assert out is not None, "the face is lost"
        before, after = np.abs(tgt_aus - src_aus).mean(), np.abs(out - src_aus).mean()
        assert out[AU12] - tgt_aus[AU12] >= 0.05 or after <= 0.9 * before, (out[AU12], before, after)
    else:  # AU12 +0.8 asked: at least +0.2 measured
        res = run_edit(tgt, EditConfig(name, ((12, 0.8),)))
        out = measure_aus(res.image, t_face)
        assert out is not None and out[AU12] - tgt_aus[AU12] >= 0.2, (tgt_aus[AU12], out[AU12] if out is not None else None)


def test_every_method_is_covered():
    """The parametrisation is built from the registry: a new method is in the contract at once."""
    ids = {(n, k) for n in available() for k in CAPABILITIES}
    assert len(list(_cases())) == len(ids) >= 10
    assert all(get_spec(n).capabilities <= set(CAPABILITIES) and get_spec(n).capabilities for n in available())


def test_cli_refuses_an_edit_the_method_cannot_do(tmp_path):
    """The issue's bug, from the command line: one line, exit code 2, no output file."""
    out = tmp_path / "out.png"
    p = subprocess.run(facexpr_cmd() + ["edit", "me.jpg", "--au", "AU12=+0.8", "-m", "landmark-fusion", "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.startswith("facexpr: error: method 'landmark-fusion' cannot edit")
    assert p.stderr.count("\n") == 1 and not out.exists()


# ----------------------------------------------------------------------------- the intent arrives

RUNS = ("transfer", "edit", "animate", "swap")
INTENSITY, REGIONS = 0.7, ("mouth",)
BROWS = [AUS.index(a) for a in (1, 2, 4)]


def _runs():
    for name in available():
        for run in RUNS:
            yield pytest.param(name, run, id=f"{name}-{run}")


@pytest.fixture(scope="module")
def drive(shared_data):
    return data_file(shared_data, "video/WolfgangLanger_Pexels.mp4")


@pytest.mark.parametrize("name,run", list(_runs()))
def test_the_request_reaches_the_method(name, run, pair_faces, shared_data, drive, monkeypatch):
    """Each way of running a method hands it one typed job whose intent carries the request's
    intensity and regions (an edit: its intensity and wanted AUs); the geometry and the wanted AUs
    obey them (brows outside ``--regions mouth`` keep the target's). A method that cannot serve
    the kind is refused before any work."""
    import facexpr
    from facexpr.methods import get_method
    from facexpr.pipeline import EditConfig, TransferConfig, run_edit, run_swap, run_transfer

    src, tgt, t_face, _, _ = pair_faces
    spec = get_spec(name)
    kind = EDIT if run == "edit" else TRANSFER
    if kind not in spec.capabilities:
        with pytest.raises(MethodCannot, match=f"method '{name}' cannot {kind}"):
            if run == "edit":
                run_edit("never-read.jpg", EditConfig(name, ((12, 0.8),)))
            elif run == "animate":
                facexpr.animate("never-read.jpg", drive, method=name)
            else:
                run_swap("never-read.jpg", "never-read.jpg", TransferConfig(name))
        return
    cls = type(get_method(name))  # the class: animate renders warp with a coarser instance of its own
    jobs = []
    real = cls.render

    def spy(self, job):
        jobs.append(job)
        return real(self, job)

    monkeypatch.setattr(cls, "render", spy)
    if run == "transfer":
        run_transfer(src, tgt, TransferConfig(name, INTENSITY, REGIONS, feedback=0))
    elif run == "swap":
        run_swap(src, tgt, TransferConfig(name, INTENSITY, REGIONS, feedback=0))
    elif run == "edit":
        res = run_edit(tgt, EditConfig(name, ((12, 0.8),), intensity=INTENSITY, feedback=0))
    else:  # near-neutral reference, smiling frames
        frames = list(facexpr.animate(tgt, drive, method=name, intensity=INTENSITY, regions=REGIONS,
                                      reference_frame=0, start=12.0, max_frames=2, size=None))
        assert len(frames) == 2
    assert jobs, "the method was never asked to render"
    for job in jobs:
        intent = job.intent
        assert intent.kind == kind and intent.intensity == pytest.approx(INTENSITY)
        have = current_aus(job.target_face)
        if run == "edit":
            assert intent.want_aus[AUS.index(12)] == pytest.approx(res.want_aus[AUS.index(12)], abs=1e-6)
            assert intent.want_aus[AUS.index(12)] == pytest.approx(min(have[AUS.index(12)] + 0.8 * INTENSITY, 1), abs=1e-5)
            continue
        assert intent.regions == REGIONS and intent.relative == (run == "animate")
        np.testing.assert_allclose(intent.want_aus[BROWS], have[BROWS], atol=1e-6)  # brows: the target's own
        brows = list(BROW_RIGHT + BROW_LEFT)
        np.testing.assert_allclose(job.retargeted.xy[brows], job.target_face.xy[brows], atol=1e-6)
        assert np.abs(job.retargeted.xy - job.target_face.xy).max() > 0.5  # and the mouth moves


def current_aus(face) -> np.ndarray:
    from facexpr.expression.action_units import estimate

    return estimate(face.blendshapes)


def test_every_run_is_covered():
    assert len(list(_runs())) == len(available()) * len(RUNS)


def test_traits_are_declared_once_on_the_spec():
    """The registry builds each method with its spec and never sets anything on it: capabilities
    and traits live on the spec alone, and a method has ``geometry`` exactly when its spec says so."""
    from facexpr.methods import get_method

    for name in available():
        method, spec = get_method(name), get_spec(name)
        assert method.spec is spec and method.name == name
        assert not any(hasattr(method, a) for a in ("capabilities", "landmark_driven", "au_conditioned"))
        assert hasattr(method, "geometry") == spec.own_geometry, name
        assert spec.landmark_driven == bool(getattr(getattr(method, "exported", None), "warp_base", name == "warp"))
