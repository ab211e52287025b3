"""Does the 3D prior keep London smiles as well as the London-fitted model? (issue: "the prior
must not make smiles worse").

For each *unseen* London person (outside every fitting split): predict the smiling photo's
canonical landmarks from the neutral photo's and the change of the expression code, and report
the mean 2D landmark error (canonical units) for three models:

* ``london``  — the London-fitted linear model alone, driven by MediaPipe's scores (before the prior);
* ``prior``   — ICT's shapes for every blendshape, driven by the fitted code;
* ``default`` — what ships: London rows for MediaPipe-scored shapes, ICT rows for the fitted ones.

    .venv/bin/python benchmarks/prior_smile.py [--n 42]
"""
from __future__ import annotations

import argparse

import numpy as np

from facexpr.datasets import data_root, london
from facexpr.expression.analysis import analyze_faces
from facexpr.expression.model import ExpressionModel, load_default_model
from facexpr.expression.prior import load_default_prior
from facexpr.faces.align import to_canonical
from facexpr.faces.topology import IRISES
from facexpr.io import load_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=42)
    args = ap.parse_args()
    root = data_root()
    people = london.split(root / "london", "unseen")[:args.n]
    london_only = load_default_model(prior=False)
    default = load_default_model()
    prior = load_default_prior()
    pure = ExpressionModel(default.mean_shape, prior.expression, {}, None)
    keep = np.setdiff1d(np.arange(478), IRISES)
    errs = {"no change": [], "london": [], "prior": [], "default": []}
    for p in people:
        n_faces, s_faces = analyze_faces(load_image(p.neutral)), analyze_faces(load_image(p.smiling))
        if not n_faces or not s_faces:
            continue
        n, s = n_faces[0], s_faces[0]
        cn = to_canonical(n.landmarks, default.mean_shape)[0]
        cs = to_canonical(s.landmarks, default.mean_shape)[0]
        mp = s.mediapipe_scores - n.mediapipe_scores
        code = s.blendshapes - n.blendshapes
        preds = {"no change": cn, "london": cn + london_only.displacement(mp),
                 "prior": cn + pure.displacement(code), "default": cn + default.displacement(code)}
        for k, pred in preds.items():
            errs[k].append(np.linalg.norm((pred - cs)[keep, :2], axis=1).mean())
    print(f"unseen London people: {len(errs['london'])}")
    for k, v in errs.items():
        print(f"  {k:10s} mean 2D landmark error {np.mean(v):.4f} (canonical units)")


if __name__ == "__main__":
    main()
