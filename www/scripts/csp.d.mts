/** Types for csp.mjs (used by vite.config.ts, serve.mjs, the page and the tests). */
export declare function parseModelHosts(text: string | undefined): string[];
export declare function contentSecurityPolicy(modelHosts?: readonly string[]): string;
export declare function cspOfHtml(html: string): string | null;
export declare function withCsp(html: string, csp: string): string;
