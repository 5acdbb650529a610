"""Percent-format cell parsing: one example per rule, plus properties over random texts."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelbridge.bridge._cells import (
    Cell,
    cell_at,
    cells_above,
    code_cells,
    comment_tokens,
    parse_cells,
)

pytestmark = pytest.mark.timeout(60)


def spans(cells: list[Cell]) -> list[tuple[int, int]]:
    return [(c.start_line, c.end_line) for c in cells]


def test_text_without_markers_is_one_cell() -> None:
    cells = parse_cells("import os\nx = 1\n")
    assert cells == [Cell(0, 3, 0, "code", "", "import os\nx = 1")]
    assert not cells[0].has_marker and cells[0].marker_line is None


def test_empty_text_is_one_empty_cell() -> None:
    assert parse_cells("") == [Cell(0, 1, 0, "code", "", "")]


def test_basic_cells_with_titles() -> None:
    text = "# %% Load data\nimport os\n\n# %%\nx = 1\n"
    cells = parse_cells(text)
    assert cells == [
        Cell(0, 3, 1, "code", "Load data", "import os"),
        Cell(3, 6, 4, "code", "", "x = 1"),
    ]
    assert cells[0].marker_line == 0 and cells[1].marker_line == 3


def test_non_blank_preamble_is_an_implicit_first_cell() -> None:
    cells = parse_cells("import os\n\n# %%\nx = 1")
    assert cells == [
        Cell(0, 2, 0, "code", "", "import os"),
        Cell(2, 4, 3, "code", "", "x = 1"),
    ]


def test_blank_preamble_is_absorbed_by_the_first_marked_cell() -> None:
    cells = parse_cells("\n  \n# %% First\nx = 1")
    assert cells == [Cell(0, 4, 3, "code", "First", "x = 1")]
    assert cells[0].marker_line == 2 and cells[0].has_marker


@pytest.mark.parametrize(
    ("marker", "kind", "title"),
    [
        ("# %% [markdown]", "markdown", ""),
        ("# %% [md]", "markdown", ""),
        ("# %% [raw]", "raw", ""),
        ("# %% [markdown] Notes", "markdown", "Notes"),
        ("# %% Notes [markdown]", "markdown", "Notes"),
        ("# %% [Markdown]", "markdown", ""),
        ("# %%\t[raw]  Raw stuff  ", "raw", "Raw stuff"),
        ("# %% [python] code", "code", "[python] code"),
        ("# %% [markdown][raw]", "code", "[markdown][raw]"),
        ("#%%", "code", ""),
        ("#  %% spaced", "code", "spaced"),
        ("# %%   ", "code", ""),
    ],
)
def test_marker_kinds_and_titles(marker: str, kind: str, title: str) -> None:
    cells = parse_cells(f"{marker}\nbody")
    assert len(cells) == 1
    assert (cells[0].kind, cells[0].title, cells[0].code) == (kind, title, "body")


@pytest.mark.parametrize(
    "line",
    ["  # %%", "\t# %%", "# %%%", "# %%md", "## %%", "x = 1  # %%", "# %", "% %%", "// %%"],
)
def test_lines_that_are_not_markers(line: str) -> None:
    assert len(parse_cells(f"a = 1\n{line}\nb = 2")) == 1


def test_markdown_cells_keep_their_comment_prefix() -> None:
    cells = parse_cells("# %% [markdown]\n# # Title\n# Some *text*\n\n# %%\nx = 1")
    assert cells[0].kind == "markdown"
    assert cells[0].code == "# # Title\n# Some *text*"
    assert [c.kind for c in code_cells(cells)] == ["code"]


def test_trailing_blank_lines_stay_in_the_range_but_not_in_code() -> None:
    cells = parse_cells("# %%\n\nx = 1\n\n   \n# %%\ny = 2\n\n")
    # Leading blank line kept (line i of code is line code_start_line + i).
    assert cells[0] == Cell(0, 5, 1, "code", "", "\nx = 1")
    assert cells[1] == Cell(5, 9, 6, "code", "", "y = 2")


def test_marker_on_the_last_line_gives_an_empty_cell() -> None:
    assert parse_cells("x = 1\n# %%") == [
        Cell(0, 1, 0, "code", "", "x = 1"),
        Cell(1, 2, 2, "code", "", ""),
    ]


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
def test_line_endings(newline: str) -> None:
    text = newline.join(["# %% A", "x = 1", "y = 2", "# %% B", "z = 3", ""])
    cells = parse_cells(text)
    assert cells == [
        Cell(0, 3, 1, "code", "A", "x = 1\ny = 2"),
        Cell(3, 6, 4, "code", "B", "z = 3"),
    ]


@pytest.mark.parametrize(
    ("language", "marker"),
    [
        ("python", "# %%"),
        ("R", "#%%"),
        ("julia", "# %%"),
        ("bash", "# %%"),
        ("unknown-lang", "# %%"),
        ("javascript", "// %%"),
        ("TypeScript", "//%%"),
        ("C++17", "// %%"),
        ("c#", "// %%"),
        ("rust", "// %%"),
        ("go", "// %%"),
        ("lua", "-- %%"),
        ("Haskell", "--%%"),
        ("sql", "-- %%"),
        ("clojure", ";; %%"),
        ("scheme", "; %%"),
        ("racket", ";;%%"),
        ("matlab", "% %%"),
        ("octave", "%%%"),
        ("erlang", "% %%"),
    ],
)
def test_comment_token_per_language(language: str, marker: str) -> None:
    cells = parse_cells(f"a\n{marker} T\nb", language)
    assert [(c.title, c.code) for c in cells] == [("", "a"), ("T", "b")]


def test_other_languages_markers_are_not_markers() -> None:
    assert len(parse_cells("a\n# %%\nb", "javascript")) == 1
    assert len(parse_cells("a\n// %%\nb", "python")) == 1
    assert len(parse_cells("a\n%% Section\nb", "matlab")) == 1  # MATLAB's own, not ours
    assert comment_tokens("Clojure") == (";;", ";")
    assert comment_tokens("no-such-language") == ("#",)


def test_cell_at() -> None:
    cells = parse_cells("import os\n# %%\nx = 1\n\n# %% [markdown]\n# hi\n# %%\ny")
    assert [cell_at(cells, line) for line in range(8)] == [
        cells[0], cells[1], cells[1], cells[1], cells[2], cells[2], cells[3], cells[3]
    ]
    assert cell_at(cells, 8) is None
    assert cell_at(cells, -1) is None
    assert cell_at([], 0) is None


def test_cells_above_takes_code_cells_strictly_before() -> None:
    cells = parse_cells("import os\n# %%\nx = 1\n# %% [markdown]\n# hi\n# %%\ny\n# %%\nz")
    assert cells_above(cells, 0) == []
    assert cells_above(cells, 2) == [cells[0]]
    assert cells_above(cells, 6) == [cells[0], cells[1]]  # the markdown cell is skipped
    assert cells_above(cells, 8) == [cells[0], cells[1], cells[3]]
    assert cells_above(cells, 100) == code_cells(cells)


# -- properties ---------------------------------------------------------------------------

_line = st.one_of(
    st.sampled_from(
        ["# %%", "#%%", "# %% Title", "# %% [markdown]", "# %% [raw] r", "  # %%", "# %%%",
         "", "   ", "x = 1", "# comment", "// %%", "print('# %%')"]
    ),
    # Line ends come only from the joining newline, so a line stays a line.
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
        max_size=12,
    ),
)
_newline = st.sampled_from(["\n", "\r\n", "\r"])


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_line, max_size=25), newline=_newline)
def test_cells_tile_the_text_and_code_comes_from_the_cells_lines(
    lines: list[str], newline: str
) -> None:
    text = newline.join(lines)
    all_lines = lines or [""]
    cells = parse_cells(text)
    assert cells
    # The line ranges cover every line exactly once, in order.
    assert cells[0].start_line == 0
    assert cells[-1].end_line == len(all_lines)
    for before, after in itertools.pairwise(cells):
        assert before.end_line == after.start_line
    for cell in cells:
        assert cell.start_line <= cell.code_start_line <= cell.end_line
        assert cell.start_line < cell.end_line or cell.code_start_line == cell.end_line
        # The code is a run of the cell's own lines, starting right after the marker.
        code_lines = cell.code.split("\n") if cell.code else []
        own = all_lines[cell.code_start_line : cell.end_line]
        assert own[: len(code_lines)] == code_lines
        assert all(not line.strip() for line in own[len(code_lines) :])
        assert cell_at(cells, cell.start_line) is cell
        assert cell_at(cells, cell.end_line - 1) is cell


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(_line, max_size=25))
def test_line_endings_do_not_change_the_cells(lines: list[str]) -> None:
    unix = parse_cells("\n".join(lines))
    assert parse_cells("\r\n".join(lines)) == unix
