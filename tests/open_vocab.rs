//! The open-vocabulary metric (docs/ALGORITHM.md §7.6) against torchmetrics: each image's
//! `JaccardIndex(task="multiclass")` and their mean, as `eval_diffcut_openvoc.py` computes them.
//! Golden values: `tests/fixtures/open_vocab/jaccard.json`, made by
//! `tests/reference/open_vocab_jaccard.py`.

use diffcut::eval::open_vocab::{image_jaccard, JaccardMean};

fn golden() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/open_vocab/jaccard.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn map(v: &serde_json::Value) -> Vec<u16> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u16)
        .collect()
}

#[test]
fn per_image_jaccard_is_torchmetrics() {
    let g = golden();
    let images = g["images"].as_array().unwrap();
    assert_eq!(images.len(), 7);
    let mut mean21 = JaccardMean::new(21).unwrap();
    for (i, im) in images.iter().enumerate() {
        let classes = im["classes"].as_u64().unwrap() as usize;
        let (gt, pred) = (map(&im["gt"]), map(&im["pred"]));
        let want = im["jaccard"].as_f64().unwrap();
        let got = image_jaccard(&gt, &pred, classes).unwrap();
        // torchmetrics divides in float32.
        assert!((got - want).abs() < 1e-6, "image {i}: {got} vs torchmetrics {want}");
        if classes == 21 {
            let added = mean21.add(&gt, &pred).unwrap();
            assert_eq!(added, got);
        }
    }
    let r = mean21.finish();
    assert_eq!(r.images, 4);
    let want = g["mean_21"].as_f64().unwrap();
    assert!(
        (r.mean_image_jaccard - want).abs() < 1e-6,
        "{} vs {want}",
        r.mean_image_jaccard
    );
    // The dataset-level mIoU is another number: summed counts, not a mean of image scores.
    assert!(r.miou.is_finite() && (r.miou - r.mean_image_jaccard).abs() > 1e-3);
    assert_eq!(r.per_class_iou.len(), 21);
}
