/** Types for serve.mjs (used by the end-to-end test). */
export declare const MIME: Readonly<Record<string, string>>;
export declare const CSP: string;
export declare function serve(options: { root: string; port?: number; host?: string; mounts?: Readonly<Record<string, string>> }): Promise<{ url: string; close: () => Promise<void> }>;
