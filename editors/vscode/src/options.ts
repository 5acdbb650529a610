// The daemon's initializationOptions (protocol.md §2.2) from the extension's settings. Pure.
import { drawnMimeTypes } from './mime';

export interface OptionSettings {
  autoStart: boolean;
  defaultKernelspecs: Record<string, string>;
  requestTimeout: number;
  maxCharsPerExecution: number;
  /** The image directory the settings name, or the extension's default one. */
  imageDir: string;
  /** `kernelbridge.initializationOptions`: merged over the rest, key by key. */
  extra: Record<string, unknown>;
}

/**
 * The options, and the image directory the daemon will write to (the output panel may load
 * images from there only, so an `output.imageDir` in `extra` counts).
 */
export function initializationOptions(s: OptionSettings): { options: Record<string, unknown>; imageDir: string } {
  const options = mergeDeep(
    {
      kernels: { autoStart: s.autoStart, defaultKernelspecs: s.defaultKernelspecs },
      output: { mimeTypes: drawnMimeTypes, maxCharsPerExecution: s.maxCharsPerExecution, imageDir: s.imageDir },
      requestTimeout: s.requestTimeout,
    },
    s.extra,
  );
  const output = options['output'];
  const dir = isPlainObject(output) ? output['imageDir'] : undefined;
  if (typeof dir === 'string' && dir !== '') return { options, imageDir: dir };
  // An empty imageDir is the daemon's own default; name ours instead, so it is known.
  if (isPlainObject(output)) output['imageDir'] = s.imageDir;
  return { options, imageDir: s.imageDir };
}

/** `over` merged into `base`, objects key by key (arrays and other values are replaced). */
export function mergeDeep(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? mergeDeep(current, value) : value;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
