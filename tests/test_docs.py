"""The README is a front page: short, and every file it or a docs page links exists."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def links(page):
    """Relative link targets of a Markdown page (code blocks left out), without anchors."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [t.split("#")[0] for t in LINK.findall(text)
            if not re.match(r"^(https?:|mailto:|#)", t) and t.split("#")[0]]


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 250
    assert lines[lines.index("## Quick start") + 3] == "make demo   # creates .venv, installs, runs the demo job " \
                                                       "on the built-in synthetic PASCAL-MT"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_linked_file_exists(page):
    missing = [t for t in links(page) if not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


def test_the_link_check_finds_a_missing_file(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("see [a](there.md) and [b](https://x.org) and [c](#anchor)\n```\n[d](in_code.md)\n```\n")
    assert links(page) == ["there.md"]
