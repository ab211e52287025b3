"""How much expression is left in au-swap's AU-free features (the paper's disentanglement: they should hold none).

A probe classifier is trained *afterwards* on frozen features of London faces: neutral vs smiling,
so chance is 0.5. It is an L2-regularised logistic regression on standardised features, scored by
grouped cross-validation (a person's two photos are never split between training and test folds),
repeated over ``--repeats`` fold assignments; each face's out-of-fold probability is averaged over
the repeats. Faces: the unseen split (42 people the generator never saw) and, with ``--all``, every
London person (the 60 train people too: more faces, a tighter estimate). Feature sets:

* ``au_free``: the AU-free map's channel means and maxima (what the adversary ``C`` sees) — should
  be near chance;
* ``au_free_grid``: the AU-free map averaged on a 4 × 4 grid (where things are: a stronger probe
  than the adversary's own view);
* ``au_code``: the AU branches' code (positive control: it *should* tell a smile);
* ``pixels``: the aligned 32-px grey crop (what a probe gets without any encoder).

Scores: accuracy and AUC (the ranking of the averaged probabilities: less noisy than accuracy on
84 faces). ``--compare A B`` adds a paired bootstrap over people (the same faces and folds) of the
AUC difference A − B on the AU-free features, with its 95 % interval: "measurably different"
means the interval excludes 0.

    .venv/bin/python benchmarks/disentanglement.py --model src/facexpr/data/au_swap_g128.safetensors \
        [--model runs/ablation.safetensors ...] [--cache cache/london-all-128] [--all] \
        [--compare ABLATION FULL ...] [-o report.json]

Prepare the cache first: ``facexpr prepare london --root ../shared/data --out cache/london-all-128 --size 128 --no-identity``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from facexpr.cache import read_index, read_item
from facexpr.datasets.london import TRAIN_COUNT
from facexpr.methods.au_swap.nets import au_prior_maps
from facexpr.methods.exported import load_exported
from facexpr.methods.samples import to_tensor_image


def faces(cache: Path, every: bool = False):
    """(crops (N, 3, S, S), landmarks, smiling (N,), person (N,)) of the unseen London people
    (``every``: of all of them)."""
    recs = [r for r in read_index(cache).values() if r.get("ok") and r.get("expression") in ("neutral", "happy")]
    people = sorted({r["person"] for r in recs})
    keep = set(people if every else people[TRAIN_COUNT:])
    recs = sorted((r for r in recs if r["person"] in keep), key=lambda r: r["key"])
    items = [read_item(cache, r["file"]) for r in recs]
    x = np.stack([to_tensor_image(it["image"]) for it in items])
    lm = np.stack([it["landmarks"] for it in items])
    y = np.array([r["expression"] == "happy" for r in recs], np.int64)
    g = np.array([r["person"] for r in recs])
    return x, lm, y, g


@torch.no_grad()
def features(model: Path, x: np.ndarray, lm: np.ndarray) -> dict[str, np.ndarray]:
    G, _, _ = load_exported(model)
    S = x.shape[-1]
    xt = torch.as_tensor(x)
    prior = torch.as_tensor(np.stack([au_prior_maps(l, S, S // 4) for l in lm]))
    z = G.encode_free(xt)
    code = G.encode_au(xt, prior)[0]
    grey = torch.nn.functional.interpolate(xt.mean(1, keepdim=True), size=(32, 32), mode="area").flatten(1)
    grid = torch.nn.functional.adaptive_avg_pool2d(z, 4).flatten(1)
    return {"au_free": torch.cat([z.mean((2, 3)), z.amax((2, 3))], 1).numpy(), "au_free_grid": grid.numpy(),
            "au_code": code.numpy(), "pixels": grey.numpy()}


def _fit_predict(a: np.ndarray, t: np.ndarray, b: np.ndarray, l2: float) -> np.ndarray:
    """Logistic regression (full-batch L-BFGS) on standardised ``a``; probabilities for ``b``."""
    mu, sd = a.mean(0), a.std(0) + 1e-6
    a, b = (torch.as_tensor((v - mu) / sd, dtype=torch.float64) for v in (a, b))
    w = torch.zeros(a.shape[1], dtype=torch.float64, requires_grad=True)
    c = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    y = torch.as_tensor(t, dtype=torch.float64)
    opt = torch.optim.LBFGS([w, c], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(a @ w + c, y) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return torch.sigmoid(b @ w + c).numpy()


def probe(f: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 6, l2: float = 1e-2,
          repeats: int = 1) -> np.ndarray:
    """Each face's out-of-fold probability of smiling, averaged over ``repeats`` grouped k-fold
    assignments (seeds 0, 1, …: the same for every feature set and model)."""
    people = np.unique(groups)
    p = np.zeros(len(y))
    for seed in range(repeats):
        fold_of = dict(zip(np.random.default_rng(seed).permutation(people), np.arange(len(people)) % folds))
        fold = np.array([fold_of[q] for q in groups])
        for k in range(folds):
            tr, te = fold != k, fold == k
            p[te] += _fit_predict(f[tr], y[tr], f[te], l2) / repeats
    return p


def auc(p: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve (ties count half)."""
    pos, neg = p[y == 1], p[y == 0]
    return float(((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg)))


def paired_bootstrap(pa: np.ndarray, pb: np.ndarray, y: np.ndarray, groups: np.ndarray, n: int = 2000,
                     seed: int = 0) -> dict:
    """AUC(a) − AUC(b) and its 95 % interval, resampling people (both photos of one together)."""
    people = np.unique(groups)
    rows = {q: np.flatnonzero(groups == q) for q in people}
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n):
        idx = np.concatenate([rows[q] for q in rng.choice(people, len(people))])
        diffs.append(auc(pa[idx], y[idx]) - auc(pb[idx], y[idx]))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"auc_diff": round(auc(pa, y) - auc(pb, y), 3), "ci95": [round(float(lo), 3), round(float(hi), 3)],
            "p_le_0": round(float(np.mean(np.asarray(diffs) <= 0)), 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, action="append", required=True)
    ap.add_argument("--cache", type=Path, default=Path("cache/london-all-128"))
    ap.add_argument("--all", action="store_true", help="every London person, not only the unseen split")
    ap.add_argument("--repeats", type=int, default=10, help="fold assignments averaged")
    ap.add_argument("--compare", nargs=2, type=Path, action="append", default=[], metavar=("A", "B"),
                    help="paired bootstrap of AUC(A) - AUC(B) on the AU-free features (both also given as --model)")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    x, lm, y, g = faces(args.cache, args.all)
    out = {"faces": "all London" if args.all else "unseen London", "n_faces": int(len(y)),
           "n_people": int(len(np.unique(g))), "chance": float(max(y.mean(), 1 - y.mean())),
           "repeats": args.repeats, "models": {}, "compare": []}
    probs = {}
    for m in args.model:
        f = features(m, x, lm)
        probs[str(m)] = {k: probe(v, y, g, repeats=args.repeats) for k, v in f.items()}
        out["models"][str(m)] = {k: {"accuracy": round(float(((p > 0.5) == y).mean()), 3), "auc": round(auc(p, y), 3)}
                                 for k, p in probs[str(m)].items()}
        print(m, out["models"][str(m)], flush=True)
    for a, b in args.compare:
        for k in ("au_free", "au_free_grid"):
            r = {"a": str(a), "b": str(b), "features": k, **paired_bootstrap(probs[str(a)][k], probs[str(b)][k], y, g)}
            out["compare"].append(r)
            print(r, flush=True)
    if args.output:
        args.output.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
