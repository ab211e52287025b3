"""The import structure of ``src/facexpr``: every import, at module level or inside a
function, points down the layers; there is no cycle; the project's own modules are imported at the
top of each file (with the few documented exceptions below).

Layers, low to high (a module may import its own layer or a lower one)::

    0  errors, extras, bundled, assets, io, cache (files, limits of what a user may give)
    1  datasets                                  (readers of the shared data)
    2  faces, expression, limits, perceptual     (analysis, the expression model, shared trunks)
    3  methods                                   (inference: specs, adapters, networks)
    4  pipeline, response, animation, batch | train | evaluate | research  (side by side: none of them imports another,
                                                  except evaluate, research -> pipeline; a method's own
                                                  recipe, methods/<family>/train.py, is train)
    5  facexpr (the Python API, __init__)
    6  cli, train/__main__                       (apps)

Self-contained (no ../shared needed); where ../shared/tools/layering.py exists (CI), it must agree.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "facexpr"

# Function-level imports of the project's own modules that are deliberate (path: reason).
LAZY_ALLOWED = {
    "facexpr/train/cli.py": "the train and export commands load torch (trainer, export) only when run",
    "facexpr/faces/landmarks.py": "faces <-> expression package initialisation order (faces/ is another "
                                  "engineer's; import lines only)",
    "facexpr/cli.py": "each command loads its own stack when it runs: `facexpr --help` stays fast and torch-free",
    "facexpr/__init__.py": "the Python API loads the pipeline on first use: `import facexpr` stays light",
    "facexpr/evaluate/cli.py": "the judges (torch, dlib) load only when `facexpr evaluate` runs",
    "facexpr/research/cli.py": "the offline builders load only when their command runs",
}


def _modname(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports():
    """module -> [(target, lineno, at function level)] for facexpr's own imports."""
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        mod = _modname(path)
        pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for n in ast.walk(f)}
        found = []
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("facexpr")]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")
                    base = base[: len(base) - node.level + 1]
                    tgt = ".".join(base + ([node.module] if node.module else []))
                else:
                    tgt = node.module or ""
                names = [a.name for a in node.names if not (tgt == "facexpr" and a.name == "__version__")]
                if tgt.startswith("facexpr") and names:  # (the package version is metadata, not the API)
                    targets = ([tgt] if node.module else []) + [f"{tgt}.{n}" for n in names]
            for t in targets:
                found.append((t, node.lineno, id(node) in inner))
        out[mod] = (path, found)
    mods = set(out)

    def resolve(t):
        while t and t not in mods:
            t = t.rsplit(".", 1)[0] if "." in t else ""
        return t

    return {m: (p, [(resolve(t), ln, fn) for t, ln, fn in f if resolve(t)]) for m, (p, f) in out.items()}


def layer(mod: str) -> tuple[int, str]:
    """(rank, side) of a module; side tells the rank-4 neighbours apart."""
    sub = mod.split(".")[1] if "." in mod else ""
    if mod == "facexpr":
        return 5, "api"
    if mod in ("facexpr.cli", "facexpr.train.__main__") or mod.startswith("facexpr.web"):
        return 6, "app"
    if sub in ("errors", "extras", "bundled", "assets", "io", "cache", "io_video", "one_euro", "tensorfile", "threads"):
        return 0, ""
    if sub == "datasets":
        return 1, ""
    if sub in ("faces", "expression", "limits", "perceptual", "render"):
        return 2, ""
    if sub == "methods":
        parts = mod.split(".")
        if len(parts) >= 4 and parts[3] == "train":  # a method's own training recipe
            return 4, "train"
        return 3, ""
    if sub in ("pipeline", "response", "animation", "batch"):  # one photo / one video / a manifest of them, stage by stage
        return 4, "pipeline"
    if sub in ("train", "evaluate", "research"):  # research: offline builders of shipped files
        return 4, sub
    raise AssertionError(f"{mod}: no layer assigned (add it to tests/test_layering.py and the README)")


# Evaluation runs the pipeline; so does the reader's data generator (research/reader_data.py: the
# reader learns from the product's own renders, edited exactly as `facexpr edit` edits). Nothing
# else crosses.
ALLOWED_SIDEWAYS = {("evaluate", "pipeline"), ("research", "pipeline")}


def test_every_import_points_down():
    bad = []
    for mod, (path, found) in _imports().items():
        r, side = layer(mod)
        for tgt, line, _ in found:
            if tgt == mod or mod.startswith(tgt + "."):  # own package's __init__
                continue
            tr, tside = layer(tgt)
            if tr > r or (tr == r == 4 and side != tside and (side, tside) not in ALLOWED_SIDEWAYS):
                bad.append(f"{path.relative_to(SRC)}:{line}: {mod} ({r}{side and ' ' + side}) -> "
                           f"{tgt} ({tr}{tside and ' ' + tside})")
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph = {m: {t for t, _, _ in f if t != m and not m.startswith(t + ".")} for m, (_, f) in _imports().items()}
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            strong(v)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_project_imports_are_at_the_top():
    hidden = []
    for mod, (path, found) in _imports().items():
        rel = str(path.relative_to(SRC))
        if rel in LAZY_ALLOWED:
            continue
        hidden += [f"{rel}:{line}: {tgt}" for tgt, line, fn in found if fn]
    assert not hidden, "facexpr imports inside functions (import them at the top):\n" + "\n".join(hidden)


def test_the_checker_sees_a_violation(tmp_path):
    """The rules above can fail: a planted upward import is reported."""
    assert layer("facexpr.methods.warp.method") < layer("facexpr.train.trainer")
    assert layer("facexpr.methods.relative_au.train")[1] == "train"
    assert layer("facexpr.faces.crops")[0] < layer("facexpr.evaluate.runner")[0]
    with pytest.raises(AssertionError):
        layer("facexpr.somewhere_new")


def test_shared_layering_tool_agrees():
    """CI has ../shared/tools/layering.py (the reviewers' checker): it must report 0 and 0."""
    tool = SRC.parents[1] / "shared" / "tools" / "layering.py"
    if not tool.is_file():
        pytest.skip(f"{tool} not present (outside the shared workspace)")
    p = subprocess.run([sys.executable, str(tool), str(SRC)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 imports against the layering, 0 cycles" in p.stdout
