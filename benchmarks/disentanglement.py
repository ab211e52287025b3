"""How much expression is left in au-swap's AU-free features (issue 13's disentanglement bar).

A probe classifier is trained *afterwards* on frozen features of London faces of the unseen split
(people the generator never saw): neutral vs smiling, so chance is 0.5. It is an L2-regularised
logistic regression on standardised features, scored by grouped cross-validation (a person's two
photos are never split between training and test folds). Three feature sets:

* ``au_free``: the AU-free map's channel means and maxima — should be near chance;
* ``au_code``: the AU branches' code (positive control: it *should* tell a smile);
* ``pixels``: the aligned 32-px grey crop (what a probe gets without any encoder).

    .venv/bin/python benchmarks/disentanglement.py --model src/facexpr/data/au_swap_g128.safetensors \
        [--model runs/ablation.safetensors ...] [--cache cache/london-all-128] [-o report.json]

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


def faces(cache: Path):
    """(crops (N, 3, S, S), landmarks, smiling (N,), person (N,)) of the unseen London people."""
    recs = [r for r in read_index(cache).values() if r.get("ok") and r.get("expression") in ("neutral", "happy")]
    people = sorted({r["person"] for r in recs})
    unseen = set(people[TRAIN_COUNT:])
    recs = sorted((r for r in recs if r["person"] in unseen), key=lambda r: r["key"])
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
    return {"au_free": torch.cat([z.mean((2, 3)), z.amax((2, 3))], 1).numpy(), "au_code": code.numpy(),
            "pixels": grey.numpy()}


def probe(f: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 6, l2: float = 1e-2, seed: int = 0) -> float:
    """Grouped k-fold accuracy of a logistic regression (full-batch L-BFGS)."""
    people = np.unique(groups)
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(rng.permutation(people), np.arange(len(people)) % folds))
    fold = np.array([fold_of[p] for p in groups])
    right = 0
    for k in range(folds):
        tr, te = fold != k, fold == k
        mu, sd = f[tr].mean(0), f[tr].std(0) + 1e-6
        a, b = torch.as_tensor((f[tr] - mu) / sd, dtype=torch.float64), torch.as_tensor((f[te] - mu) / sd, dtype=torch.float64)
        w = torch.zeros(a.shape[1], dtype=torch.float64, requires_grad=True)
        c = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        t = torch.as_tensor(y[tr], dtype=torch.float64)
        opt = torch.optim.LBFGS([w, c], max_iter=200, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(a @ w + c, t) + l2 * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            right += int(((b @ w + c > 0).long().numpy() == y[te]).sum())
    return right / len(y)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, action="append", required=True)
    ap.add_argument("--cache", type=Path, default=Path("cache/london-all-128"))
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    x, lm, y, g = faces(args.cache)
    out = {"n_faces": int(len(y)), "n_people": int(len(np.unique(g))), "chance": float(max(y.mean(), 1 - y.mean())),
           "models": {}}
    for m in args.model:
        f = features(m, x, lm)
        out["models"][str(m)] = {k: round(probe(v, y, g), 3) for k, v in f.items()}
        print(m, out["models"][str(m)], flush=True)
    if args.output:
        args.output.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
