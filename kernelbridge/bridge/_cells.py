"""Percent-format cells (``# %%``) in a plain source file: where they are, what they hold.

Pure functions over text: no I/O and no other kernelbridge module, so the server can call
them on every ``didChange`` and editors' tests can pin the exact rules.

What counts as a marker
-----------------------
A line is a cell marker when, from column 0 (no indentation):

1. it starts with the language's comment token (table below);
2. then optional spaces or tabs;
3. then ``%%``;
4. then the end of the line, or a space or tab followed by anything.

So ``# %%``, ``#%%``, ``# %% Load data``, ``# %%\\t[markdown]`` are markers, and
``  # %%`` (indented), ``# %%%``, ``# %%md``, ``## %%`` (comment token ``#`` followed by
``#``) and ``x = 1  # %%`` are not. Markers inside string literals count too: the rule is
textual, as in jupytext and VS Code.

The rest of the marker line (after ``%%`` and whitespace) holds an optional cell type and
a title, in either order: the first whitespace-separated word ``[markdown]`` or ``[md]``
makes a ``"markdown"`` cell, ``[raw]`` a ``"raw"`` cell (case-insensitive), any other text
is the title (stripped; ``""`` if none). Without a type the cell is ``"code"``.

Comment tokens, by language name (case-insensitive; unknown languages use ``#``):

- ``#``: python, r, julia, ruby, perl, shell, bash, sh, zsh, powershell, nim, ...
- ``//``: javascript, typescript, c, cpp, c++ (and c++11/14/17/20...), java, rust, go,
  scala, kotlin, swift, csharp, c#, f#, dart, groovy
- ``--``: lua, haskell, sql, ada, elm
- ``;;`` or ``;``: clojure, scheme, racket, lisp, common-lisp, elisp, emacs-lisp, hy
- ``%``: matlab, octave, erlang, prolog, tex, latex

Cells
-----
- Lines are split at ``\\r\\n``, ``\\r`` or ``\\n`` (LSP's line ends, so line numbers match
  the editor's); a final line end starts one more (empty) line, as in an editor.
- A cell spans from its marker line to the line before the next marker (or the end).
- Lines before the first marker form an implicit first ``"code"`` cell without a marker,
  if any of them holds non-blank text. If they are all blank, the first marked cell's
  range starts at line 0 instead, so the cells always cover every line exactly once.
- A text without any marker is one code cell: the whole text (even when empty).
- ``code`` is the cell's lines after the marker, joined with ``\\n``, with trailing blank
  lines dropped (they stay in the line range). Leading blank lines are kept, so line
  ``i`` of ``code`` is line ``code_start_line + i`` of the file (tracebacks map back).
  Markdown and raw cells keep their comment prefixes: ``code`` is the text as written.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

__all__ = [
    "Cell",
    "CellKind",
    "cell_at",
    "cells_above",
    "code_cells",
    "comment_tokens",
    "parse_cells",
]

CellKind = Literal["code", "markdown", "raw"]

_SLASH = ("//",)
_DASH = ("--",)
_LISP = (";;", ";")
_PERCENT = ("%",)

_TOKENS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        ["javascript", "js", "typescript", "ts", "c", "cpp", "c++", "java", "rust", "go",
         "scala", "kotlin", "swift", "csharp", "c#", "fsharp", "f#", "dart", "groovy"],
        _SLASH,
    ),
    **dict.fromkeys(["lua", "haskell", "sql", "ada", "elm"], _DASH),
    **dict.fromkeys(
        ["clojure", "clojurescript", "scheme", "racket", "lisp", "common-lisp",
         "commonlisp", "elisp", "emacs-lisp", "hy", "fennel"],
        _LISP,
    ),
    **dict.fromkeys(["matlab", "octave", "erlang", "prolog", "tex", "latex"], _PERCENT),
}

_LINE_END = re.compile(r"\r\n|\r|\n")
# [markdown] / [md] / [raw] as a whole word of the marker's rest.
_KIND = re.compile(r"(?:^|(?<=\s))\[(markdown|md|raw)\](?=\s|$)", re.IGNORECASE)
_KINDS: dict[str, CellKind] = {"markdown": "markdown", "md": "markdown", "raw": "raw"}


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell. Line numbers are 0-based; ``end_line`` is exclusive.

    ``start_line`` is the marker line (or 0: the implicit first cell, or a first marked
    cell that absorbed the blank lines above it); ``code_start_line`` the first line
    after the marker (== ``start_line`` for the implicit cell, which has no marker).
    """

    start_line: int
    end_line: int
    code_start_line: int
    kind: CellKind
    title: str
    code: str

    @property
    def has_marker(self) -> bool:
        """False only for the implicit cell before the first marker (or a marker-less
        file)."""
        return self.code_start_line > self.start_line

    @property
    def marker_line(self) -> int | None:
        """The line of the ``%%`` marker, or None for a cell without one."""
        return self.code_start_line - 1 if self.has_marker else None

    def contains(self, line: int) -> bool:
        return self.start_line <= line < self.end_line


