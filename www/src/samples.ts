/**
 * The bundled sample photos (from `samples/` at the repository root, bundled by Vite) and their
 * attribution, which the page footer shows. See samples/README.md for their provenance.
 */
import astronaut from "../../samples/astronaut.jpg";
import chelsea from "../../samples/chelsea.jpg";
import coffee from "../../samples/coffee.jpg";
import rocket from "../../samples/rocket.jpg";

export interface Sample {
  readonly id: string;
  readonly title: string;
  readonly url: string;
  /** Who made it and under which terms, as its source states them. */
  readonly credit: string;
}

export const SAMPLES: readonly Sample[] = [
  { id: "astronaut", title: "Astronaut", url: astronaut, credit: "Eileen Collins, NASA (public domain)" },
  { id: "coffee", title: "Coffee", url: coffee, credit: "Rachel Michetti, Pikolo Espresso Bar (CC0)" },
  { id: "chelsea", title: "Chelsea the cat", url: chelsea, credit: "Stefan van der Walt (CC0)" },
  { id: "rocket", title: "DSCOVR launch", url: rocket, credit: "SpaceX (public domain)" },
];

/** The sample segmented when the page opens (`?sample=` picks another). */
export const DEFAULT_SAMPLE = "astronaut";
