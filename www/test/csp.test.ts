import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { contentSecurityPolicy, cspOfHtml, parseModelHosts, withCsp } from "../scripts/csp.mjs";

describe("the Content-Security-Policy", () => {
  it("is the same in index.html as in scripts/csp.mjs (the build adds the model hosts)", () => {
    expect(cspOfHtml(readFileSync("index.html", "utf8"))).toBe(contentSecurityPolicy());
  });

  it("connects to the page's own origin only, unless model hosts are configured", () => {
    expect(contentSecurityPolicy()).toContain("connect-src 'self';");
    const csp = contentSecurityPolicy(["https://models.example.org", "https://*.cdn.example.net"]);
    expect(csp).toContain("connect-src 'self' https://models.example.org https://*.cdn.example.net;");
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval';");
  });

  it("takes space-separated origins and refuses anything else", () => {
    expect(parseModelHosts(undefined)).toEqual([]);
    expect(parseModelHosts("  ")).toEqual([]);
    expect(parseModelHosts(" https://models.example.org  http://localhost:9000 https://*.cdn.example.net\n")).toEqual([
      "https://models.example.org",
      "http://localhost:9000",
      "https://*.cdn.example.net",
    ]);
    for (const bad of ["models.example.org", "https://models.example.org/path", "https://a.org;script-src *", "'unsafe-inline'", "*", "https://*", "ftp://x.org", 'https://x.org"']) {
      expect(() => parseModelHosts(bad), bad).toThrow("VITE_MODEL_HOSTS");
    }
  });

  it("rewrites the meta tag of a page", () => {
    const html = readFileSync("index.html", "utf8");
    const out = withCsp(html, contentSecurityPolicy(["https://m.example.org"]));
    expect(cspOfHtml(out)).toContain("connect-src 'self' https://m.example.org;");
    expect(out.length).toBe(html.length + " https://m.example.org".length);
    expect(() => withCsp("<html></html>", "x")).toThrow("no <meta");
  });
});
