"""``facexpr evaluate --task read``: the analysis stage's own table — how well one photo's
expression code is *read*, for the product's code and MediaPipe's raw scores side by side.

    facexpr evaluate --task read [--n 10] [--data ../shared/data] [--out reports/read]

* **Mirror consistency**, on every real face in the shared data (London neutral and smiling,
  Canada, the one-person sets, the probes, the edge cases, every 25th frame of each video): a
  face's code against the mirrored code of its mirror image (Left↔Right swapped, gaze left
  out) — mean |difference| and the share of faces with some shape off by more than 0.3.
* **Neutral reads neutral**: unseen London neutral faces and their mirror images; the 95th
  percentile of every shape the product reads itself (not taken from MediaPipe's classifier).
* **Single-photo AU recovery**: ``warp`` edits of ``--n`` unseen London people, each AU at
  0, .25, .5, .75, 1; the AU read from the *edited photo alone* against the change asked for
  (Spearman ρ, people pooled).
* **Stability**: the same unseen London photos (neutral and smiling) read again after what
  separates a stranger's photo from a studio portrait — a 150-px face, a JPEG at quality 30,
  darker or brighter light, a 15° roll, the head turned 15° down, up or sideways — against their
  reading as they are (mean |difference|, share with a shape off by more than 0.3). No photo set
  here shows one expression at several head poses, so the turns are drawn by ``warp``
  (:func:`facexpr.pipeline.render_turned`, as ``animate --pose`` turns a head): an approximation
  of a real turn (nothing the turn would uncover is shown), the same for every reading compared.

No emotion or identity judge is used. A contact sheet shows the faces whose readings disagree
most with their mirror images.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from scipy.stats import spearmanr

from ..datasets import data_root, london, video
from ..errors import InputError
from ..expression.action_units import AUS, estimate
from ..expression.analysis import describe
from ..faces import landmarks
from ..expression.blendshapes import FITTED, MIRRORED, NAMES
from ..expression.reader import load_default_reader
from ..faces.crops import aligned_crop
from ..io import atomic_write_bytes, atomic_write_text, load_image
from ..pipeline import EditConfig, render_turned, run_edit
from .sections import write_section

KEEP = np.array([not n.startswith("eyeLook") and n != "_neutral" for n in NAMES])
DELTAS = (0.25, 0.5, 0.75, 1.0)
KINDS = ("product", "one pass", "mediapipe")  # one pass: the product's reading without the mirror pass
SECTION = "## Reading the expression from one photo"


def _codes(rgb: np.ndarray):
    """(product code, the same read in one pass without the mirror pass, MediaPipe's scores, face)
    of the largest face, or None."""
    dets = landmarks.analyze_faces(rgb)
    if not dets:
        return None
    f = describe(dets[0], mirrored=landmarks.mirror_pass(rgb, dets[0]))
    one = describe(dets[0])
    return (np.asarray(f.blendshapes, np.float64), np.asarray(one.blendshapes, np.float64),
            np.asarray(f.mediapipe_scores, np.float64), f)


def real_faces(root: Path, every: int = 25):
    """(set, name, image) of every real face photo in the shared data, and sampled video frames."""
    root = Path(root)
    for folder, pattern in (("london/neutral", "*.jpg"), ("london/smiling", "*.jpg"), ("canada", "*.jpg"),
                            ("lisa", "*.jpg"), ("zoom", "*.jpg"), ("probes", "*.jp*g"), ("edge", "*.*g")):
        for p in sorted((root / folder).glob(pattern)):
            yield folder, p.name, load_image(p)
    for clip in video.clips(root):
        for i, rgb in video.frames(clip, every=every):
            yield "video", f"{clip.name}:{i}", rgb


def mirror_consistency(root: Path, log=print) -> dict:
    rows: dict[str, dict[str, list]] = {}
    worst = []
    for folder, name, rgb in real_faces(root):
        a, b = _codes(rgb), _codes(np.ascontiguousarray(rgb[:, ::-1]))
        if a is None or b is None:
            continue
        r = rows.setdefault(folder, {k: [] for k in KINDS})
        for k, i in zip(KINDS, (0, 1, 2)):
            d = np.abs(a[i] - b[i][list(MIRRORED)])[KEEP]
            r[k].append((float(d.mean()), float(d.max())))
        d = np.abs(a[0] - b[0][list(MIRRORED)])
        d[~KEEP] = 0
        worst.append((float(d.max()), f"{folder}/{name}", NAMES[int(d.argmax())], rgb, a[3]))
    log(f"mirror: {sum(len(v['product']) for v in rows.values())} faces")
    table = {}
    for folder, r in rows.items():
        table[folder] = {k: {"faces": len(v), "mean": float(np.mean([m for m, _ in v])),
                             "share_over_0.3": float(np.mean([x > 0.3 for _, x in v]))} for k, v in r.items()}
    allv = {k: [x for r in rows.values() for x in r[k]] for k in KINDS}
    table["all"] = {k: {"faces": len(v), "mean": float(np.mean([m for m, _ in v])),
                        "share_over_0.3": float(np.mean([x > 0.3 for _, x in v]))} for k, v in allv.items()}
    worst.sort(key=lambda w: -w[0])
    return {"table": table, "worst": [(round(w[0], 3), w[1], w[2]) for w in worst[:10]], "_worst": worst[:6]}


def neutral_reads_neutral(root: Path) -> dict:
    """95th percentile per shape over unseen London neutral faces and their mirror images."""
    codes = {k: [] for k in KINDS}
    for p in london.split(Path(root) / "london", "unseen"):
        rgb = load_image(p.neutral)
        for view in (rgb, np.ascontiguousarray(rgb[:, ::-1])):
            c = _codes(view)
            if c is not None:
                for k, code in zip(KINDS, c[:3]):
                    codes[k].append(code)
    out = {}
    for k, v in codes.items():
        p95 = np.percentile(np.array(v), 95, axis=0)
        out[k] = {n: round(float(x), 3) for n, x in zip(NAMES, p95) if KEEP[NAMES.index(n)]}
    # the shapes the product reads itself (the reader's, else the fitted ones); the rest are
    # MediaPipe's scores passed through
    reader = load_default_reader()
    own = reader.use if reader is not None else np.isin(NAMES, FITTED)
    return {"faces": len(codes["product"]), "p95": out, "own": [n for n, u in zip(NAMES, own) if u]}


def au_recovery(root: Path, n: int, log=print) -> dict:
    """Spearman ρ per AU between the change asked of ``warp`` and the AU read from the edited
    photo alone (product code and MediaPipe's scores), over ``n`` unseen London people."""
    people = london.split(Path(root) / "london", "unseen")[:n]
    pairs = {k: {au: ([], []) for au in AUS} for k in KINDS}
    for p in people:
        img = load_image(p.neutral)
        shots = [(None, 0.0, img)]
        for au in AUS:
            for d in DELTAS:
                shots.append((au, d, run_edit(img, EditConfig("warp", ((au, d),))).image))
        for au_asked, d, rgb in shots:
            c = _codes(rgb)
            if c is None:
                continue
            for k, code in zip(KINDS, c[:3]):
                aus = estimate(code)
                for j, au in enumerate(AUS):
                    if au_asked is None or au_asked == au:
                        pairs[k][au][0].append(d)
                        pairs[k][au][1].append(float(aus[j]))
        log(f"AU recovery: {p.id} done")
    rho = {k: {au: _rho(*v) for au, v in per.items()} for k, per in pairs.items()}
    return {"people": [p.id for p in people], "rho": rho,
            "controllable": {k: sum(r >= 0.6 for r in v.values()) for k, v in rho.items()}}


def _face_150(rgb: np.ndarray, face) -> np.ndarray:
    s = 150.0 / max(face.size, 1.0)
    if s >= 1.0:
        return rgb
    return cv2.resize(rgb, (max(32, round(rgb.shape[1] * s)), max(32, round(rgb.shape[0] * s))), interpolation=cv2.INTER_AREA)


def _jpeg(rgb: np.ndarray, face) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 30])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _light(gamma: float, gain: float):
    def f(rgb: np.ndarray, face) -> np.ndarray:
        x = (rgb.astype(np.float32) / 255.0) ** gamma * gain
        return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
    return f


