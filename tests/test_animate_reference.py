"""``animate``'s default reference: the driving clip's most neutral stretch by the reading, not its
first frame (which, in the shared Pexels clip, shows a half smile with the lids down)."""
import numpy as np
import pytest

from _support import data_file

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def clip(tmp_path_factory, shared_data):
    """3 s of the Pexels clip: 1 s of laughing (frames 300-323), then its near-neutral stretch
    (frames 200-247; the reading's most neutral) — so the first frame is far from neutral."""
    from facexpr.io_video import VideoWriter, read_frames

    src = data_file(shared_data, "video/WolfgangLanger_Pexels.mp4")
    out = tmp_path_factory.mktemp("ref") / "laugh_first.mp4"
    w = VideoWriter(out, 24, 640, 360)
    for lo, hi in ((300, 324), (200, 248)):
        for f in read_frames(src, lo, hi):
            w.write(f.image)
    return w.close()


def test_default_reference_is_the_most_neutral_stretch(clip, target_path):
    import facexpr
    from facexpr.animation import neutrality

    default = facexpr.animate(target_path, clip, size=256)
    first = facexpr.animate(target_path, clip, size=256, reference_frame=0)
    assert neutrality(default.reference) < neutrality(first.reference) - 0.5
    # relative motion from it: the laughing frames move the photo, where from frame 0 they barely do
    d = [np.abs(f.image.astype(float) - default.photo.astype(float)).mean() for f in default]
    f0 = [np.abs(f.image.astype(float) - first.photo.astype(float)).mean() for f in first]
    assert np.mean(d[:24]) > np.mean(f0[:24]) + 0.1
    assert np.mean(d[40:]) < np.mean(d[:24])  # the neutral stretch stays close to the photo


def test_overrides_still_win(clip, target_path, tmp_path):
    import facexpr
    from facexpr.io import save_image
    from facexpr.io_video import read_frames

    laugh = next(read_frames(clip, 5, 6)).image
    photo = save_image(laugh, tmp_path / "driver_neutral.png")
    a = facexpr.animate(target_path, clip, size=256, driving_neutral=photo)
    b = facexpr.animate(target_path, clip, size=256, reference_frame=5)
    from facexpr.animation import neutrality

    for anim in (a, b):  # both took the laughing frame as neutral, as asked
        assert neutrality(anim.reference) > neutrality(facexpr.animate(target_path, clip, size=256).reference)
