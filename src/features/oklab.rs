//! sRGB ↔ linear RGB ↔ OKLab (Björn Ottosson, "A perceptual color space for image processing",
//! 2020, <https://bottosson.github.io/posts/oklab/>).
//!
//! OKLab is used instead of CIELAB because it needs no white-point bookkeeping, is cheaper (one
//! cube root per channel, no piecewise `f(t)`), and is more uniform in hue; Euclidean distance in
//! it tracks perceived colour difference (L in [0, 1], a and b roughly in [−0.3, 0.3]).

/// sRGB transfer function inverse (IEC 61966-2-1): an 8-bit channel → linear light in [0, 1].
pub fn srgb_to_linear(v: u8) -> f32 {
    let c = f32::from(v) / 255.0;
    if c <= 0.040_45 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light in [0, 1] → sRGB-encoded value in [0, 1].
pub fn linear_to_srgb(c: f32) -> f32 {
    if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    }
}

/// The 256-entry table of [`srgb_to_linear`], so that converting a photo costs one lookup a
/// channel.
pub fn srgb_to_linear_table() -> [f32; 256] {
    std::array::from_fn(|i| srgb_to_linear(i as u8))
}

/// Linear RGB → OKLab `[L, a, b]`.
pub fn linear_rgb_to_oklab([r, g, b]: [f32; 3]) -> [f32; 3] {
    let l = 0.412_221_46 * r + 0.536_332_55 * g + 0.051_445_995 * b;
    let m = 0.211_903_5 * r + 0.680_699_5 * g + 0.107_396_96 * b;
    let s = 0.088_302_46 * r + 0.281_718_85 * g + 0.629_978_7 * b;
    let (l, m, s) = (l.cbrt(), m.cbrt(), s.cbrt());
    [
        0.210_454_26 * l + 0.793_617_8 * m - 0.004_072_047 * s,
        1.977_998_5 * l - 2.428_592_2 * m + 0.450_593_7 * s,
        0.025_904_037 * l + 0.782_771_77 * m - 0.808_675_77 * s,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: f32 = 1e-3;

    /// Reference values from Ottosson's post (white, and the sRGB primaries).
    #[test]
    fn oklab_reference_values() {
        let cases = [
            ([1.0, 1.0, 1.0], [1.0, 0.0, 0.0]),
            ([1.0, 0.0, 0.0], [0.627_955, 0.224_863, 0.125_846]),
            ([0.0, 1.0, 0.0], [0.866_440, -0.233_888, 0.179_498]),
            ([0.0, 0.0, 1.0], [0.452_014, -0.032_457, -0.311_528]),
        ];
        for (rgb, want) in cases {
            let got = linear_rgb_to_oklab(rgb);
            for k in 0..3 {
                assert!((got[k] - want[k]).abs() < TOL, "{rgb:?}: got {got:?}, want {want:?}");
            }
        }
    }

    #[test]
    fn transfer_function_round_trips() {
        for v in 0..=255u8 {
            let back = (linear_to_srgb(srgb_to_linear(v)) * 255.0).round() as u8;
            assert_eq!(back, v);
        }
    }
}
