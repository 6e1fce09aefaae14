/**
 * The τ and α sliders across feature kinds. Each kind (colour, diffusion) has its own calibrated
 * τ and α and its own τ range (the library's `FeatureKind::defaults`, through the worker): the
 * sliders show a kind's defaults until the person moves them; a value they chose is kept across
 * kinds, brought into the new kind's τ range.
 */
import { unreachable } from "./errors";
import type { FeatureKind, SourceDefaults } from "./protocol";

/** What the person did with the sliders, and where they are. */
export interface Sliders {
  readonly tau: number;
  readonly alpha: number;
  /** The person moved τ (so it is theirs, not a default). */
  readonly tauMoved: boolean;
  readonly alphaMoved: boolean;
}

/** What the sliders show for a kind: its range, and either its defaults or the person's values. */
export interface SliderSetting {
  readonly tau: number;
  readonly alpha: number;
  readonly tauMin: number;
  readonly tauMax: number;
}

/** The sliders' setting for a kind with defaults `d`, given what the person did. */
export function slidersFor(d: SourceDefaults, now: Sliders): SliderSetting {
  const tau = now.tauMoved ? Math.min(d.tauMax, Math.max(d.tauMin, now.tau)) : d.tau;
  const alpha = now.alphaMoved ? now.alpha : d.alpha;
  return { tau, alpha, tauMin: d.tauMin, tauMax: d.tauMax };
}

/** The hint under the τ slider: what τ does, in terms of the kind's features. */
export function tauHint(kind: FeatureKind, d: SourceDefaults): string {
  const common = "A region splits while its best cut's NCut is below τ. Moving τ re-cuts the tree instantly.";
  switch (kind) {
    case "color":
      return `${common} Colour and texture features: ${d.tau} gives a photo's main regions; towards ${d.tauMax} textures and shading break into many small pieces.`;
    case "diffusion":
      return `${common} Diffusion features: ${d.tau} is the paper's value (SSD-1B); lower merges into fewer, larger concepts.`;
    default:
      return unreachable(kind);
  }
}
