"""A tiny terminal model: the oracle of tests that check ``\\r``/``\\b`` semantics."""

from __future__ import annotations


def render_terminal(text: str) -> tuple[list[str], int]:
    """The lines a terminal shows for ``text`` and the cursor column (``\\r`` returns to the
    line start and overwrites, ``\\b`` steps back, ``\\n`` ends the line)."""
    lines: list[list[str]] = [[]]
    column = 0
    for ch in text:
        if ch == "\n":
            lines.append([])
            column = 0
        elif ch == "\r":
            column = 0
        elif ch == "\b":
            column = max(0, column - 1)
        else:
            line = lines[-1]
            if column < len(line):
                line[column] = ch
            else:
                line.append(ch)
            column += 1
    return ["".join(line) for line in lines], column
