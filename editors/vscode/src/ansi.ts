// ANSI escape sequences in kernel output (IPython colours its tracebacks, libraries colour their
// logs): a tokenizer for the text and the SGR ("select graphic rendition") state the colour codes
// build up. Pure: used by the webview to draw coloured spans and by the unit tests.

/** A colour: one of the 16 palette colours (drawn with the theme's terminal colours) or RGB. */
export type Color = { palette: number } | { rgb: [number, number, number] };

export interface Style {
  fg?: Color;
  bg?: Color;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  inverse?: boolean;
  strike?: boolean;
  hidden?: boolean;
}

export const plainStyle: Style = Object.freeze({});

export type Token =
  | { kind: 'text'; text: string }
  /** A control character: \n, \r, \b (others are dropped by the tokenizer, \t is text). */
  | { kind: 'control'; char: string }
  /** A CSI sequence ESC [ params final, e.g. SGR (final `m`) or erase-in-line (`K`). */
  | { kind: 'csi'; params: string; final: string };

/**
 * Splits text into printable runs, control characters and CSI sequences. OSC sequences
 * (window titles, hyperlinks) and other escapes are dropped. An escape sequence cut off at the
 * end of the text is returned as `rest`, to be put in front of the next chunk: the daemon may
 * split a stream anywhere.
 */
export function tokenize(text: string): { tokens: Token[]; rest: string } {
  const tokens: Token[] = [];
  let i = 0;
  let runStart = 0;
  const flush = (end: number): void => {
    if (end > runStart) tokens.push({ kind: 'text', text: text.slice(runStart, end) });
  };
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x1b) {
      flush(i);
      const end = escapeEnd(text, i);
      if (end < 0) return { tokens, rest: text.slice(i) };
      const final = text.charCodeAt(end - 1);
      if (text[i + 1] === '[' && end - i > 2 && final >= 0x40 && final <= 0x7e) {
        tokens.push({ kind: 'csi', params: text.slice(i + 2, end - 1), final: text[end - 1]! });
      }
      i = end;
      runStart = i;
    } else if (c < 0x20 || c === 0x7f) {
      if (c === 0x09) {
        i++;
        continue; // a tab is text
      }
      flush(i);
      if (c === 0x0a || c === 0x0d || c === 0x08) tokens.push({ kind: 'control', char: text[i]! });
      i++;
      runStart = i;
    } else {
      i++;
    }
  }
  flush(i);
  return { tokens, rest: '' };
}

/** Index after the escape sequence starting at `start`, or -1 when the text ends inside it. */
function escapeEnd(text: string, start: number): number {
  const kind = text[start + 1];
  if (kind === undefined) return -1;
  if (kind === '[') {
    for (let j = start + 2; j < text.length; j++) {
      const code = text.charCodeAt(j);
      if (code >= 0x40 && code <= 0x7e) return j + 1; // the final byte
      // Parameter (0x30-0x3f) and intermediate (0x20-0x2f) bytes go on; anything else breaks
      // the sequence: what came so far is dropped and that character is read as usual.
      if (code < 0x20 || code > 0x3f) return j;
    }
    return -1;
  }
  if (kind === ']') {
    // OSC, ended by BEL or ST (ESC \).
    for (let j = start + 2; j < text.length; j++) {
      if (text.charCodeAt(j) === 0x07) return j + 1;
      if (text.charCodeAt(j) === 0x1b) return text[j + 1] === undefined ? -1 : j + 2;
    }
    return -1;
  }
  return start + 2;
}

/** The style after an SGR sequence with these parameters (`"1;31"`, `"38;5;208"`, `""`). */
export function applySgr(style: Style, params: string): Style {
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
  let s: Style = { ...style };
  for (let k = 0; k < codes.length; k++) {
    const code = codes[k]!;
    if (code === 0) s = {};
    else if (code === 1) s.bold = true;
    else if (code === 2) s.dim = true;
    else if (code === 3) s.italic = true;
    else if (code === 4) s.underline = true;
    else if (code === 7) s.inverse = true;
    else if (code === 8) s.hidden = true;
    else if (code === 9) s.strike = true;
    else if (code === 22) {
      delete s.bold;
      delete s.dim;
    }
    else if (code === 23) delete s.italic;
    else if (code === 24) delete s.underline;
    else if (code === 27) delete s.inverse;
    else if (code === 28) delete s.hidden;
    else if (code === 29) delete s.strike;
    else if (code >= 30 && code <= 37) s.fg = { palette: code - 30 };
    else if (code === 39) delete s.fg;
    else if (code >= 40 && code <= 47) s.bg = { palette: code - 40 };
    else if (code === 49) delete s.bg;
    else if (code >= 90 && code <= 97) s.fg = { palette: code - 90 + 8 };
    else if (code >= 100 && code <= 107) s.bg = { palette: code - 100 + 8 };
    else if (code === 38 || code === 48) {
      const [color, used] = extendedColor(codes, k + 1);
      if (color) {
        if (code === 38) s.fg = color;
        else s.bg = color;
      }
      k += used;
    }
  }
  return s;
}

