/**
 * The "How it works" panel's live values: the numbers its plain-words steps quote, read from what
 * is on screen (the grid, the features, α, τ and the segment count), so that a student reading it
 * sees their own image's numbers. Pure: the page fills the spans marked `data-how` with these.
 */

/** What the panel quotes. */
export interface HowFacts {
  /** Feature grid side: the photo is described on `grid × grid` patches. */
  readonly grid: number;
  readonly features: "color" | "diffusion";
  /** Input size of the diffusion model (only with diffusion features). */
  readonly size: number | null;
  readonly alpha: number;
  readonly tau: number;
  /** Segments at τ (the number under the image). */
  readonly segments: number;
  /** Nodes of the tree (cuts + leaves) grown to the slider's top. */
  readonly nodes: number;
}

/** The text of each `data-how` span. */
export type HowTexts = Readonly<Record<"grid" | "cells" | "features" | "alpha" | "tau" | "segments" | "nodes", string>>;

/** The panel's texts for `f`. Numbers are written as the sliders write them. */
export function howTexts(f: HowFacts): HowTexts {
  return {
    grid: `${f.grid} × ${f.grid}`,
    cells: (f.grid * f.grid).toLocaleString("en-US"),
    features:
      f.features === "color"
        ? "colour and texture statistics of the patch, computed from the photo alone"
        : `what the diffusion model's encoder sees at that place, after the photo is resized to ${f.size ?? "?"} × ${f.size ?? "?"}`,
    alpha: String(f.alpha),
    tau: f.tau.toFixed(2),
    segments: `${f.segments} segment${f.segments === 1 ? "" : "s"}`,
    nodes: String(f.nodes),
  };
}
