"""Contact sheet of mouth and eye crops, before/after, for docs/results/eyes_mouth.png.

    .venv/bin/python benchmarks/eyes_mouth_sheet.py docs/results/eyes_mouth.png 001_03 010_03

The "before" column renders with ``warp`` as of commit 8db557c (loaded from git, registered
as ``warp_old``), so the comparison stays reproducible after the change.
"""
import subprocess
import sys
import types

from PIL import Image, ImageDraw
import facexpr
import facexpr.methods as M
from facexpr.datasets import data_root
from facexpr.io import load_image
from facexpr.faces.topology import LIPS_OUTER, EYE_RIGHT, EYE_LEFT

old_src = subprocess.check_output(["git", "show", "8db557c:src/facexpr/methods/warp.py"], text=True)
old_src = old_src.replace('@register("warp")', '@register("warp_old")')
mod = types.ModuleType("facexpr.methods._warp_old"); mod.__package__ = "facexpr.methods"
M.available()
sys.modules["facexpr.methods._warp_old"] = mod
exec(compile(old_src, "warp_old.py", "exec"), mod.__dict__)

N = str(data_root() / "london" / "neutral") + "/"
people = sys.argv[2:] or ["001_03", "010_03"]
cols = [("input", None, None), ("surprise, before", "warp_old", dict(emotion="surprise", intensity=1.2)),
        ("surprise, now", "warp", dict(emotion="surprise", intensity=1.2)),
        ("AU26 +0.8", "warp", dict(aus={"AU26": 0.8})), ("AU25 +0.5", "warp", dict(aus={"AU25": 0.5})),
        ("AU5 +1", "warp", dict(aus={"AU5": 1.0}))]
CW, MH, EH, LAB = 210, 136, 72, 16
rows = []
for p in people:
    img = load_image(N + p + ".jpg")
    outs = []
    for name, meth, kw in cols:
        if meth is None:
            outs.append(img); face = facexpr.edit(N + p + ".jpg", method="warp", aus={"AU12": 0.0}).face
        else:
            outs.append(facexpr.edit(N + p + ".jpg", method=meth, **kw).image)
    xy, fs = face.xy, face.size
    mc = xy[list(LIPS_OUTER)].mean(0) + (0, fs * 0.035)
    ec = xy[list(EYE_RIGHT)].mean(0)
    for c, hw, H in ((mc, fs * 0.16, MH), (ec, fs * 0.1, EH)):
        hh = hw * H / CW
        box = (int(c[0] - hw), int(c[1] - hh), int(c[0] + hw), int(c[1] + hh))
        rows.append([Image.fromarray(o).crop(box).resize((CW, H), Image.LANCZOS) for o in outs])
W = len(cols) * (CW + 4); Ht = LAB + sum(r[0].height + 4 for r in rows)
sheet = Image.new("RGB", (W, Ht), "white"); d = ImageDraw.Draw(sheet)
for j, (name, _, _) in enumerate(cols):
    d.text((j * (CW + 4) + 4, 2), name, fill="black")
y = LAB
for r in rows:
    for j, im in enumerate(r):
        sheet.paste(im, (j * (CW + 4), y))
    y += r[0].height + 4
sheet = sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
sheet.save(sys.argv[1], optimize=True)
print(sheet.size)
