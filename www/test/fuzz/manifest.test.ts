/** Fuzzing the model manifest parser and the file names and URLs it leads to. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fileUrl, filesToLoad, isSafeFileName, ManifestError, parseManifest, type Manifest } from "../../src/model-load";
import { check, timed } from "./runs";

const SHA = "a".repeat(64);

/** Anything a manifest field might hold, weighted towards what the parser checks. */
const anyValue = fc.oneof(fc.jsonValue(), fc.string(), fc.integer(), fc.double(), fc.constant(null), fc.constant(-1), fc.constant(2 ** 53), fc.constant("../x"), fc.constant(SHA));

/** A file name: plausible, hostile (traversal, schemes, encodings, controls) or random. */
const fileName = fc.oneof(
  fc.constantFrom("config.json", "weights-00000.safetensors", "noise/ddim_noise_seed42_256.npy", "../secret", "/etc/passwd", "a/../../b", "https://evil.example/x", "a\\b", "a%2e%2e/b", "./a", "a//b", "a?x=1", "a#f", "C:/x", "\u0000", ""),
  fc.string({ maxLength: 40 }),
  fc.array(fc.constantFrom("a", "..", ".", "", "%2e", "b.json", ":", "\\", "?"), { maxLength: 6 }).map((parts) => parts.join("/")),
);

/** A manifest near the valid shape, each field sometimes replaced by something else. */
const nearManifest = fc
  .record({
    format: fc.oneof(fc.constant("diffcut-model"), anyValue),
    format_version: fc.oneof(fc.constant(1), anyValue),
    dtype: fc.oneof(fc.constantFrom("q8", "f16"), anyValue),
    source: fc.oneof(fc.record({ name: fc.oneof(fc.string(), anyValue), licence: fc.oneof(fc.string(), anyValue) }), anyValue),
    files: fc.oneof(
      fc.array(
        fc.oneof(
          fc.record({
            name: fc.oneof(fileName, anyValue),
            bytes: fc.oneof(fc.nat(), anyValue),
            sha256: fc.oneof(fc.constant(SHA), fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF"), minLength: 64, maxLength: 64 }), anyValue),
            kind: fc.oneof(fc.constantFrom("config", "weights", "noise"), anyValue),
          }),
          anyValue,
        ),
        { maxLength: 8 },
      ),
      anyValue,
    ),
    total_bytes: fc.oneof(fc.nat(), anyValue),
  })
  .map((m) => JSON.stringify(m));

/** A valid manifest's text with a few characters changed, cut or repeated. */
const mutatedText = fc
  .tuple(
    fc.array(fc.record({ name: fileName, bytes: fc.nat(), sha256: fc.constant(SHA), kind: fc.constantFrom("config", "weights") }), { minLength: 1, maxLength: 4 }),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 8 }), fc.string({ maxLength: 4 })), { maxLength: 4 }),
  )
  .map(([files, edits]) => {
    let text = JSON.stringify({ format: "diffcut-model", format_version: 1, dtype: "q8", files, total_bytes: 1 });
    for (const [at, cut, insert] of edits) {
      const i = at % (text.length + 1);
      text = text.slice(0, i) + insert + text.slice(i + cut);
    }
    return text;
  });

/** What a successful parse promises the rest of the page. */
function expectSound(m: Manifest): void {
  expect(m.files.length).toBeGreaterThan(0);
  expect(new Set(m.files.map((f) => f.name)).size).toBe(m.files.length);
  for (const f of m.files) {
    expect(isSafeFileName(f.name)).toBe(true);
    expect(Number.isSafeInteger(f.bytes) && f.bytes >= 0).toBe(true);
    expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
  }
  expect(Number.isSafeInteger(m.totalBytes) && m.totalBytes >= 0).toBe(true);
}

/** Parses, returning the manifest or the ManifestError; anything else thrown fails the property. */
function parse(text: string): Manifest | ManifestError {
  try {
    return timed(() => parseManifest(text));
  } catch (e) {
    if (e instanceof ManifestError) return e;
    throw e;
  }
}

describe("fuzz: parseManifest", () => {
  it("returns a sound manifest or throws ManifestError, for any text", async () => {
    await check(
      "parseManifest (any text, any JSON, near-valid, mutated)",
      fc.property(fc.oneof(fc.string(), fc.json(), nearManifest, mutatedText), (text) => {
        const r = parse(text);
        if (!(r instanceof ManifestError)) expectSound(r);
      }),
    );
  });

  it("files to load: only manifest entries, or ManifestError", async () => {
    await check(
      "filesToLoad",
      fc.property(nearManifest, fc.array(fileName, { maxLength: 6 }), (text, names) => {
        const m = parse(text);
        if (m instanceof ManifestError) return;
        try {
          const files = filesToLoad(m, names);
          expect(files.map((f) => f.name)).toEqual(names);
        } catch (e) {
          expect(e).toBeInstanceOf(ManifestError);
        }
      }),
    );
  });
});

describe("fuzz: file URLs of a manifest", () => {
  const manifestUrl = fc.oneof(
    fc.constantFrom("https://models.example.org/m/manifest.json", "http://127.0.0.1:8080/models/x/manifest.json?v=1#top", "https://h.example/manifest.json"),
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
  );

  it("stays inside the manifest's folder, or throws ManifestError", async () => {
    await check(
      "fileUrl / isSafeFileName",
      fc.property(manifestUrl, fileName, (base, name) => {
        let url: string;
        try {
          url = timed(() => fileUrl(base, name));
        } catch (e) {
          expect(e).toBeInstanceOf(ManifestError);
          return;
        }
        expect(isSafeFileName(name)).toBe(true);
        const folder = new URL("./", new URL(base).origin + new URL(base).pathname);
        const u = new URL(url);
        expect(u.origin).toBe(folder.origin);
        expect(u.pathname.startsWith(folder.pathname)).toBe(true);
        expect(u.pathname.split("/")).not.toContain("..");
        expect(u.search).toBe("");
        expect(u.hash).toBe("");
      }),
    );
  });
});
