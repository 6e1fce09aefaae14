import { describe, expect, it } from "vitest";
import { ImageInputError } from "../src/errors";
import { fitSize, MAX_INPUT_PIXELS, MAX_PIXELS, MAX_SIDE, sniffFormat, tooLarge } from "../src/image-input";

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

describe("sniffFormat", () => {
  it("recognises what the wasm decoder reads", () => {
    expect(sniffFormat(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0))).toBe("png");
    expect(sniffFormat(bytes(0xff, 0xd8, 0xff, 0xe0))).toBe("jpeg");
    expect(sniffFormat(new TextEncoder().encode("GIF89a"))).toBe("gif");
    expect(sniffFormat(new TextEncoder().encode("BM...."))).toBe("bmp");
    expect(sniffFormat(bytes(0x49, 0x49, 0x2a, 0))).toBe("tiff");
    expect(sniffFormat(bytes(0x4d, 0x4d, 0, 0x2a))).toBe("tiff");
    expect(sniffFormat(new TextEncoder().encode("RIFF\x10\x00\x00\x00WEBPVP8 "))).toBe("webp");
  });

  it("returns null for anything else", () => {
    expect(sniffFormat(new TextEncoder().encode("not an image"))).toBeNull();
    expect(sniffFormat(new TextEncoder().encode("RIFF\x10\x00\x00\x00WAVE"))).toBeNull();
    expect(sniffFormat(bytes())).toBeNull();
    expect(sniffFormat(bytes(0x89, 0x50))).toBeNull();
  });
});

describe("fitSize", () => {
  it("fits the pixel count without upscaling, keeping the aspect ratio", () => {
    expect(fitSize(4000, 3000)).toEqual({ width: 1182, height: 886 });
    expect(fitSize(3000, 4000, 250_000)).toEqual({ width: 433, height: 577 });
    expect(fitSize(300, 200)).toEqual({ width: 300, height: 200 });
    expect(fitSize(1024, 1024)).toEqual({ width: 1024, height: 1024 });
  });

  it("bounds tall and narrow strips by pixels, not by their width", () => {
    // 1 pixel wide: the scale alone would keep 8 million rows.
    expect(fitSize(1, 64_000_000, MAX_PIXELS, 1e9)).toEqual({ width: 1, height: MAX_PIXELS });
    expect(fitSize(64_000_000, 1, MAX_PIXELS, 1e9)).toEqual({ width: MAX_PIXELS, height: 1 });
    // With the page's side limit (its canvas), a strip is cut to that side.
    expect(fitSize(1, 64_000_000)).toEqual({ width: 1, height: MAX_SIDE });
    expect(fitSize(40, 60_000)).toEqual({ width: 5, height: MAX_SIDE });
    // 3 × 20 million: both sides shrink, the product within the budget.
    const s = fitSize(3, 20_000_000, MAX_PIXELS, 1e9);
    expect(s.width * s.height).toBeLessThanOrEqual(MAX_PIXELS);
    expect(s.width).toBeGreaterThanOrEqual(1);
    expect(fitSize(100_000, 1, 1000)).toEqual({ width: 1000, height: 1 });
  });

  it("takes sizes below one or not finite as one", () => {
    expect(fitSize(0, 0)).toEqual({ width: 1, height: 1 });
    expect(fitSize(Number.NaN, 5)).toEqual({ width: 1, height: 5 });
    expect(fitSize(Infinity, 5, 0)).toEqual({ width: 1, height: 1 });
  });
});

describe("tooLarge", () => {
  it("names the size and the limit in plain words", () => {
    const e = tooLarge(20_000, 10_000);
    expect(e).toBeInstanceOf(ImageInputError);
    expect(e.message).toBe("the image is 20000×10000 pixels (200 megapixels); this page takes images of up to 100 megapixels: make it smaller first");
    expect(MAX_INPUT_PIXELS).toBe(100_000_000);
  });
});
