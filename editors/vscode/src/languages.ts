// Kernelspec languages (what kernels call their language: "python", "R", "C++") and VS Code's
// language identifiers ("python", "r", "cpp"). The extension serves the documents of the
// languages it has kernels for; the table covers the kernels whose language name differs from
// VS Code's identifier for it.

const aliases: Record<string, string> = {
  'c++': 'cpp',
  'c#': 'csharp',
  'f#': 'fsharp',
  bash: 'shellscript',
  sh: 'shellscript',
  zsh: 'shellscript',
  'q#': 'qsharp',
  node: 'javascript',
  'wolfram language': 'wolfram',
};

/** VS Code's language id for a kernelspec language; undefined for "" (no language). */
export function languageIdOf(kernelLanguage: string): string | undefined {
  const lower = kernelLanguage.trim().toLowerCase();
  if (lower === '') return undefined;
  return aliases[lower] ?? lower;
}

/** The language ids to serve for a list of kernelspecs, sorted, without duplicates. */
export function languageIdsOf(kernelspecs: Array<{ language: string }>): string[] {
  const ids = new Set<string>();
  for (const spec of kernelspecs) {
    const id = languageIdOf(spec.language);
    if (id) ids.add(id);
  }
  return [...ids].sort();
}

/**
 * The kernelspec language to tell the daemon for a document's VS Code language id, where VS
 * Code's id is not the kernels' name: the daemon matches a document's language to a kernel's
 * (protocol.md §3.3) by name, and knows nothing of VS Code's ids. `kernelLanguages` are the
 * installed kernelspecs' languages.
 */
export function kernelLanguageFor(languageId: string, kernelLanguages: string[]): string {
  for (const lang of kernelLanguages) {
    if (languageIdOf(lang) === languageId) return lang.toLowerCase();
  }
  return languageId;
}

/** Languages served before the kernelspecs are known (and the static activation languages). */
export const defaultLanguageIds = ['julia', 'python', 'r'];
