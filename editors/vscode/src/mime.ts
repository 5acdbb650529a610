// Which representation of a display or result the panel draws (protocol.md §5.1.2). The daemon
// is asked for the types the panel draws (`output.mimeTypes`, best first), so a bundle usually
// holds one of them plus text/plain; this picks the best one present. Pure.
import type { MimeBundle } from './protocol';

/** What the extension asks the daemon for, best first (`output.mimeTypes`). */
export const drawnMimeTypes = [
  'image/png',
  'image/svg+xml',
  'image/jpeg',
  'image/gif',
  'text/html',
  'text/markdown',
  'application/json',
  'text/plain',
];

const imageTypes = ['image/png', 'image/svg+xml', 'image/jpeg', 'image/gif'];

export type Representation =
  | { kind: 'image'; mime: string; src: string }
  | { kind: 'html'; html: string }
  | { kind: 'markdown'; markdown: string }
  | { kind: 'json'; json: string }
  | { kind: 'text'; text: string }
  | { kind: 'empty' };

/**
 * The representation to draw. `imageSources` are URLs of the images the daemon wrote to files
 * (`content.files`, made loadable by the host); inline image data (`output.inlineImages`) is
 * drawn from a data: URL.
 */
export function chooseRepresentation(data: MimeBundle, imageSources: Record<string, string> = {}): Representation {
  for (const mime of imageTypes) {
    const src = imageSources[mime];
    if (src) return { kind: 'image', mime, src };
    const inline = data[mime];
    if (typeof inline === 'string' && inline !== '') return { kind: 'image', mime, src: dataUrl(mime, inline) };
  }
  const html = textOf(data['text/html']);
  if (html !== undefined) return { kind: 'html', html };
  const markdown = textOf(data['text/markdown']);
  if (markdown !== undefined) return { kind: 'markdown', markdown };
  if (data['application/json'] !== undefined) {
    return { kind: 'json', json: JSON.stringify(data['application/json'], null, 2) };
  }
  const text = textOf(data['text/plain']);
  if (text !== undefined) return { kind: 'text', text };
  // Something the panel does not draw (e.g. only a widget view): say what it was.
  const types = Object.keys(data);
  return types.length > 0 ? { kind: 'text', text: `[${types.join(', ')}]` } : { kind: 'empty' };
}

/** Jupyter allows multi-line strings as arrays of lines. */
function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join('');
  return undefined;
}

/** A data: URL for inline image data: base64 for raster images, the XML text for SVG. */
export function dataUrl(mime: string, data: string): string {
  if (mime === 'image/svg+xml') return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(data)}`;
  return `data:${mime};base64,${data.replace(/\s+/g, '')}`;
}
