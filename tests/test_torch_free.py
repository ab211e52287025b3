"""The product core never imports torch: `import facexpr`, `facexpr --help`, and analyze, transfer,
edit and animate with `warp` run on a torch-free install (torch is the `[torch]` extra, for the
generator methods). Without torch, a generator method, `evaluate` or `train` ends in one line that
names the extra to install. Each check runs in a fresh interpreter: this test process itself may
well have imported torch already.

Self-contained: the bundled sample pair (``facexpr/data/samples``), no ../shared needed.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from facexpr.bundled import sample_pair

HEAVY_FOR_HELP = ("torch", "numpy", "mediapipe", "cv2", "scipy", "gradio", "dlib", "kornia", "matplotlib")


def _imported_by(code: str) -> set[str]:
    """Top-level packages imported by ``python -X importtime -c code`` (read from its report)."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    names = set()
    for line in p.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name.split(".")[0])
    assert "facexpr" in names, "the -X importtime report was not parsed"
    return names


def test_importtime_of_the_cli_shows_no_torch():
    names = _imported_by("import facexpr.cli")
    assert "torch" not in names
    # `facexpr --help` stays fast because the CLI module loads none of the heavy stacks (the
    # speed itself is measured, not asserted: see the report in docs/INSTALL.md).
    assert not names & set(HEAVY_FOR_HELP), sorted(names & set(HEAVY_FOR_HELP))


def test_import_facexpr_is_light():
    names = _imported_by("import facexpr")
    assert not names & set(HEAVY_FOR_HELP), sorted(names & set(HEAVY_FOR_HELP))


RUN = r"""
import json, sys
from facexpr.cli import app
results = {}
for name, argv in json.loads(sys.argv[1]):
    try:
        app(argv, standalone_mode=False)
        results[name] = 0
    except SystemExit as e:
        results[name] = e.code
loaded = sorted(m for m in ("torch", "kornia", "dlib", "h5py", "gradio", "accelerate") if m in sys.modules)
print(json.dumps({"codes": results, "loaded": loaded}))
"""


def _driving_clip(path, image, frames: int = 3) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], "yuv420p"
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_warp_commands_never_import_torch(tmp_path):
    from facexpr.io import load_image

    src, tgt = sample_pair()
    clip = tmp_path / "drive.mp4"
    _driving_clip(clip, load_image(src))
    runs = [
        ("transfer", ["transfer", str(src), str(tgt), "-o", str(tmp_path / "t.png")]),
        ("edit", ["edit", str(tgt), "--au", "AU12=+0.6", "--emotion", "contempt", "-o", str(tmp_path / "e.png")]),
        ("analyze", ["analyze", str(tgt), "-o", str(tmp_path / "a.json")]),
        ("animate", ["animate", str(tgt), "--driving", str(clip), "--no-audio", "-o", str(tmp_path / "frames")]),
    ]
    p = subprocess.run([sys.executable, "-c", RUN, json.dumps(runs)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["codes"] == {name: 0 for name, _ in runs}, p.stderr[-3000:]
    assert out["loaded"] == [], f"the warp path imported {out['loaded']}"
    assert (tmp_path / "t.png").is_file() and (tmp_path / "e.png").is_file()
    assert json.loads((tmp_path / "a.json").read_text())["faces"]
    assert len(list((tmp_path / "frames").glob("*.png"))) == 3


NO_TORCH = r"""
import sys
sys.modules["torch"] = None  # as if torch were not installed: `import torch` fails
from facexpr.cli import main
sys.argv = ["facexpr"] + sys.argv[1:]
main()
"""


@pytest.mark.parametrize("argv, extra", [
    (["transfer", "{src}", "{tgt}", "-m", "relative-au", "-o", "{out}"], "torch"),
    (["edit", "{tgt}", "--au", "AU12=+0.5", "-m", "ganimation", "-o", "{out}"], "torch"),
    (["evaluate", "--benchmark", "london", "--limit", "1"], "eval"),
    (["train", "-c", "configs/smoke.yaml"], "train"),
], ids=["transfer-generator", "edit-generator", "evaluate", "train"])
def test_without_torch_one_line_names_the_extra(tmp_path, argv, extra):
    src, tgt = sample_pair()
    argv = [a.format(src=src, tgt=tgt, out=tmp_path / "o.png") for a in argv]
    p = subprocess.run([sys.executable, "-c", NO_TORCH, *argv], capture_output=True, text=True, timeout=300)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, p.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("facexpr: error: "), p.stderr[-2000:]
    assert f"pip install 'facexpr[{extra}]'" in lines[0]
    assert not (tmp_path / "o.png").exists()


def test_the_web_app_imports_no_torch():
    pytest.importorskip("gradio")
    p = subprocess.run([sys.executable, "-c", "import sys, facexpr.web.app, facexpr.web.handlers; "
                        "print('torch' in sys.modules)"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == "False"
