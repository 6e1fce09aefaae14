import { describe, expect, it } from "vitest";
import { howTexts } from "../src/how";

describe("howTexts", () => {
  it("quotes the grid, the patch count and the sliders as the page writes them", () => {
    const t = howTexts({ grid: 32, features: "color", size: null, alpha: 10, tau: 0.5, segments: 17, nodes: 121 });
    expect(t.grid).toBe("32 × 32");
    expect(t.cells).toBe("1,024");
    expect(t.alpha).toBe("10");
    expect(t.tau).toBe("0.50");
    expect(t.segments).toBe("17 segments");
    expect(t.nodes).toBe("121");
    expect(t.features).toMatch(/colour and texture/);
  });

  it("says one segment, and names the model's input size for diffusion features", () => {
    const t = howTexts({ grid: 16, features: "diffusion", size: 512, alpha: 7.5, tau: 0.05, segments: 1, nodes: 1 });
    expect(t.segments).toBe("1 segment");
    expect(t.alpha).toBe("7.5");
    expect(t.tau).toBe("0.05");
    expect(t.features).toContain("512 × 512");
  });
});
