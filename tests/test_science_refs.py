"""docs/science.md is the one home of the science; every reference to one of its sections names a real one."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCIENCE = ROOT / "docs" / "science.md"
# the lead engineer rewrites these files and fixes their references
PENDING: set = set()  # every file now points to docs/science.md


def _files():
    for folder, pattern in (("src", "*.py"), ("docs", "*.md"), ("benchmarks", "*.py")):
        yield from sorted((ROOT / folder).rglob(pattern))
    yield ROOT / "README.md"


def _headings() -> dict[str, str]:
    """Section number -> the GitHub anchor of its heading (``## 4. QDG: ...`` -> ``4-qdg-...``)."""
    out = {}
    for line in SCIENCE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^## (\d+)\. (.+)$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", f"{m.group(1)}. {m.group(2)}".lower()).replace(" ", "-")
            out[m.group(1)] = slug
    return out


def test_science_has_its_seven_sections():
    assert list(_headings()) == [str(i) for i in range(1, 8)]


def test_every_section_reference_names_a_section():
    heads = _headings()
    bad = []
    n_refs = 0
    for path in _files():
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"docs/science\.md §(\d+)", text):
            n_refs += 1
            if m.group(1) not in heads:
                bad.append(f"{path.relative_to(ROOT)}: §{m.group(1)}")
        for m in re.finditer(r"\]\(science\.md#([^)]+)\)", text):  # links between docs pages
            if m.group(1) not in heads.values():
                bad.append(f"{path.relative_to(ROOT)}: #{m.group(1)}")
    assert not bad, bad
    assert n_refs >= 10


def test_no_reference_to_the_old_notes():
    bad = [str(p.relative_to(ROOT)) for p in _files()
           if str(p.relative_to(ROOT)) not in PENDING and "SCIENCE.md" in p.read_text(encoding="utf-8")]
    assert not bad, bad
