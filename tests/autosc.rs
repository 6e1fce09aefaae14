//! AutoSC against the official `diffcut/autosc.py` itself (PyTorch float32 `eigh`, SciPy's pivoted
//! QR and SVD), run by `tests/reference/make_autosc_fixtures.py` on the golden NCut fixtures'
//! features and on pixel-patch grids of the sample photos. The partitions must agree on ≥ 99 % of
//! the cells after matching the segments, and have as many segments.

use std::path::Path;

use diffcut::ncut::autosc::autosc;
use diffcut::ncut::FeatureGrid;
use diffcut::npy;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[derive(serde::Deserialize)]
struct Fixtures {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    features: String,
    labels: String,
    segments: usize,
}

fn read(path: &str) -> Vec<u8> {
    let p = Path::new(ROOT).join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn partitions_match_the_official_autosc() {
    let fixtures: Fixtures = serde_json::from_slice(&read("tests/fixtures/autosc/cases.json")).unwrap();
    assert!(fixtures.cases.len() >= 16, "{} cases", fixtures.cases.len());
    assert!(fixtures.cases.iter().filter(|c| c.name.starts_with("photo_")).count() >= 4);
    let mut report = Vec::new();
    for case in &fixtures.cases {
        let (shape, data) = npy::read_f32(&read(&case.features), 3).unwrap();
        let features = FeatureGrid::new(shape[0], shape[1], shape[2], data).unwrap();
        let (want_shape, want) = npy::read_labels(&read(&case.labels), 2).unwrap();
        assert_eq!(want_shape, [shape[0], shape[1]], "{}", case.name);
        let got = autosc(&features).unwrap();
        let want: Vec<u32> = want.iter().map(|&v| v as u32).collect();
        let agreement = diffcut::eval::partition_agreement(&got.labels, &want).unwrap();
        report.push(format!(
            "{}: agreement {agreement:.4}, segments {} vs {} (k = {}, α = {})",
            case.name,
            got.segments(),
            case.segments,
            got.clusters,
            got.alpha
        ));
        assert!(
            agreement >= 0.99 && got.segments() == case.segments,
            "{}\n{}",
            case.name,
            report.join("\n")
        );
    }
    eprintln!("{}", report.join("\n"));
}
