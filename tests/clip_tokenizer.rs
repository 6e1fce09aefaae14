//! The CLIP tokenizer against open_clip: the ids of every string of
//! tests/fixtures/clip/tokenizer/strings.json must be open_clip's (tokens.json, written by
//! tests/reference/make_clip_tokens.py with open_clip 3.3.0's `get_tokenizer('convnext_large_d_320')`).
#![cfg(feature = "model")]

use std::path::PathBuf;
use std::time::Instant;

use diffcut::model::clip::tokenizer::Tokenizer;
use diffcut::Error;

const CONTEXT: usize = 77;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clip/tokenizer")
}

fn tokenizer() -> Tokenizer {
    let gz = std::fs::read(dir().join("bpe_simple_vocab_16e6.txt.gz")).unwrap();
    Tokenizer::from_gz(&gz).unwrap()
}

fn strings() -> Vec<String> {
    serde_json::from_slice(&std::fs::read(dir().join("strings.json")).unwrap()).unwrap()
}

#[test]
fn vocabulary_is_open_clips() {
    let tok = tokenizer();
    assert_eq!(tok.vocab_size(), 49408);
    assert_eq!((tok.sot(), tok.eot()), (49406, 49407));
}

#[test]
fn ids_are_open_clips() {
    let tok = tokenizer();
    let strings = strings();
    let expected: Vec<Vec<u32>> = serde_json::from_slice(&std::fs::read(dir().join("tokens.json")).unwrap()).unwrap();
    assert_eq!(
        strings.len(),
        expected.len(),
        "strings.json and tokens.json differ in length"
    );
    assert!(strings.len() >= 300);

    let start = Instant::now();
    let got: Vec<Vec<u32>> = strings.iter().map(|s| tok.tokenize(s, CONTEXT)).collect();
    let elapsed = start.elapsed();
    println!("{} strings tokenized in {elapsed:?}", strings.len());

    let mut report = Vec::new();
    for ((s, want), got) in strings.iter().zip(&expected).zip(&got) {
        if got != want {
            report.push(format!("{s:?}\n  rust:      {got:?}\n  open_clip: {want:?}"));
        }
    }
    assert!(
        report.is_empty(),
        "{} of {} strings differ from open_clip:\n{}",
        report.len(),
        strings.len(),
        report.join("\n")
    );

    // encode is tokenize without sot/eot, truncation or padding.
    for s in strings.iter().take(400) {
        let mut row = vec![tok.sot()];
        row.extend(tok.encode(s));
        row.push(tok.eot());
        if row.len() > CONTEXT {
            row.truncate(CONTEXT);
            row[CONTEXT - 1] = tok.eot();
        }
        row.resize(CONTEXT, 0);
        assert_eq!(row, tok.tokenize(s, CONTEXT), "{s:?}");
    }
}

/// Every class name of the bundled label lists is in the reference (rerun make_clip_tokens.py when
/// they change).
#[test]
fn reference_covers_the_label_lists() {
    let strings = strings();
    let labels = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/labels");
    let Ok(entries) = std::fs::read_dir(&labels) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt") {
            for name in std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .flat_map(|l| l.split(','))
            {
                let name = name.trim();
                assert!(
                    name.is_empty() || strings.iter().any(|s| s == name),
                    "{name:?} of {} is not in strings.json: rerun tests/reference/make_clip_tokens.py",
                    path.display()
                );
            }
        }
    }
}

/// Inputs that stress every step (broken encodings, entities, long runs) end, without panicking,
/// with a full row.
#[test]
fn hostile_inputs_give_a_row() {
    let tok = tokenizer();
    let mut inputs: Vec<String> = vec![
        "&".repeat(10_000),
        "&#".repeat(5_000),
        "&amp;".repeat(5_000),
        "Ã".repeat(10_000),
        "Ã©".repeat(5_000),
        "ÃƒÂ".repeat(3_000),
        "\u{ed}\u{a0}\u{bd}".repeat(3_000),
        "\u{1b}[".repeat(5_000),
        "Σ\u{345}".repeat(5_000),
        "a".repeat(20_000),
        "\u{300}".repeat(10_000),
        "'".repeat(10_000),
        "<".repeat(1_000) + &"&lt;".repeat(1_000),
        "\n".repeat(10_000),
        "ﾞ".repeat(5_000),
    ];
    // Every byte string of length 1-2 read as Latin-1 and as lossy UTF-8, and every Latin-1 pair.
    for a in 0..=255u8 {
        inputs.push(String::from_utf8_lossy(&[a, 0x80, 0xa0, a]).into_owned());
        for b in (0..=255u8).step_by(3) {
            inputs.push([char::from(a), char::from(b), ' ', char::from(0xc3u8)].iter().collect());
        }
    }
    let start = Instant::now();
    for s in &inputs {
        let row = tok.tokenize(s, CONTEXT);
        assert_eq!(row.len(), CONTEXT);
        assert_eq!(row[0], tok.sot());
        assert!(row.contains(&tok.eot()));
    }
    println!("{} hostile inputs in {:?}", inputs.len(), start.elapsed());
}

#[test]
fn bad_vocabulary_files_are_model_file_errors() {
    for bytes in [&b""[..], b"\x1f\x8b\x08\x00garbage", b"plain text"] {
        match Tokenizer::from_gz(bytes) {
            Err(Error::ModelFile { file, .. }) => assert_eq!(file, "bpe_simple_vocab_16e6.txt.gz"),
            Err(e) => panic!("wrong error {e}"),
            Ok(_) => panic!("{bytes:?} was accepted"),
        }
    }
}
