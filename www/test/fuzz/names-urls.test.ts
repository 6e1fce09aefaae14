/** Fuzzing the names of saved files, the model hosts of the build, and the model URL check. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { contentSecurityPolicy, parseModelHosts } from "../../scripts/csp.mjs";
import { modelUrlAllowed } from "../../src/model-load";
import { modelRefusal, resolveModelUrl } from "../../src/model-panel";
import { fileStem, MAX_STEM } from "../../src/names";
import { check, timed } from "./runs";

/** Strings with the characters that make names and URLs go wrong. */
const nasty = fc.string({
  unit: fc.oneof(
    fc.constantFrom("/", "\\", ".", "..", " ", ":", "*", "?", '"', "<", ">", "|", "\u0000", "\u001f", "\u007f", "\u202e", "\u2066", "\u200f", "😀", "é", "%", "@", "#", ";", "'", "\n"),
    fc.string({ maxLength: 1 }),
  ),
  maxLength: 300,
});

describe("fuzz: fileStem (the stem of saved files)", () => {
  it("is a short, non-empty name without separators, controls or bidi overrides", async () => {
    await check(
      "fileStem",
      fc.property(fc.oneof(nasty, fc.string({ maxLength: 400 }), fc.string({ unit: "grapheme", maxLength: 200 })), (name) => {
        const stem = timed(() => fileStem(name));
        expect(stem.length).toBeGreaterThan(0);
        expect(stem.length).toBeLessThanOrEqual(MAX_STEM + 1);
        expect(stem).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069<>:"/\\|?*]/u);
        expect(stem).not.toMatch(/^[\s.]|[\s.]$/u);
        expect(stem).not.toMatch(/^(con|prn|aux|nul|com\d|lpt\d)$/i);
        // No lone surrogate (a cut pair would be an unencodable name).
        expect(stem).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
      }),
    );
  });
});

describe("fuzz: model hosts and URLs", () => {
  const host = fc.oneof(
    fc.constantFrom("https://models.example.org", "https://*.example.net", "http://127.0.0.1:8080", "https://a.b:443", "https://x.example.org/path", "https://x y", "'self'", "https://*.*.x", "https://models.example.org;script-src *"),
    fc.webUrl().map((u) => new URL(u).origin),
    nasty,
  );
  const url = fc.oneof(
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
    fc.constantFrom("data:application/json,{}", "blob:null/1", "javascript:alert(1)", "file:///etc/passwd", "https://models.example.org@evil.test/m.json", "https://evil.test/?https://models.example.org", "https://x.example.net.evil.test/", "HTTPS://MODELS.EXAMPLE.ORG/m.json", "ftp://models.example.org/m"),
    nasty,
  );
  const origin = fc.constantFrom("http://127.0.0.1:8080", "https://page.example", "null");

  it("parseModelHosts: origins only, or its own error; the policy keeps its directives", async () => {
    await check(
      "parseModelHosts / contentSecurityPolicy",
      fc.property(fc.array(host, { maxLength: 4 }).map((hs) => hs.join(" ")), (text) => {
        let hosts: string[];
        try {
          hosts = timed(() => parseModelHosts(text));
        } catch (e) {
          expect(e).toBeInstanceOf(Error);
          expect((e as Error).message).toMatch(/^VITE_MODEL_HOSTS: /);
          return;
        }
        const policy = contentSecurityPolicy(hosts);
        expect(policy.split(";").length).toBe(contentSecurityPolicy().split(";").length);
        for (const h of hosts) expect(h).toMatch(/^https?:\/\/[^\s;'",]+$/);
      }),
    );
  });

  it("modelUrlAllowed: never throws; allows http(s) on the page's origin or a listed host only", async () => {
    await check(
      "modelUrlAllowed / modelRefusal / resolveModelUrl",
      fc.property(url, origin, fc.array(host, { maxLength: 3 }), fc.boolean(), (u, page, hosts, webGpu) => {
        const allowed = timed(() => modelUrlAllowed(u, page, hosts));
        const refusal = timed(() => modelRefusal({ kind: "url", url: u }, webGpu, page, hosts));
        expect(refusal === null).toBe(webGpu && allowed);
        if (refusal !== null) expect(refusal.length).toBeGreaterThan(20);
        const resolved = timed(() => resolveModelUrl(u, "", "http://127.0.0.1:8080/index.html"));
        expect(typeof resolved).toBe("string");
        if (!allowed) return;
        const parsed = new URL(u);
        expect(["http:", "https:"]).toContain(parsed.protocol);
        const listed = hosts.some((h) => {
          const m = /^(https?):\/\/(\*\.)?([^/:]+)(?::(\d+))?\/?$/i.exec(h);
          if (!m) return false;
          const name = (m[3] ?? "").toLowerCase();
          return parsed.protocol === `${(m[1] ?? "").toLowerCase()}:` && (m[2] ? parsed.hostname.endsWith(`.${name}`) : parsed.hostname === name);
        });
        expect(parsed.origin === page || listed).toBe(true);
      }),
    );
  });
});
