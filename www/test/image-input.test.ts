import { describe, expect, it } from "vitest";
import { fitSize, MAX_SIDE, sniffFormat } from "../src/image-input";

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
  it("fits the longest side without upscaling", () => {
    expect(fitSize(4000, 3000)).toEqual({ width: MAX_SIDE, height: 768 });
    expect(fitSize(3000, 4000, 500)).toEqual({ width: 375, height: 500 });
    expect(fitSize(300, 200)).toEqual({ width: 300, height: 200 });
    expect(fitSize(100000, 1, 1000)).toEqual({ width: 1000, height: 1 });
  });
});
