// Stream text with terminal semantics, as protocol.md §5.1.1 asks clients to apply them to the
// concatenated text of a stream: `\r` moves the cursor to the start of the line and what follows
// overwrites it character by character, `\b` moves it back one character, `\n` ends the line.
// SGR escape sequences colour the characters written after them; `ESC[K` erases in the line;
// other escape sequences are dropped.
//
// Lines behind a `\n` never change again, so they are handed out once as finished lines (the
// webview appends them) and only the open last line is redrawn on each chunk: a long output
// costs its length, not its length squared.
import { applySgr, plainStyle, Style, styleKey, tokenize } from './ansi';

/** A run of characters drawn in one style. */
export interface Segment {
  text: string;
  style: Style;
}
export type Line = Segment[];

interface Cell {
  ch: string;
  style: Style;
}

export interface StreamUpdate {
  /** Lines finished by this chunk, in order. */
  finished: Line[];
  /** The open last line, as it is now (possibly empty). */
  open: Line;
}

export class StreamText {
  private cells: Cell[] = [];
  private cursor = 0;
  private style: Style = plainStyle;
  private pending = '';

  /** Applies one chunk of stream text. */
  append(text: string): StreamUpdate {
    const { tokens, rest } = tokenize(this.pending + text);
    this.pending = rest;
    const finished: Line[] = [];
    for (const token of tokens) {
      if (token.kind === 'text') this.write(token.text);
      else if (token.kind === 'control') {
        if (token.char === '\n') {
          finished.push(toSegments(this.cells));
          this.cells = [];
          this.cursor = 0;
        } else if (token.char === '\r') this.cursor = 0;
        else if (token.char === '\b') this.cursor = Math.max(0, this.cursor - 1);
      } else if (token.final === 'm') this.style = applySgr(this.style, token.params);
      else if (token.final === 'K') this.eraseInLine(token.params);
    }
    return { finished, open: toSegments(this.cells) };
  }

  /** The open line as it is now. */
  openLine(): Line {
    return toSegments(this.cells);
  }

  private write(text: string): void {
    for (const ch of text) {
      if (this.cursor > this.cells.length) this.pad(this.cursor);
      if (this.cursor === this.cells.length) this.cells.push({ ch, style: this.style });
      else this.cells[this.cursor] = { ch, style: this.style };
      this.cursor++;
    }
  }

  private pad(width: number): void {
    while (this.cells.length < width) this.cells.push({ ch: ' ', style: plainStyle });
  }

  private eraseInLine(params: string): void {
    const mode = params === '' ? 0 : Number(params);
    if (mode === 0) this.cells.length = Math.min(this.cells.length, this.cursor);
    else if (mode === 1) {
      for (let k = 0; k < Math.min(this.cursor + 1, this.cells.length); k++) {
        this.cells[k] = { ch: ' ', style: plainStyle };
      }
    } else if (mode === 2) this.cells = [];
  }
}

function toSegments(cells: Cell[]): Line {
  const line: Line = [];
  let key = '';
  for (const cell of cells) {
    const k = styleKey(cell.style);
    const last = line[line.length - 1];
    if (last && k === key) last.text += cell.ch;
    else {
      line.push({ text: cell.ch, style: cell.style });
      key = k;
    }
  }
  return line;
}

/** Plain text of a whole stream after terminal semantics (no styles), e.g. for outputText. */
export function renderPlain(text: string): string {
  const stream = new StreamText();
  const { finished, open } = stream.append(text);
  const lines = finished.map(lineText);
  const last = lineText(open);
  return lines.join('\n') + (lines.length > 0 ? '\n' : '') + last;
}

export function lineText(line: Line): string {
  return line.map((s) => s.text).join('');
}
