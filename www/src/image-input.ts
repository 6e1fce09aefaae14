/**
 * Getting an image ready for the worker: the wasm module decodes PNG, JPEG, GIF, BMP, TIFF and
 * WebP itself (with EXIF orientation and size limits). Large images are downscaled first in the
 * browser, and formats only the browser knows (AVIF, SVG, ...) are re-encoded as PNG.
 */
import { ImageInputError } from "./errors";

/** Longest side sent to the worker; larger images are downscaled (the features use 256² anyway). */
export const MAX_SIDE = 1024;

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

/** Size after fitting the longest side into `maxSide` (never upscaled; at least 1×1). */
export function fitSize(width: number, height: number, maxSide = MAX_SIDE): { width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(width, height, 1));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** An image ready for the worker. */
export interface PreparedImage {
  readonly bytes: ArrayBuffer;
  /** Shown to the user when the browser changed the image (downscaled or re-encoded). */
  readonly note: string | null;
}

/**
 * The bytes to send for `blob`: as they are when the wasm decoder reads them and they are small
 * enough; otherwise decoded by the browser (EXIF orientation applied), downscaled to
 * {@link MAX_SIDE} and re-encoded as PNG. When the browser cannot decode them either, they are
 * sent as they are, so that the wasm decoder's precise error reaches the page.
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
    const fit = fitSize(bitmap.width, bitmap.height);
    const downscale = fit.width < bitmap.width;
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
