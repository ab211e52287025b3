"""Train and evaluate the fusion module on prepared caches (``facexpr prepare london|video``).

    facexpr research fit-fusion --london cache/london-128 --video cache/video-128 \
        --out src/facexpr/data/landmark_fusion_fusion.safetensors [--ae-out runs/fusion_ae.safetensors]

Training: London *train* split persons (ids of the first 60) + every video clip (see
:func:`facexpr.methods.landmark_fusion.fusion.make_pairs`). Evaluation on the London *unseen*
split (never trained on), in canonical units (mean 2D point distance, as
:func:`facexpr.expression.fit.landmark_error`), target = a person's neutral photo, ground truth =
the same person's smiling photo:

* ``cross``: source = *another* unseen person's smiling photo (what a transfer really gets);
  compared with no change and the analytic retargeting (source blendshapes);
* ``swapped``: source = the protocol of training: the person's own smile displacement carried onto
  another unseen person's neutral geometry (fusion only; analytic given its own blendshapes, the
  0.0157 "oracle" number of the expression model card, is shown for reference).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..datasets.london import TRAIN_COUNT
from ..cache import read_index
from ..expression.model import load_default_model
from ..expression.retarget import RetargetConfig, apply_delta, expression_delta
from ..faces.landmarks import Face
from ..methods.landmark_fusion import nets as fu


def _london_split(cache: Path) -> tuple[set[str], set[str]]:

    persons = sorted({r["person"] for r in read_index(cache).values() if r.get("ok")})
    return set(persons[:TRAIN_COUNT]), set(persons[TRAIN_COUNT:])


def _pairs_of(cache: Path, reference: np.ndarray, persons: set[str]):
    """Per person: (neutral canon, smiling canon, neutral crop landmarks, neutral bs, smiling bs, smiling lm)."""

    by = {}
    for r in read_index(cache).values():
        if r.get("ok") and r["person"] in persons:
            with np.load(Path(cache) / r["file"]) as z:
                lm = z["landmarks"].astype(np.float64)
            by.setdefault(r["person"], {})[r["label"]] = (lm, np.asarray(r["blendshapes"], np.float64))
    out = []
    for p in sorted(by):
        d = by[p]
        if "neutral" in d and len(d) == 2:
            (ln, bn), = [d["neutral"]]
            (ls, bs), = [v for k, v in d.items() if k != "neutral"]
            out.append(dict(person=p, n_lm=ln, s_lm=ls, n_bs=bn, s_bs=bs,
                            n=fu.to_canonical(ln, reference)[0], s=fu.to_canonical(ls, reference)[0]))
    return out


def evaluate(mlp, ae, pairs, model, shift: int = 17) -> dict:

    n = len(pairs)
    res = {k: [] for k in ("no_change", "analytic_cross", "fusion_cross", "analytic_own_blendshapes",
                           "fusion_swapped", "map_no_change", "map_analytic_cross", "map_fusion_ae_cross",
                           "map_fusion_ae_swapped", "map_fusion_mlp_cross")}
    ref = model.mean_shape
    for k, a in enumerate(pairs):
        b = pairs[(k + shift) % n]
        gt = a["s"]
        res["no_change"].append(fu.mean_point_error(a["n"], gt))
        face = Face(a["n_lm"], a["n_bs"].astype(np.float32), np.eye(4), (128, 128))
        moved = apply_delta(face, expression_delta(b["s_bs"], a["n_bs"], RetargetConfig()), model)
        an_cross = fu.to_canonical(moved, ref)[0]
        res["analytic_cross"].append(fu.mean_point_error(an_cross, gt))
        own = a["n"] + model.displacement(a["s_bs"] - a["n_bs"])
        res["analytic_own_blendshapes"].append(fu.mean_point_error(own, gt))
        with torch.no_grad():
            f_cross = mlp(torch.as_tensor(b["s"][None], dtype=torch.float32),
                          torch.as_tensor(a["n"][None], dtype=torch.float32))[0].double().numpy()
            swapped_src = b["n"] + (a["s"] - a["n"])
            f_sw = mlp(torch.as_tensor(swapped_src[None], dtype=torch.float32),
                       torch.as_tensor(a["n"][None], dtype=torch.float32))[0].double().numpy()
        res["fusion_cross"].append(fu.mean_point_error(f_cross, gt))
        res["fusion_swapped"].append(fu.mean_point_error(f_sw, gt))
        # key-point images (64 px): mean absolute difference to the ground truth's image
        gmap = fu.keypoint_image(gt)
        res["map_no_change"].append(float(np.abs(fu.keypoint_image(a["n"]) - gmap).mean()))
        res["map_analytic_cross"].append(float(np.abs(fu.keypoint_image(an_cross) - gmap).mean()))
        res["map_fusion_mlp_cross"].append(float(np.abs(fu.keypoint_image(f_cross) - gmap).mean()))
        if ae is not None:
            with torch.no_grad():
                for key, src in (("map_fusion_ae_cross", b["s"]), ("map_fusion_ae_swapped", swapped_src)):
                    x = torch.as_tensor(np.concatenate([fu.keypoint_image(src), fu.keypoint_image(a["n"])])[None])
                    res[key].append(float(np.abs(ae(x)[0].numpy() - gmap).mean()))
    return {k: float(np.mean(v)) for k, v in res.items() if v} | {"unseen_pairs": n}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--london", required=True, type=Path)
    ap.add_argument("--video", type=Path, default=None)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--ae-out", type=Path, default=None)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--ae-steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prior", action="store_true",
                    help="add every EMFACS emotion moved by the expression prior on the train people's neutral shapes")
    ap.add_argument("--report", type=Path, default=None)
    ap.add_argument("--mlp-from", type=Path, default=None, help="evaluate this trained MLP instead of training one")
    args = ap.parse_args(argv)

    model = load_default_model()
    ref = model.mean_shape
    train_p, unseen_p = _london_split(args.london)
    groups = fu.groups_from_cache(args.london, ref, train_p)
    if args.video:
        groups += fu.groups_from_cache(args.video, ref)
    neutrals = np.stack([g.rest for g in groups if g.kind == "pair"])
    if args.prior:
        groups += fu.prior_groups([g for g in groups if g.kind == "pair"], model)
    print(f"fusion training data: {sum(g.kind == 'pair' for g in groups)} London train pairs, "
          f"{sum(len(g.canon) for g in groups if g.kind == 'video')} video frames in "
          f"{sum(g.kind == 'video' for g in groups)} clips")
    t0 = time.time()
    if args.mlp_from:
        mlp, old = fu.load_net(args.mlp_from, "mlp")
        args.steps, t_mlp = old["heldout"]["mlp_steps"], old["heldout"]["mlp_seconds"]
    else:
        mlp = fu.train_mlp(groups, neutrals, steps=args.steps, seed=args.seed)
        t_mlp = time.time() - t0
    ae, t_ae = None, 0.0
    if args.ae_out:
        t0 = time.time()
        ae = fu.train_ae(groups, neutrals, steps=args.ae_steps, seed=args.seed)
        t_ae = time.time() - t0
    pairs = _pairs_of(args.london, ref, unseen_p)
    report = evaluate(mlp, ae, pairs, model)
    report.update({"mlp_steps": args.steps, "mlp_seconds": round(t_mlp, 1), "ae_steps": args.ae_steps if ae else 0,
                   "ae_seconds": round(t_ae, 1), "units": "mean 2D landmark distance, canonical units; "
                   "map_*: mean |difference| of 64-px key-point images"})
    meta = {"data": "London train split (ids of the first 60, CC-BY 4.0 DeBruine & Jones 2017) + shared video "
                    "clips (MIT / Pexels), prepared caches"
                    + (" + EMFACS emotions moved by the expression prior (ICT-FaceKit, MIT) on the train people's "
                       "neutral shapes" if args.prior else ""), "heldout": report}
    if not args.mlp_from or args.out != args.mlp_from:
        fu.save_net(mlp, args.out, "mlp", meta)
    if ae is not None:
        fu.save_net(ae, args.ae_out, "ae", meta)
    print(json.dumps(report, indent=1))
    if args.report:
        args.report.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