def _roll(rgb: np.ndarray, face) -> np.ndarray:
    h, w = rgb.shape[:2]
    M = cv2.getRotationMatrix2D((w / 2, h / 2), 15.0, 1.0)
    return cv2.warpAffine(rgb, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _turned(pitch: float, yaw: float):
    def f(rgb: np.ndarray, face) -> np.ndarray:
        return render_turned(rgb, face, pitch, yaw)
    return f


# what separates a stranger's photo from a studio portrait, one at a time
CONDITIONS = {"face 150 px": _face_150, "JPEG quality 30": _jpeg, "darker (γ 1.5, × 0.7)": _light(1.5, 0.7),
              "brighter (γ 0.7)": _light(0.7, 1.0), "rolled 15°": _roll,
              "head down 15° (warp)": _turned(15.0, 0.0), "head up 15° (warp)": _turned(-15.0, 0.0),
              "head turned 15° (warp)": _turned(0.0, 15.0)}


def stability(root: Path, n: int | None = None, log=print) -> dict:
    """Per condition of :data:`CONDITIONS`: how much the code of an unseen London photo (neutral
    and smiling) changes when the photo is degraded that way — mean |difference| over the
    expression shapes and the share of photos with a shape off by more than 0.3."""
    people = london.split(Path(root) / "london", "unseen")[:n]
    diffs = {c: {k: [] for k in KINDS} for c in CONDITIONS}
    for p in people:
        for path in (p.neutral, p.smiling):
            rgb = load_image(path)
            base = _codes(rgb)
            if base is None:
                continue
            for c, degrade in CONDITIONS.items():
                got = _codes(degrade(rgb, base[3]))
                if got is None:
                    continue
                for k, i in zip(KINDS, (0, 1, 2)):
                    d = np.abs(base[i] - got[i])[KEEP]
                    diffs[c][k].append((float(d.mean()), float(d.max())))
    log(f"stability: {len(people)} people")
    return {c: {k: {"photos": len(v), "mean": float(np.mean([m for m, _ in v])) if v else float("nan"),
                    "share_over_0.3": float(np.mean([x > 0.3 for _, x in v])) if v else float("nan")}
                for k, v in per.items()} for c, per in diffs.items()}


def _rho(x, y) -> float:
    if len(set(y)) < 2:
        return 0.0
    return round(float(spearmanr(x, y)[0]), 3)


def contact_sheet(worst: list, path: Path, size: int = 160) -> None:
    """The faces whose product code disagrees most with their mirror image: photo, mirror."""
    rows = []
    for d, name, shape, rgb, face in worst:
        a = aligned_crop(rgb, face.landmarks, size)
        row = np.concatenate([a, a[:, ::-1]], axis=1).copy()
        cv2.putText(row, f"{shape} {d:.2f}", (4, size - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
        rows.append(row)
    if rows:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR))
        atomic_write_bytes(path, buf.tobytes())


def markdown(rep: dict) -> str:
    m, nn, au = rep["mirror"], rep["neutral"], rep["au_recovery"]
    lines = [f"{SECTION} (`facexpr evaluate --task read`)", "",
             "The analysis stage's own table: the product's code (read in the photo and in its mirror "
             "image, averaged), the same reader in one pass, and MediaPipe's raw scores (no emotion or "
             "identity judge).", "",
             f"Command: `{rep['command']}`", "", "### Mirror consistency (mean |code − mirrored code|, "
             "share with a shape off by > 0.3; gaze left out)", "",
             "| faces | n | product mean | product > 0.3 | one pass mean | one pass > 0.3 | MediaPipe mean | MediaPipe > 0.3 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for k, v in m["table"].items():
        p, o, q = v["product"], v.get("one pass", v["product"]), v["mediapipe"]
        lines.append(f"| {k} | {p['faces']} | {p['mean']:.4f} | {p['share_over_0.3']:.3f} | {o['mean']:.4f} | "
                     f"{o['share_over_0.3']:.3f} | {q['mean']:.4f} | {q['share_over_0.3']:.3f} |")
    lines += ["", f"Worst: {m['worst'][:5]}", "", f"### Neutral reads neutral ({nn['faces']} unseen London neutral "
              "faces and mirror images): 95th percentile, highest shapes", "",
              "| shape | product | one pass | MediaPipe |", "|---|---:|---:|---:|"]
    own = set(nn.get("own", []))
    one = nn["p95"].get("one pass", nn["p95"]["product"])
    for n in sorted(own, key=lambda s: -max(nn["p95"]["product"][s], one[s]))[:10]:
        lines.append(f"| {n} | {nn['p95']['product'][n]:.3f} | {one[n]:.3f} | {nn['p95']['mediapipe'][n]:.3f} |")
    mp_only = sorted((n for n in nn["p95"]["mediapipe"] if n not in own), key=lambda s: -nn["p95"]["mediapipe"][s])[:3]
    lines += ["", "Shapes read by the product itself (the reader); MediaPipe's own scores pass through for the "
              "rest, gated where the reader gates them (the pucker; highest of MediaPipe's, product / MediaPipe: "
              + ", ".join(f"{n} {nn['p95']['product'][n]:.2f} / {nn['p95']['mediapipe'][n]:.2f}" for n in mp_only) + ")."]
    lines += ["", f"### Single-photo AU recovery (warp edits of {len(au['people'])} unseen London people; "
              "Spearman ρ of asked change vs the AU read from the edited photo alone)", "",
              f"ρ ≥ 0.6: product {au['controllable']['product']} of {len(AUS)}, one pass "
              f"{au['controllable'].get('one pass', '—')} of {len(AUS)}, MediaPipe "
              f"{au['controllable']['mediapipe']} of {len(AUS)}", "",
              "| AU | product ρ | one pass ρ | MediaPipe ρ |", "|---|---:|---:|---:|"]
    rho_one = au["rho"].get("one pass", au["rho"]["product"])
    for a in AUS:
        lines.append(f"| AU{a} | {au['rho']['product'][a]:.2f} | {rho_one[a]:.2f} | {au['rho']['mediapipe'][a]:.2f} |")
    st = rep.get("stability")
    if st:
        first = next(iter(st.values()))["product"]["photos"]
        lines += ["", f"### Stability ({first} unseen London photos, neutral and smiling: the code after one "
                  "degradation against the code as they are; mean |difference|, share with a shape off by > 0.3)", "",
                  "| condition | product mean | product > 0.3 | one pass mean | one pass > 0.3 | MediaPipe mean | MediaPipe > 0.3 |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for c, v in st.items():
            p, o, q = v["product"], v["one pass"], v["mediapipe"]
            lines.append(f"| {c} | {p['mean']:.4f} | {p['share_over_0.3']:.3f} | {o['mean']:.4f} | "
                         f"{o['share_over_0.3']:.3f} | {q['mean']:.4f} | {q['share_over_0.3']:.3f} |")
        lines += ["", "The head turns are drawn by `warp` (`pipeline.render_turned`, as `animate --pose` turns a "
                  "head): no photo set in the shared data shows one expression at several poses."]
    return "\n".join(lines) + "\n"


def write_results_md(section: str, results_md: Path) -> Path:
    """The section into ``docs/results/read.md`` and, when RESULTS.md has it already, in place."""
    return write_section(section, SECTION, "read.md", results_md)


def run(root: Path | None, n: int, out: Path, command: str, log=print) -> dict:
    root = Path(root or data_root() or "")
    if not (root / "london").is_dir():
        raise InputError(f"{root}: no shared data here (expected london/, canada/, video/ …; pass --data or set FACEXPR_DATA)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    mirror = mirror_consistency(root, log)
    rep = {"command": command, "mirror": {k: v for k, v in mirror.items() if not k.startswith("_")},
           "neutral": neutral_reads_neutral(root), "au_recovery": au_recovery(root, n, log),
           "stability": stability(root, log=log)}
    contact_sheet(mirror["_worst"], out / "mirror_worst.jpg")
    atomic_write_text(out / "read.json", json.dumps(rep, indent=1, default=str))
    md = markdown(rep)
    atomic_write_text(out / "read.md", md)
    return rep


__all__ = ["run", "markdown"]
