/**
 * Getting an image ready for segmentation, in the worker (the `prepare` request), off the page's
 * thread: the wasm module decodes PNG, JPEG, GIF, BMP, TIFF and WebP itself (with EXIF
 * orientation and size limits). Images of more than {@link MAX_PIXELS} pixels are downscaled
 * first by the browser, and formats only the browser knows (AVIF, SVG, ...) are re-encoded as
 * PNG. The work is bounded by pixels (width × height), not by a side: a 1×4,000,000 strip is as
 * much work as a 2000×2000 photo. An image the browser cannot decode (TIFF in Chrome) goes to the
 * wasm module as it is, which fits it into the same budget after decoding (its `maxPixels`).
 */
import { ImageInputError } from "./errors";

/** Pixels (width × height) an image is segmented at, at most: larger ones are downscaled (the features use 256² anyway). */
export const MAX_PIXELS = 1024 * 1024;

/**
 * Pixels the browser is asked to decode at most: beyond this the file is refused before it is
 * drawn (its decoded pixels alone would be 4 bytes each).
 */
export const MAX_INPUT_PIXELS = 100_000_000;

/** Formats the wasm decoder reads. */
export type WasmFormat = "png" | "jpeg" | "gif" | "bmp" | "tiff" | "webp";

/** The format from the first bytes (magic numbers), or null when the wasm decoder cannot read it. */
export function sniffFormat(bytes: Uint8Array): WasmFormat | null {
  const at = (i: number, ...want: number[]): boolean => want.every((b, k) => bytes[i + k] === b);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "png";
  if (at(0, 0xff, 0xd8, 0xff)) return "jpeg";
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return "gif";
  if (at(0, 0x42, 0x4d)) return "bmp";
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return "tiff";
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return "webp";
  return null;
}

/**
 * Longest side an image is segmented at (larger ones are downscaled): the page draws the image
 * and its labels on a canvas of that size, which browsers refuse beyond some 16k–32k pixels.
 */
export const MAX_SIDE = 8192;

/**
 * Size after fitting `width`×`height` into `maxPixels` pixels and `maxSide` on a side: scaled by
 * one factor (never up), each side at least 1, and within both bounds even for a strip 1 pixel
 * wide (where the factor alone cannot get there, the long side is cut further). Sizes and bounds
 * below 1 or not finite count as 1. The wasm module's `fit_pixels` (src/web/convert.rs) is the
 * same function.
 */
export function fitSize(width: number, height: number, maxPixels = MAX_PIXELS, maxSide = MAX_SIDE): { width: number; height: number } {
  const atLeast1 = (v: number): number => (Number.isFinite(v) && v >= 1 ? Math.floor(v) : 1);
  const w = atLeast1(width);
  const h = atLeast1(height);
  const max = atLeast1(maxPixels);
  const side = atLeast1(maxSide);
  if (w * h <= max && Math.max(w, h) <= side) return { width: w, height: h };
  const scale = Math.min(1, Math.sqrt(max / (w * h)), side / Math.max(w, h));
  let fw = Math.min(w, side, Math.max(1, Math.floor(w * scale)));
  let fh = Math.min(h, side, Math.max(1, Math.floor(h * scale)));
  fh = Math.max(1, Math.min(fh, Math.floor(max / fw)));
  fw = Math.max(1, Math.min(fw, Math.floor(max / fh)));
  return { width: fw, height: fh };
}

/** An image ready for the worker. */
export interface PreparedImage {
  readonly bytes: ArrayBuffer;
  /** Shown to the user when the browser changed the image (downscaled or re-encoded). */
  readonly note: string | null;
}

/**
 * The bytes to send for `blob`: as they are when the wasm decoder reads them and they have at
 * most {@link MAX_PIXELS} pixels; otherwise decoded by the browser (EXIF orientation applied),
 * downscaled to {@link MAX_PIXELS} and re-encoded as PNG. When the browser cannot decode them,
 * they are sent as they are: the wasm module decodes them (within its own limits, with a precise
 * error when it cannot) and fits them into {@link MAX_PIXELS} itself.
 *
 * @throws {ImageInputError} for an empty file, or one of more than {@link MAX_INPUT_PIXELS} pixels.
 */
export async function prepareImage(blob: Blob): Promise<PreparedImage> {
  const bytes = await blob.arrayBuffer();
  if (bytes.byteLength === 0) throw new ImageInputError("the file is empty (0 bytes)");
  const format = sniffFormat(new Uint8Array(bytes, 0, Math.min(16, bytes.byteLength)));
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: "from-image" });
  } catch {
    return { bytes, note: null };
  }
  try {
    if (bitmap.width * bitmap.height > MAX_INPUT_PIXELS) throw tooLarge(bitmap.width, bitmap.height);
    const fit = fitSize(bitmap.width, bitmap.height);
    const downscale = fit.width * fit.height < bitmap.width * bitmap.height;
    if (format !== null && !downscale) return { bytes, note: null };
    const canvas = new OffscreenCanvas(fit.width, fit.height);
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new ImageInputError("this browser cannot draw into an OffscreenCanvas");
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bitmap, 0, 0, fit.width, fit.height);
    const png = await canvas.convertToBlob({ type: "image/png" });
    const note = downscale
      ? `downscaled from ${bitmap.width}×${bitmap.height} to ${fit.width}×${fit.height}`
      : `converted to PNG by the browser (${blob.type || "unknown type"})`;
    return { bytes: await png.arrayBuffer(), note };
  } finally {
    bitmap.close();
  }
}

/** The error for an image of `width`×`height` pixels, more than the page takes. */
export function tooLarge(width: number, height: number): ImageInputError {
  const mp = (n: number): string => `${(n / 1e6).toFixed(n < 10e6 ? 1 : 0)} megapixels`;
  return new ImageInputError(`the image is ${width}×${height} pixels (${mp(width * height)}); this page takes images of up to ${mp(MAX_INPUT_PIXELS)}: make it smaller first`);
}

/** The first file of a drop or paste, if any (whatever its type: the decoder says what is wrong). */
export function firstFile(items: DataTransferItemList | null | undefined, files: FileList | null | undefined): File | null {
  const fromFiles = files?.[0];
  if (fromFiles) return fromFiles;
  for (const item of Array.from(items ?? [])) {
    if (item.kind === "file") {
      const f = item.getAsFile();
      if (f) return f;
    }
  }
  return null;
}
