// The page's Content-Security-Policy, in one place: index.html's meta tag (rewritten by the Vite
// build, see vite.config.ts), the header of scripts/serve.mjs (workers take their policy from
// their own response's header, not from the page), and the page's own check of a model URL.
//
// connect-src is the page's own origin plus the model hosts chosen at build time
// (VITE_MODEL_HOSTS="https://models.example.org https://*.cdn.example.net", default none): a
// model from anywhere else has to be picked from disk.

/**
 * The model hosts of `VITE_MODEL_HOSTS`: space-separated origins (`https://host[:port]`, or
 * `http://` for a local server), optionally with a leading `*.` wildcard label. Nothing else is
 * accepted, so nothing can be smuggled into the policy.
 * @param {string | undefined} text
 * @returns {string[]}
 */
export function parseModelHosts(text) {
  const hosts = (text ?? "").split(/\s+/).filter((h) => h !== "");
  for (const h of hosts) {
    if (!/^https?:\/\/(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/i.test(h)) {
      throw new Error(`VITE_MODEL_HOSTS: ${JSON.stringify(h)} is not an origin such as https://models.example.org (no path, no quotes)`);
    }
  }
  return hosts;
}

/**
 * The policy. 'wasm-unsafe-eval' allows compiling WebAssembly; no other eval.
 * @param {readonly string[]} [modelHosts]
 * @returns {string}
 */
export function contentSecurityPolicy(modelHosts = []) {
  const connect = ["'self'", ...modelHosts].join(" ");
  return (
    `default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src ${connect}; ` +
    "img-src 'self' blob: data:; style-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'"
  );
}

const META = /(<meta\s+http-equiv="Content-Security-Policy"\s+content=")([^"]*)(")/;

/**
 * The policy of a page's meta tag, or null when it has none.
 * @param {string} html
 * @returns {string | null}
 */
export function cspOfHtml(html) {
  return META.exec(html)?.[2] ?? null;
}

/**
 * `html` with its meta policy replaced by `csp`.
 * @param {string} html
 * @param {string} csp
 * @returns {string}
 */
export function withCsp(html, csp) {
  if (!META.test(html)) throw new Error('index.html has no <meta http-equiv="Content-Security-Policy" content="…">');
  return html.replace(META, (_, a, _b, c) => `${a}${csp}${c}`);
}
