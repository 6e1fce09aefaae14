import { describe, expect, it } from "vitest";
import { fileStem, MAX_STEM } from "../src/names";

describe("fileStem", () => {
  it("keeps an ordinary name's stem", () => {
    expect(fileStem("coffee.jpg")).toBe("coffee");
    expect(fileStem("pasted image")).toBe("pasted image");
    expect(fileStem("archive.tar.gz")).toBe("archive.tar");
  });

  it("drops directories, controls, bidi overrides and the characters Windows refuses", () => {
    expect(fileStem("../../etc/passwd")).toBe("passwd");
    expect(fileStem("C:\\Users\\me\\photo.png")).toBe("photo");
    expect(fileStem("photo\u202Egnp.exe")).toBe("photo_gnp");
    expect(fileStem('a<b>c:d"e|f?g*h\u0000i.png')).toBe("a_b_c_d_e_f_g_h_i");
  });

  it("never leaves an empty, hidden, reserved or overlong name", () => {
    expect(fileStem("")).toBe("image");
    expect(fileStem(".png")).toBe("image");
    expect(fileStem(" . .png")).toBe("image");
    expect(fileStem("...hidden.png")).toBe("hidden");
    expect(fileStem("CON.png")).toBe("CON_");
    expect(fileStem(`${"😀".repeat(80)}.png`)).toBe("😀".repeat(MAX_STEM / 2));
    expect(fileStem(`${"a".repeat(500)}.png`)).toHaveLength(MAX_STEM);
  });
});