/** `5;n` (256 colours) or `2;r;g;b` after a 38/48; returns the colour and the codes used. */
function extendedColor(codes: number[], at: number): [Color | undefined, number] {
  if (codes[at] === 5 && codes[at + 1] !== undefined) {
    return [color256(codes[at + 1]!), 2];
  }
  if (codes[at] === 2 && codes[at + 3] !== undefined) {
    const rgb = codes.slice(at + 1, at + 4).map(clampByte) as [number, number, number];
    return [{ rgb }, 4];
  }
  return [undefined, codes.length - at];
}

function clampByte(n: number): number {
  return Math.max(0, Math.min(255, Math.round(n) || 0));
}

/** xterm's 256-colour table: 16 palette colours, a 6×6×6 cube, 24 greys. */
export function color256(n: number): Color {
  if (n < 16) return { palette: Math.max(0, n) };
  if (n < 232) {
    const steps = [0, 95, 135, 175, 215, 255];
    const v = n - 16;
    return { rgb: [steps[Math.floor(v / 36) % 6]!, steps[Math.floor(v / 6) % 6]!, steps[v % 6]!] };
  }
  const grey = 8 + 10 * (Math.min(n, 255) - 232);
  return { rgb: [grey, grey, grey] };
}

/** A key that is equal for equal styles (to merge neighbouring characters into one span). */
export function styleKey(style: Style): string {
  const c = (x?: Color): string => (x === undefined ? '' : 'palette' in x ? `p${x.palette}` : x.rgb.join(','));
  return [
    c(style.fg),
    c(style.bg),
    style.bold ? 'b' : '',
    style.dim ? 'd' : '',
    style.italic ? 'i' : '',
    style.underline ? 'u' : '',
    style.inverse ? 'r' : '',
    style.strike ? 's' : '',
    style.hidden ? 'h' : '',
  ].join('|');
}

/**
 * How a style is drawn: CSS classes (palette colours map to the theme's terminal colours in
 * webview.css) and RGB colours, which the webview sets through the CSSOM (the CSP forbids
 * style attributes).
 */
export function styleToCss(style: Style): { classes: string[]; color?: string; background?: string } {
  const classes: string[] = [];
  let fg: Color | 'default-bg' | undefined = style.fg;
  let bg: Color | 'default-fg' | undefined = style.bg;
  if (style.inverse) {
    fg = style.bg ?? 'default-bg';
    bg = style.fg ?? 'default-fg';
  }
  let color: string | undefined;
  let background: string | undefined;
  if (fg === 'default-bg') classes.push('ansi-fg-inverse');
  else if (fg && 'palette' in fg) classes.push(`ansi-fg-${fg.palette}`);
  else if (fg) color = `rgb(${fg.rgb.join(', ')})`;
  if (bg === 'default-fg') classes.push('ansi-bg-inverse');
  else if (bg && 'palette' in bg) classes.push(`ansi-bg-${bg.palette}`);
  else if (bg) background = `rgb(${bg.rgb.join(', ')})`;
  if (style.bold) classes.push('ansi-bold');
  if (style.dim) classes.push('ansi-dim');
  if (style.italic) classes.push('ansi-italic');
  if (style.underline) classes.push('ansi-underline');
  if (style.strike) classes.push('ansi-strike');
  if (style.hidden) classes.push('ansi-hidden');
  const css: { classes: string[]; color?: string; background?: string } = { classes };
  if (color !== undefined) css.color = color;
  if (background !== undefined) css.background = background;
  return css;
}

/** The text without escape sequences (for plain-text views of output). */
export function stripAnsi(text: string): string {
  const { tokens, rest } = tokenize(text);
  return (
    tokens
      .map((t) => (t.kind === 'text' ? t.text : t.kind === 'control' ? t.char : ''))
      .join('') + (rest.startsWith('\x1b') ? '' : rest)
  );
}
