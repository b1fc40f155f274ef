"""The docs stand alone: links and images resolve in the repository, the README stays short, nothing points outside."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 300
# Built from pieces so that this file does not match itself.
OUTSIDE = re.compile("share" + "d/|FIND" + "INGS")
MACHINE_LOCAL = re.compile(r"(?<![\w.])/(?:work|root)/")

INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(?:<([^>]*)>|([^)\s]+))(?:\s+[\"'][^)]*[\"'])?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+[\"'(].*)?$")
HTML_LINK = re.compile(r"<(?:img|a|source)\b[^>]*?\b(?:src|href|srcset)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
CODE_SPAN = re.compile(r"(`+).*?\1")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose_lines(text: str, keep_code_spans: bool = False) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1, with inline code removed unless asked to keep it."""
    lines, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        marker = re.match(r"^\s{0,3}(`{3,}|~{3,})", line)
        if marker:
            if fence is None:
                fence = marker.group(1)
            elif marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = None
            continue
        if fence is None:
            lines.append((number, line if keep_code_spans else CODE_SPAN.sub("", line)))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: plain text, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays, its target goes
    text = text.replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(path.read_text(encoding="utf-8"), keep_code_spans=True):
        heading = HEADING.match(line)
        if heading:
            base = slug(heading.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def link_targets(path: Path) -> list[tuple[int, str]]:
    targets = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        targets += [(number, m.group(1) or m.group(2)) for m in INLINE_LINK.finditer(line)]
        targets += [(number, m.group(1)) for m in HTML_LINK.finditer(line)]
        definition = REFERENCE_DEF.match(line)
        if definition:
            targets.append((number, definition.group(1)))
    return targets


def broken_link(source: Path, target: str) -> str | None:
    """Why a link from `source` does not resolve inside the repository, or None when it does."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
        return None  # a URL: not this test's business
    path_part, _, anchor = target.partition("#")
    path_part = unquote(path_part.split("?")[0])
    resolved = (source.parent / path_part).resolve() if path_part else source
    if not resolved.is_relative_to(ROOT):
        return "points outside the repository"
    if not resolved.exists():
        return "no such file"
    if anchor and resolved.suffix == ".md" and anchor.lower() not in anchors(resolved):
        return f"no heading #{anchor} in {resolved.relative_to(ROOT)}"
    return None


def test_every_relative_link_and_image_resolves():
    problems = []
    checked = 0
    for source in doc_files():
        for number, target in link_targets(source):
            checked += 1
            why = broken_link(source, target)
            if why:
                problems.append(f"{source.relative_to(ROOT)}:{number}: {target}: {why}")
    assert checked > 20, "the link parser found almost no links: it is broken"
    assert not problems, "\n".join(problems)


def test_the_link_check_catches_what_it_should(tmp_path):
    readme = ROOT / "README.md"
    assert broken_link(readme, "docs/no-such-page.md") == "no such file"
    assert broken_link(readme, "../outside.md") == "points outside the repository"
    assert broken_link(readme, "docs/cli.md#no-such-heading").startswith("no heading")
    assert broken_link(readme, "#dependencies") is None
    assert broken_link(readme, "https://example.org/x") is None
    page = tmp_path / "page.md"
    page.write_text("# A `code` title: yes\n[a](x.png) ![b](<y z.png> \"t\")\n```\n[c](fenced.md)\n```\n"
                    "`[d](span.md)` <img src=\"w.png\">\n[e]: ref.md\n", encoding="utf-8")
    assert [t for _, t in link_targets(page)] == ["x.png", "y z.png", "w.png", "ref.md"]
    assert anchors(page) == {"a-code-title-yes"}


def test_readme_is_a_short_front_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"
    assert any("docs/screenshot.png" in line for line in lines[:10]), "the app's screenshot comes first"


def test_docs_hold_no_machine_local_paths():
    problems = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
                for path in doc_files()
                for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if MACHINE_LOCAL.search(line)]
    assert not problems, "\n".join(problems)


def test_no_tracked_file_points_outside_the_repository():
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run([git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    problems = []
    for name in listed.stdout.decode("utf-8", "surrogateescape").split("\0"):
        path = ROOT / name
        if not name or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if OUTSIDE.search(line):
                problems.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not problems, "files that point outside the repository:\n" + "\n".join(problems)
