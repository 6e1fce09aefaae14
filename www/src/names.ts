/**
 * Names of the files the page saves (the mask PNG, the tree JSON), made from the name of the
 * image the user chose, which can be anything: a path, a name with control characters, with
 * right-to-left overrides that disguise its extension, with characters Windows refuses, or none
 * at all (a pasted image). The browser sanitises a download's name too; this keeps what the page
 * shows and suggests readable and the same everywhere.
 */

/** Longest stem kept (the suffixes the page adds stay within common file-system limits). */
export const MAX_STEM = 100;

/** Characters a stem never keeps: controls, bidirectional overrides and isolates, and those Windows refuses. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069<>:"/\\|?*]/gu;

/** Names Windows reserves whatever their extension. */
const RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)$/i;

/**
 * The stem of a saved file for an image named `fileName`: its last path segment without its
 * extension, unsafe characters replaced by `_`, spaces and dots trimmed from both ends, at most
 * {@link MAX_STEM} characters (never splitting a surrogate pair); `image` when nothing is left.
 */
export function fileStem(fileName: string): string {
  const last = fileName.split(/[/\\]/).pop() ?? "";
  const withoutExtension = last.replace(/\.[^.]*$/, "");
  let stem = withoutExtension.replace(UNSAFE, "_").replace(/^[\s.]+|[\s.]+$/gu, "");
  if (stem.length > MAX_STEM) stem = Array.from(stem).reduce((s, ch) => (s.length + ch.length <= MAX_STEM ? s + ch : s), "");
  stem = stem.replace(/[\s.]+$/u, "");
  if (stem === "" || RESERVED.test(stem)) return stem === "" ? "image" : `${stem}_`;
  return stem;
}
