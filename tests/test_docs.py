"""The documentation stays findable: a short README, no dead links, no orphaned page.

A newcomer reads README.md first and finds everything else through docs/README.md; a page that no
index links to, or a link to a report that was moved, is as good as missing. These checks read
only the repository's markdown and source text, so they run without the shared data.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
INDEX = DOCS / "README.md"
README_MAX_LINES = 150  # about two screens

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
# A repository path named in prose or code, e.g. docs/results/roundtrip.md
DOC_PATH = re.compile(r"(?<![\w./-])docs/[\w./-]*\w\.(?:md|json|png|txt)\b")


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def _prose_lines(text: str):
    """(line number, line) outside fenced code blocks, inline code removed."""
    fenced = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield n, INLINE_CODE.sub("", line)


def _links(path: Path) -> list[tuple[int, str]]:
    out = []
    for n, line in _prose_lines(path.read_text(encoding="utf-8")):
        out += [(n, m.group(1)) for m in LINK.finditer(line)]
        ref = REF_DEF.match(line)
        if ref:
            out.append((n, ref.group(1)))
    return out


def _is_relative(target: str) -> bool:
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) and not target.startswith("//")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = unicodedata.normalize("NFC", text.replace("`", "")).strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for _, line in _prose_lines(path.read_text(encoding="utf-8")):
        anchors.update(HTML_ANCHOR.findall(line))
        m = HEADING.match(line)
        if not m:
            continue
        slug = _slug(m.group(2))
        k = seen.get(slug, 0)
        seen[slug] = k + 1
        anchors.add(slug if k == 0 else f"{slug}-{k}")
    return anchors


def _resolve(source: Path, target: str) -> tuple[Path, str]:
    target = target.split("?", 1)[0]
    file_part, _, anchor = target.partition("#")
    return ((source.parent / file_part).resolve() if file_part else source), anchor


def test_readme_fits_on_about_two_screens():
    n = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines; at most {README_MAX_LINES} (move detail into docs/)"


def test_readme_links_the_docs_index():
    targets = {_resolve(ROOT / "README.md", t)[0] for _, t in _links(ROOT / "README.md") if _is_relative(t)}
    assert INDEX.resolve() in targets, "README.md must link docs/README.md, the index of the reference docs"


@pytest.mark.parametrize("page", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_existing_files(page: Path):
    broken = []
    for n, target in _links(page):
        if not _is_relative(target):
            continue
        dest, anchor = _resolve(page, target)
        if not dest.exists():
            broken.append(f"{page.relative_to(ROOT)}:{n}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{page.relative_to(ROOT)}:{n}: {target} (no heading #{anchor})")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_docs_page_is_reachable_from_the_index():
    reached, todo = {INDEX.resolve()}, [INDEX.resolve()]
    while todo:
        page = todo.pop()
        for _, target in _links(page):
            if not _is_relative(target):
                continue
            dest, _ = _resolve(page, target)
            if dest.suffix == ".md" and dest.is_file() and dest not in reached:
                reached.add(dest)
                todo.append(dest)
    orphans = [str(p.relative_to(ROOT)) for p in sorted(DOCS.rglob("*.md")) if p.resolve() not in reached]
    assert not orphans, "pages no link from docs/README.md leads to:\n" + "\n".join(orphans)


def test_docs_paths_named_in_text_exist():
    """Paths like docs/results/x.md named in prose, code or configs (not as links) exist too."""
    files = _markdown_files() + sorted((ROOT / "src").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    files += sorted((ROOT / "benchmarks").rglob("*.py")) + sorted((ROOT / "configs").rglob("*.yaml"))
    files += [ROOT / "Makefile"]
    missing = []
    for path in files:
        if not path.is_file() or path == Path(__file__).resolve():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in DOC_PATH.finditer(line):
                if not (ROOT / m.group(0)).exists():
                    missing.append(f"{path.relative_to(ROOT)}:{n}: {m.group(0)}")
    assert not missing, "named docs paths that do not exist:\n" + "\n".join(missing)