def comment_tokens(language: str) -> tuple[str, ...]:
    """The comment tokens a marker may start with in ``language`` (``("#",)`` if
    unknown)."""
    name = language.strip().lower()
    if name.startswith("c++"):
        return _SLASH
    return _TOKENS.get(name, ("#",))


@cache
def _marker_pattern(tokens: tuple[str, ...]) -> re.Pattern[str]:
    # Longest token first, so ";;" is tried before ";".
    alternatives = "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True))
    return re.compile(rf"(?:{alternatives})[ \t]*%%(?:[ \t](.*))?$")


def _marker_info(rest: str) -> tuple[CellKind, str]:
    match = _KIND.search(rest)
    if match is None:
        return "code", rest.strip()
    kind = _KINDS[match.group(1).lower()]
    title = (rest[: match.start()].rstrip() + " " + rest[match.end() :].lstrip()).strip()
    return kind, title


def _code(lines: list[str], start: int, end: int) -> str:
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end])


def parse_cells(text: str, language: str = "python") -> list[Cell]:
    """The cells of ``text`` in order; see the module docstring for the exact rules.

    Always returns at least one cell, and the cells' line ranges tile the text.
    """
    lines = _LINE_END.split(text)
    tokens = comment_tokens(language)
    pattern = _marker_pattern(tokens)
    first_chars = tuple(tokens)
    markers: list[tuple[int, CellKind, str]] = []
    for number, line in enumerate(lines):
        if line.startswith(first_chars):
            match = pattern.match(line)
            if match is not None:
                kind, title = _marker_info(match.group(1) or "")
                markers.append((number, kind, title))
    total = len(lines)
    if not markers:
        return [Cell(0, total, 0, "code", "", _code(lines, 0, total))]
    cells: list[Cell] = []
    first_marker = markers[0][0]
    preamble_start = 0
    if any(line.strip() for line in lines[:first_marker]):
        cells.append(Cell(0, first_marker, 0, "code", "", _code(lines, 0, first_marker)))
        preamble_start = first_marker
    for index, (line, kind, title) in enumerate(markers):
        end = markers[index + 1][0] if index + 1 < len(markers) else total
        start = preamble_start if index == 0 else line
        cells.append(Cell(start, end, line + 1, kind, title, _code(lines, line + 1, end)))
    return cells


def cell_at(cells: Sequence[Cell], line: int) -> Cell | None:
    """The cell containing 0-based ``line``, or None if the line is outside all cells.
    ``cells`` must be in order, as :func:`parse_cells` returns them."""
    index = bisect.bisect_right([cell.start_line for cell in cells], line) - 1
    if index >= 0 and cells[index].contains(line):
        return cells[index]
    return None


def cells_above(cells: Sequence[Cell], line: int) -> list[Cell]:
    """The code cells strictly before the cell containing ``line`` (for "run all above");
    for a line past the last cell, all code cells before it."""
    current = cell_at(cells, line)
    limit = current.start_line if current is not None else line
    return [cell for cell in cells if cell.kind == "code" and cell.end_line <= limit]


def code_cells(cells: Sequence[Cell]) -> list[Cell]:
    """Only the code cells (markdown and raw cells are not sent to a kernel)."""
    return [cell for cell in cells if cell.kind == "code"]
