/**
 * How many inputs each property tries: fast-check's default (100, seconds in all) in `npm test`,
 * `FUZZ_RUNS` of them in the long run (`npm run test:fuzz`, FUZZ_RUNS=10000 by default there).
 * Each property prints the inputs it tried, for FUZZ.md.
 */
import fc from "fast-check";
import { afterAll } from "vitest";

export const RUNS = Math.max(1, Number(process.env["FUZZ_RUNS"] ?? 100) || 100);

/** A wall-clock bound per input: far above what any of these takes, far below a hang. */
export const MS_PER_INPUT = 1000;

const counts = new Map<string, number>();

/** Inputs run without a break: the event loop gets a turn between chunks (vitest's own messages). */
const CHUNK = 500;

/** Runs `property` on {@link RUNS} inputs, counting them under `name`. */
export async function check<Ts extends [unknown, ...unknown[]]>(name: string, property: fc.IPropertyWithHooks<Ts>): Promise<void> {
  let n = 0;
  const counted = property.beforeEach((previous: () => void) => {
    n++;
    previous();
  });
  try {
    for (let left = RUNS; left > 0; left -= CHUNK) {
      fc.assert(counted, { numRuns: Math.min(CHUNK, left) });
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } finally {
    counts.set(name, (counts.get(name) ?? 0) + n);
  }
}

/** Calls `f`, failing if it takes longer than {@link MS_PER_INPUT} (a hang shows as that). */
export function timed<T>(f: () => T): T {
  const t0 = performance.now();
  const out = f();
  const ms = performance.now() - t0;
  if (ms > MS_PER_INPUT) throw new Error(`took ${ms.toFixed(0)} ms (more than ${MS_PER_INPUT} ms for one input)`);
  return out;
}

afterAll(() => {
  for (const [name, n] of counts) console.log(`[fuzz] ${name}: ${n} inputs`);
});
