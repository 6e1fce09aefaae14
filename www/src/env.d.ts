/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Space-separated origins the page may fetch models from (besides its own); see scripts/csp.mjs. */
  readonly VITE_MODEL_HOSTS?: string;
}
