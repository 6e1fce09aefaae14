//! open_clip's CLIP tokenizer (`SimpleTokenizer` with `clean='lower'`, what
//! `open_clip.get_tokenizer('convnext_large_d_320')` returns), reproduced to the token id.
//!
//! ```text
//! text ─ftfy.fix_text─▶ ─html.unescape ×2, strip─▶ ─" ".join(split())─▶ ─lower()─▶
//!   ─pre-tokenizer regex─▶ words ─UTF-8 bytes as bytes_to_unicode chars, BPE with </w>─▶ ids
//! tokenize: [sot] + ids + [eot], cut to the context length (last forced to eot), zero-padded
//! ```
//!
//! Every step is ported from the Python that open_clip runs (open_clip 3.3.0, ftfy 6.3.1, Python
//! 3.11's `html` and `str`, the `regex` module), and every piece of character data comes from those
//! same libraries through `tests/reference/make_clip_tables.py` (`text_tables.rs`,
//! `html_entities.rs`), never from Rust's std: Python 3.11 knows Unicode 14.0, the `regex` module and
//! Rust newer versions, and a letter Python does not know must not be lower-cased or split here. (So
//! the reference is open_clip under Python 3.11; under a Python with a newer Unicode, open_clip itself
//! gives other ids for the few characters that version added.) `tests/clip_tokenizer.rs` compares
//! the ids with open_clip's on ~1600 strings.
//!
//! ftfy's `fix_text` is reproduced step by step, mojibake repair included: `unescape_html` (with the
//! "auto" rule: off from the first line containing `<` on), `fix_encoding` (the `badness` heuristic,
//! the ten single-byte encodings in ftfy's order, `restore_byte_a0`, `replace_lossy_sequences`, the
//! `utf-8-variants` codec, `decode_inconsistent_utf8`, the latin-1/windows-1252 and C1 fallbacks),
//! `fix_c1_controls`, `fix_latin_ligatures`, `fix_character_width`, `uncurl_quotes`,
//! `fix_line_breaks`, `remove_terminal_escapes`, `remove_control_chars` and NFC, repeated to a fixed
//! point, line by line. What is not reproduced:
//! - `fix_surrogates`: a Rust `&str` cannot hold UTF-16 surrogates, and no step here creates one, so
//!   it is the identity (Python strings with lone surrogates have no Rust equivalent).
//! - Termination: ftfy loops until the text stops changing; here each loop stops after
//!   [`MAX_PASSES`] passes (Python would loop forever on a text that never settles; none is known).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::BufRead;

use unicode_normalization::UnicodeNormalization;

use super::html_entities as ent;
use crate::{Error, Result};

/// Generated character data (see the module doc); a child of this module so that only the
/// tokenizer sees it.
#[path = "text_tables.rs"]
mod text_tables;
use text_tables as tt;

/// The vocabulary file's name, for errors.
const VOCAB_FILE: &str = "bpe_simple_vocab_16e6.txt.gz";

/// open_clip reads `merges[1:49152-256-2+1]`: the 48894 lines after the header line, which with the
/// 512 byte symbols and the 2 special tokens make its 49408-token vocabulary.
const N_MERGES: usize = 49152 - 256 - 2;

/// The special tokens open_clip 3.x appends to the vocabulary (and matches literally in the text).
const SOT: &str = "<start_of_text>";
const EOT: &str = "<end_of_text>";

/// A bound on ftfy's "repeat until nothing changes" loops, which Python leaves unbounded.
pub const MAX_PASSES: usize = 64;

/// ftfy's `max_decode_length`: longest segment (in code points) fixed at once.
const MAX_DECODE_LENGTH: usize = 1_000_000;

/// open_clip's CLIP tokenizer (see the module doc).
pub struct Tokenizer {
    /// The id of each initial BPE symbol: byte `b` inside a word, and at a word's end (`</w>`).
    byte_ids: [u32; 256],
    byte_end_ids: [u32; 256],
    /// `bpe_ranks` on ids: (first, second) → (rank, id of first+second).
    merges: HashMap<(u32, u32), (u32, u32), FastHash>,
    vocab_size: usize,
    sot: u32,
    eot: u32,
}

impl Tokenizer {
    /// From open_clip's gzipped merges file (bpe_simple_vocab_16e6.txt.gz) as bytes.
    pub fn from_gz(bytes: &[u8]) -> Result<Self> {
        let file_error = |reason: String| Error::ModelFile {
            file: VOCAB_FILE.into(),
            reason,
        };
        let lines = read_lines(bytes, 1 + N_MERGES).map_err(file_error)?;
        let merges: Vec<Vec<&str>> = lines.iter().skip(1).map(|line| py_split(line).collect()).collect();
        if merges.is_empty() {
            return Err(file_error("no merges after the header line".into()));
        }

        // vocab = byte chars + byte chars with </w> + joined merges + special tokens; open_clip's
        // `dict(zip(vocab, range(...)))` keeps the last id of a repeated string, as `insert` does.
        let byte_chars = bytes_to_unicode();
        let mut encoder: HashMap<String, u32, FastHash> = HashMap::default();
        let mut next = 0u32;
        let mut add = |encoder: &mut HashMap<String, u32, FastHash>, s: String| {
            encoder.insert(s, next);
            next += 1;
        };
        for &(_, c) in &byte_chars {
            add(&mut encoder, c.to_string());
        }
        for &(_, c) in &byte_chars {
            add(&mut encoder, format!("{c}</w>"));
        }
        for m in &merges {
            add(&mut encoder, m.concat());
        }
        add(&mut encoder, SOT.to_string());
        add(&mut encoder, EOT.to_string());

        let id = |s: &str| encoder.get(s).copied();
        let mut byte_ids = [0u32; 256];
        let mut byte_end_ids = [0u32; 256];
        for &(b, c) in &byte_chars {
            let b = usize::from(b);
            byte_ids[b] = id(&c.to_string()).ok_or_else(|| file_error("byte symbol missing".into()))?;
            byte_end_ids[b] = id(&format!("{c}</w>")).ok_or_else(|| file_error("byte symbol missing".into()))?;
        }
        // A pair whose halves are not both vocabulary strings can never occur in a word (every symbol
        // of a word is one), so it needs no entry. Later duplicates win, as in open_clip's dict.
        let mut pairs = HashMap::default();
        for (rank, m) in merges.iter().enumerate() {
            if let [a, b] = m[..] {
                if let (Some(ia), Some(ib), Some(joined)) = (id(a), id(b), id(&m.concat())) {
                    pairs.insert((ia, ib), (rank as u32, joined));
                }
            }
        }
        let sot = id(SOT).ok_or_else(|| file_error("no start token".into()))?;
        let eot = id(EOT).ok_or_else(|| file_error("no end token".into()))?;
        Ok(Tokenizer {
            byte_ids,
            byte_end_ids,
            merges: pairs,
            vocab_size: encoder.len(),
            sot,
            eot,
        })
    }

    /// The vocabulary size (49408 for open_clip's file).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    pub fn sot(&self) -> u32 {
        self.sot
    }

    pub fn eot(&self) -> u32 {
        self.eot
    }

    /// BPE ids of the cleaned, lower-cased text (no sot/eot).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let cleaned = clean_lower(text);
        let mut ids = Vec::new();
        for word in pre_tokenize(&cleaned) {
            self.bpe(word, &mut ids);
        }
        ids
    }

    /// open_clip's `tokenizer([text])[0]`: [sot, ids…, eot] truncated to `context_length` (last forced
    /// to eot), zero-padded. (open_clip reads a context length of 0 as its default, 77; here 0 gives
    /// an empty row.)
    pub fn tokenize(&self, text: &str, context_length: usize) -> Vec<u32> {
        let mut ids = Vec::with_capacity(context_length.max(2));
        ids.push(self.sot);
        ids.extend(self.encode(text));
        ids.push(self.eot);
        if ids.len() > context_length {
            ids.truncate(context_length);
            if let Some(last) = ids.last_mut() {
                *last = self.eot;
            }
        }
        ids.resize(context_length, 0);
        ids
    }

    /// open_clip's `bpe` for one pre-tokenized word, its ids appended to `out`.
    fn bpe(&self, word: &str, out: &mut Vec<u32>) {
        // open_clip's cache starts with the special tokens mapped to themselves.
        if word == SOT {
            out.push(self.sot);
            return;
        }
        if word == EOT {
            out.push(self.eot);
            return;
        }
        let bytes = word.as_bytes();
        let Some((&last, init)) = bytes.split_last() else {
            return;
        };
        let mut symbols: Vec<u32> = init.iter().map(|&b| self.byte_ids[b as usize]).collect();
        symbols.push(self.byte_end_ids[last as usize]);
        // Merge the lowest-ranked pair present, all its occurrences left to right, until none is.
        while symbols.len() > 1 {
            let best = symbols
                .windows(2)
                .filter_map(|w| {
                    self.merges
                        .get(&(w[0], w[1]))
                        .map(|&(rank, joined)| (rank, w[0], w[1], joined))
                })
                .min_by_key(|m| m.0);
            let Some((_, first, second, joined)) = best else {
                break;
            };
            let mut merged = Vec::with_capacity(symbols.len());
            let mut i = 0;
            while i < symbols.len() {
                if symbols[i] == first && symbols.get(i + 1) == Some(&second) {
                    merged.push(joined);
                    i += 2;
                } else {
                    merged.push(symbols[i]);
                    i += 1;
                }
            }
            symbols = merged;
        }
        out.extend(symbols);
    }
}

/// FxHash (rustc's): the BPE looks a pair up for every adjacent pair of every merge step, and
/// SipHash's resistance to chosen keys buys nothing for a fixed vocabulary.
type FastHash = std::hash::BuildHasherDefault<FxHasher>;

#[derive(Default)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The first `n` lines of the gzipped text as `text.split('\n')` gives them (a last line without
/// '\n' included, even empty). Decompression stops there: open_clip reads 48895 of the file's
/// 262146 lines, and the rest need not be inflated (nor checked for UTF-8) to build the same
/// vocabulary, which makes loading about five times faster.
fn read_lines(gz: &[u8], n: usize) -> std::result::Result<Vec<String>, String> {
    let mut reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(gz));
    let mut lines = Vec::new();
    let mut buf = Vec::new();
    while lines.len() < n {
        buf.clear();
        reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("not gzip: {e}"))?;
        let last = buf.last() != Some(&b'\n');
        if !last {
            buf.pop();
        }
        lines.push(String::from_utf8(std::mem::take(&mut buf)).map_err(|e| format!("not UTF-8: {e}"))?);
        if last {
            break;
        }
    }
    Ok(lines)
}

/// open_clip's `bytes_to_unicode` in its dict's order (which is the vocabulary's): the printable
/// Latin-1 bytes, standing for themselves, then the others, standing for 256, 257, ….
fn bytes_to_unicode() -> Vec<(u8, char)> {
    let printable = |b: u8| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
    let mut table: Vec<(u8, char)> = (0..=255u8)
        .filter(|&b| printable(b))
        .map(|b| (b, char::from(b)))
        .collect();
    let others = (0..=255u8).filter(|&b| !printable(b));
    table.extend(
        others
            .zip(256u32..)
            .map(|(b, cp)| (b, char::from_u32(cp).unwrap_or('\u{fffd}'))),
    );
    table
}

// ---------------------------------------------------------------------------------------------
// Character classes (generated tables).

fn in_ranges(table: &[(u32, u32)], c: char) -> bool {
    let c = c as u32;
    let i = table.partition_point(|&(_, hi)| hi < c);
    i < table.len() && table[i].0 <= c
}

/// `str.isspace()`.
fn py_space(c: char) -> bool {
    in_ranges(tt::PY_SPACE, c)
}

/// `str.split()` without arguments.
fn py_split(s: &str) -> impl Iterator<Item = &str> {
    s.split(py_space).filter(|w| !w.is_empty())
}

/// open_clip's `_clean_lower`: `whitespace_clean(basic_clean(text)).lower()`, the text the BPE sees.
pub fn clean_lower(text: &str) -> String {
    let fixed = fix_text(text);
    let once = html_unescape(&fixed);
    let twice = html_unescape(&once);
    let joined = py_split(twice.trim_matches(py_space)).collect::<Vec<_>>().join(" ");
    py_lower(&joined)
}

/// Python's `str.lower()`: full lower-case mappings and the final-sigma rule, on Unicode 14.0.
fn py_lower(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == '\u{3a3}' {
            out.push(if final_sigma(&chars, i) { 'ς' } else { 'σ' });
            continue;
        }
        let cp = c as u32;
        if let Ok(k) = tt::PY_LOWER.binary_search_by_key(&cp, |&(from, _)| from) {
            out.push(char::from_u32(tt::PY_LOWER[k].1).unwrap_or(c));
        } else if let Some(&(_, multi)) = tt::PY_LOWER_MULTI.iter().find(|&&(from, _)| from == cp) {
            out.push_str(multi);
        } else {
            out.push(c);
        }
    }
    out
}

/// CPython's `handle_capital_sigma`: Σ is final after a cased letter (case-ignorables skipped) unless
/// a cased letter follows (case-ignorables skipped).
fn final_sigma(chars: &[char], i: usize) -> bool {
    let ignorable = |c: char| in_ranges(tt::PY_CASE_IGNORABLE, c);
    let cased = |c: char| in_ranges(tt::PY_CASED, c);
    let before = chars[..i].iter().rev().find(|&&c| !ignorable(c));
    if !before.is_some_and(|&c| cased(c)) {
        return false;
    }
    let after = chars[i + 1..].iter().find(|&&c| !ignorable(c));
    !after.is_some_and(|&c| cased(c))
}

// ---------------------------------------------------------------------------------------------
// The pre-tokenizer: `<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|
// [^\s\p{L}\p{N}]+` compiled by the `regex` module with IGNORECASE, found left to right.

/// Whether `c` matches the pattern's literal character `lit` under IGNORECASE.
fn literal_matches(lit: char, c: char) -> bool {
    c == lit
        || tt::RE_LITERAL_EQ
            .iter()
            .find(|(l, _)| *l == lit)
            .is_some_and(|(_, eq)| eq.contains(&c))
}

/// The length in chars of `lit` matched at the start of `chars`, if it matches.
fn literal_at(chars: &[(usize, char)], lit: &str) -> Option<usize> {
    let mut n = 0;
    for l in lit.chars() {
        let &(_, c) = chars.get(n)?;
        if !literal_matches(l, c) {
            return None;
        }
        n += 1;
    }
    Some(n)
}

/// The words of the pattern, in order (what `re.findall` returns).
fn pre_tokenize(text: &str) -> Vec<&str> {
    const ALTERNATIVES: [&str; 9] = [SOT, EOT, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte_at = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let letter = |c: char| in_ranges(tt::RE_LETTER, c);
    let number = |c: char| in_ranges(tt::RE_NUMBER, c);
    let other = |c: char| in_ranges(tt::RE_OTHER, c);
    let mut words = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        let len = if let Some(n) = ALTERNATIVES.iter().find_map(|lit| literal_at(&chars[i..], lit)) {
            n
        } else if letter(c) {
            chars[i..].iter().take_while(|&&(_, c)| letter(c)).count()
        } else if number(c) {
            1
        } else if other(c) {
            chars[i..].iter().take_while(|&&(_, c)| other(c)).count()
        } else {
            // Whitespace, or a character no alternative matches (U+0345 under IGNORECASE): skipped.
            i += 1;
            continue;
        };
        words.push(&text[byte_at(i)..byte_at(i + len)]);
        i += len;
    }
    words
}

// ---------------------------------------------------------------------------------------------
// Python's html.unescape.

/// `html.unescape`: numeric references (with HTML5's remaps of invalid ones) and the HTML5 named
/// references, with or without ';' as the table has them, longest prefix first.
pub(crate) fn html_unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '&' {
            if let Some((len, text)) = charref(&chars[i + 1..]) {
                out.push_str(&text);
                i += 1 + len;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    Cow::Owned(out)
}

/// `_charref` after the `&`: `#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?`, its length in
/// chars and `_replace_charref`'s text.
fn charref(chars: &[char]) -> Option<(usize, String)> {
    let semicolon = |at: usize| usize::from(chars.get(at) == Some(&';'));
    if chars.first() == Some(&'#') {
        let digits = chars[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            let num = parse_saturating(&chars[1..1 + digits], 10);
            return Some((1 + digits + semicolon(1 + digits), numeric_charref(num)));
        }
        if matches!(chars.get(1), Some('x' | 'X')) {
            let digits = chars[2..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
            if digits > 0 {
                let num = parse_saturating(&chars[2..2 + digits], 16);
                return Some((2 + digits + semicolon(2 + digits), numeric_charref(num)));
            }
        }
        return None;
    }
    let n = chars
        .iter()
        .take(32)
        .take_while(|&&c| !matches!(c, '\t' | '\n' | '\x0c' | ' ' | '<' | '&' | '#' | ';'))
        .count();
    if n == 0 {
        return None;
    }
    let len = n + semicolon(n);
    let name: String = chars[..len].iter().collect();
    if let Some(v) = html5(&name) {
        return Some((len, v.to_string()));
    }
    // The longest prefix of at least 2 chars that is a name (`&ampx` is `&x`).
    for x in (2..len).rev() {
        let prefix: String = chars[..x].iter().collect();
        if let Some(v) = html5(&prefix) {
            let rest: String = chars[x..len].iter().collect();
            return Some((len, format!("{v}{rest}")));
        }
    }
    Some((len, format!("&{name}")))
}

fn html5(name: &str) -> Option<&'static str> {
    ent::HTML5
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|k| ent::HTML5[k].1)
}

/// A number, saturated above U+10FFFF (every such number is replaced alike).
fn parse_saturating(digits: &[char], radix: u32) -> u32 {
    digits.iter().fold(0u32, |acc, c| {
        let d = c.to_digit(radix).unwrap_or(0);
        acc.saturating_mul(radix).saturating_add(d).min(0x11_0000)
    })
}

/// `_replace_charref` for a numeric reference.
fn numeric_charref(num: u32) -> String {
    if let Some(&(_, c)) = ent::INVALID_CHARREFS.iter().find(|&&(n, _)| n == num) {
        return c.to_string();
    }
    if (0xd800..=0xdfff).contains(&num) || num > 0x10ffff {
        return '\u{fffd}'.to_string();
    }
    if ent::INVALID_CODEPOINTS.contains(&num) {
        return String::new();
    }
    char::from_u32(num).map_or_else(|| '\u{fffd}'.to_string(), |c| c.to_string())
}

// ---------------------------------------------------------------------------------------------
// ftfy.fix_text with its default configuration.

/// `ftfy.fix_text(text)`: each line (or 1M-code-point piece) fixed on its own; HTML unescaping stops
/// for good at the first segment that contains `<`.
pub(crate) fn fix_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut unescape = true;
    let mut rest = text;
    while !rest.is_empty() {
        let line_end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let end = rest
            .char_indices()
            .nth(MAX_DECODE_LENGTH)
            .map_or(line_end, |(i, _)| i.min(line_end));
        let segment = &rest[..end];
        if unescape && segment.contains('<') {
            unescape = false;
        }
        out.push_str(&fix_segment(segment, unescape));
        rest = &rest[end..];
    }
    out
}

/// `fix_and_explain` without the explanation: every fixer in ftfy's order, until nothing changes.
fn fix_segment(segment: &str, unescape: bool) -> String {
    let mut text = segment.to_string();
    for _ in 0..MAX_PASSES {
        let orig = text.clone();
        if unescape {
            text = ftfy_unescape_html(&text);
        }
        text = fix_encoding(&text);
        text = fix_c1_controls(&text);
        text = translate(&text, |c| lookup_str(tt::LIGATURES, c));
        text = translate(&text, |c| lookup_str(tt::WIDTH_MAP, c));
        text = uncurl_quotes(&text);
        text = fix_line_breaks(&text);
        // fix_surrogates: the identity on a Rust string (see the module doc).
        text = remove_terminal_escapes(&text);
        text = text
            .chars()
            .filter(|&c| !tt::CONTROL_CHARS.contains(&(c as u32)))
            .collect();
        text = nfc(&text);
        if text == orig {
            break;
        }
    }
    text
}

fn lookup_str(table: &'static [(u32, &'static str)], c: char) -> Option<&'static str> {
    table
        .binary_search_by_key(&(c as u32), |&(k, _)| k)
        .ok()
        .map(|k| table[k].1)
}

/// `str.translate` with a table of replacements.
fn translate(text: &str, map: impl Fn(char) -> Option<&'static str>) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match map(c) {
            Some(s) => out.push_str(s),
            None => out.push(c),
        }
    }
    out
}

fn uncurl_quotes(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{201c}'..='\u{201f}' => '"',
            '\u{2bc}' | '\u{2018}'..='\u{201b}' => '\'',
            c => c,
        })
        .collect()
}

fn fix_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n")
}

/// `remove_terminal_escapes`: `\x1b\[((?:\d|;)*)([a-zA-Z])` removed (`\d`: any Unicode digit).
fn remove_terminal_escapes(text: &str) -> String {
    if !text.contains('\x1b') {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\x1b' && chars.get(i + 1) == Some(&'[') {
            let params = chars[i + 2..]
                .iter()
                .take_while(|&&c| c == ';' || in_ranges(tt::PY_DIGIT, c))
                .count();
            if chars.get(i + 2 + params).is_some_and(|c| c.is_ascii_alphabetic()) {
                i += 3 + params;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// `unicodedata.normalize('NFC', text)` as Python 3.11 (Unicode 14.0) does it. The crate knows a
/// newer Unicode; a code point Python does not know has no decomposition, combining class or
/// composition there, so it is left as it is and normalisation runs on the pieces between.
fn nfc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if in_ranges(tt::PY_UNASSIGNED, c) {
            out.extend(text[start..i].nfc());
            out.push(c);
            start = i + c.len_utf8();
        }
    }
    out.extend(text[start..].nfc());
    out
}

/// ftfy's `unescape_html`: `&#?[0-9A-Za-z]{1,24};` replaced by ftfy's entity table (HTML5's
/// ';'-terminated names plus upper-cased ones like `&EACUTE;`) or, for `&#…;`, by `html.unescape`
/// where that consumes the ';'.
fn ftfy_unescape_html(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '&' {
            let hash = usize::from(chars.get(i + 1) == Some(&'#'));
            let start = i + 1 + hash;
            let n = chars[start..]
                .iter()
                .take(25)
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
            if (1..=24).contains(&n) && chars.get(start + n) == Some(&';') {
                let entity: String = chars[i..=start + n].iter().collect();
                out.push_str(&ftfy_entity(&entity));
                i = start + n + 1;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// ftfy's `_unescape_fixup` for one matched `&…;`.
fn ftfy_entity(entity: &str) -> String {
    if let Ok(k) = ent::FTFY_UPPER.binary_search_by(|(n, _)| n.cmp(&entity)) {
        return ent::FTFY_UPPER[k].1.to_string();
    }
    if let Some(v) = entity.strip_prefix('&').and_then(html5) {
        return v.to_string();
    }
    if entity.starts_with("&#") {
        let unescaped = html_unescape(entity);
        if !unescaped.contains(';') {
            return unescaped.into_owned();
        }
    }
    entity.to_string()
}

/// `fix_c1_controls`: U+0080..U+009F read as the sloppy windows-1252 bytes they are in Latin-1.
fn fix_c1_controls(text: &str) -> String {
    let table = &charmap("sloppy-windows-1252").2;
    text.chars()
        .map(|c| {
            if ('\u{80}'..='\u{9f}').contains(&c) {
                table[c as usize]
            } else {
                c
            }
        })
        .collect()
}

fn charmap(name: &str) -> &'static (&'static str, bool, [char; 256]) {
    // The table is generated with this name; the fallback (Latin-1) is unreachable.
    tt::CHARMAPS.iter().find(|m| m.0 == name).unwrap_or(&tt::CHARMAPS[0])
}

// ---------------------------------------------------------------------------------------------
// ftfy.fix_encoding.

/// `ftfy.fix_encoding`: one step at a time until the text stops changing.
fn fix_encoding(text: &str) -> String {
    let mut text = text.to_string();
    for _ in 0..MAX_PASSES {
        let next = fix_encoding_step(&text);
        if next == text {
            break;
        }
        text = next;
    }
    text
}

/// `_fix_encoding_one_step_and_explain`.
fn fix_encoding_step(text: &str) -> String {
    if text.is_ascii() || !is_bad(text) {
        return text.to_string();
    }
    let mut latin1_possible = false;
    for (name, sloppy, table) in tt::CHARMAPS {
        let Some(mut bytes) = charmap_encode(text, table) else {
            continue;
        };
        latin1_possible |= *name == "latin-1";
        if *name != "macroman" && altered_utf8_search(&bytes) {
            bytes = restore_byte_a0(&bytes);
        }
        if *sloppy {
            bytes = replace_lossy_sequences(&bytes);
        }
        let decoded = if bytes.contains(&0xed) || bytes.contains(&0xc0) {
            decode_utf8_variants(&bytes)
        } else {
            String::from_utf8(bytes).ok()
        };
        if let Some(fixed) = decoded {
            return fixed;
        }
    }
    if utf8_detector_matches(text).next().is_some() {
        let fixed = decode_inconsistent_utf8(text);
        if fixed != text {
            return fixed;
        }
    }
    // ftfy checks for "windows-1252" among the encodings tried, which it never is (it tries
    // "sloppy-windows-1252"), so Latin-1 text always gets the strict windows-1252 reading.
    if latin1_possible {
        let decoded: Option<String> = text.chars().map(|c| tt::CP1252[c as usize & 0xff]).collect();
        if let Some(fixed) = decoded {
            if fixed != text {
                return fixed;
            }
        }
    }
    if text.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)) {
        return fix_c1_controls(text);
    }
    text.to_string()
}

/// `text.encode(encoding)` for one of ftfy's single-byte encodings, None where a character has no
/// byte (exactly when `possible_encoding` is false): ASCII but 0x1A is itself, the rest is looked up.
fn charmap_encode(text: &str, table: &[char; 256]) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| {
            if (c as u32) < 0x80 && c != '\x1a' {
                Some(c as u8)
            } else {
                (0x80..=0xff).chain([0x1a]).find(|&b| table[b] == c).map(|b| b as u8)
            }
        })
        .collect()
}

/// ftfy's `ALTERED_UTF8_RE` at `i`: UTF-8 that would be valid with a 0xA0 where a space is.
fn altered_utf8_at(b: &[u8], i: usize) -> Option<usize> {
    let at = |k: usize| b.get(i + k).copied();
    let sp = |k: usize| at(k) == Some(b' ');
    let cont = |k: usize| matches!(at(k), Some(0x80..=0xbf));
    let cont_no_a0 = |k: usize| matches!(at(k), Some(0x80..=0x84 | 0x86..=0x9f | 0xa1..=0xbf));
    let lead = at(0)?;
    if matches!(lead, 0xc2 | 0xc3 | 0xc5 | 0xce | 0xd0 | 0xd9) && sp(1) {
        return Some(2);
    }
    if matches!(lead, 0xe2 | 0xe3) && sp(1) && cont_no_a0(2) {
        return Some(3);
    }
    if matches!(lead, 0xe0..=0xe3) && cont_no_a0(1) && sp(2) {
        return Some(3);
    }
    if lead == 0xf0 && ((sp(1) && cont(2) && cont(3)) || (cont(1) && sp(2) && cont(3)) || (cont(1) && cont(2) && sp(3)))
    {
        return Some(4);
    }
    None
}

fn altered_utf8_search(b: &[u8]) -> bool {
    (0..b.len()).any(|i| altered_utf8_at(b, i).is_some())
}

/// `re.sub` with a matcher returning the match length at a position.
fn byte_sub(
    b: &[u8],
    at: impl Fn(&[u8], usize) -> Option<usize>,
    mut replace: impl FnMut(&[u8], &mut Vec<u8>),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + 8);
    let mut i = 0;
    while i < b.len() {
        match at(b, i) {
            Some(n) => {
                replace(&b[i..i + n], &mut out);
                i += n;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// `restore_byte_a0`: `A_GRAVE_WORD_RE` (`\xc3 ` not before ` `, `quele`, `quela`, `quilo`, `s `)
/// gets its 0xA0 back before the space, then every `ALTERED_UTF8_RE` match its spaces made 0xA0.
fn restore_byte_a0(b: &[u8]) -> Vec<u8> {
    let a_grave = |b: &[u8], i: usize| {
        let rest = &b[i..];
        let ahead = &rest[rest.len().min(2)..];
        let excluded = [&b" "[..], b"quele", b"quela", b"quilo", b"s "]
            .iter()
            .any(|e| ahead.starts_with(e));
        (rest.starts_with(b"\xc3 ") && !excluded).then_some(2)
    };
    let b = byte_sub(b, a_grave, |_, out| out.extend_from_slice(b"\xc3\xa0 "));
    byte_sub(&b, altered_utf8_at, |m, out| {
        out.extend(m.iter().map(|&x| if x == b' ' { 0xa0 } else { x }))
    })
}

/// `LOSSY_UTF8_RE` at `i`: a UTF-8 sequence with bytes lost to 0x1A (or one to `?`).
fn lossy_utf8_at(b: &[u8], i: usize) -> Option<usize> {
    let at = |k: usize| b.get(i + k).copied();
    let sub_q = |k: usize| matches!(at(k), Some(0x1a | b'?'));
    let sub_c = |k: usize| matches!(at(k), Some(0x1a | 0x80..=0xbf));
    let sub_q_c = |k: usize| matches!(at(k), Some(0x1a | b'?' | 0x80..=0xbf));
    let hi = |k: usize| matches!(at(k), Some(0xa0..=0xaf));
    let lo = |k: usize| matches!(at(k), Some(0xb0..=0xbf));
    let lead = at(0)?;
    if (0xc2..=0xdf).contains(&lead) && at(1) == Some(0x1a) {
        return Some(2);
    }
    if (0xc2..=0xc3).contains(&lead) && at(1) == Some(b'?') {
        return Some(2);
    }
    if lead == 0xed && hi(1) && sub_q(2) && at(3) == Some(0xed) && lo(4) && sub_q_c(5) {
        return Some(6);
    }
    if lead == 0xed && hi(1) && sub_q_c(2) && at(3) == Some(0xed) && lo(4) && sub_q(5) {
        return Some(6);
    }
    if (0xe0..=0xef).contains(&lead) && ((sub_q(1) && sub_c(2)) || (sub_c(1) && sub_q(2))) {
        return Some(3);
    }
    if (0xf0..=0xf4).contains(&lead)
        && ((sub_q(1) && sub_c(2) && sub_c(3))
            || (sub_c(1) && sub_q(2) && sub_c(3))
            || (sub_c(1) && sub_c(2) && sub_q(3)))
    {
        return Some(4);
    }
    (lead == 0x1a).then_some(1)
}

/// `replace_lossy_sequences`: each lossy sequence becomes U+FFFD.
fn replace_lossy_sequences(b: &[u8]) -> Vec<u8> {
    byte_sub(b, lossy_utf8_at, |_, out| out.extend_from_slice("\u{fffd}".as_bytes()))
}

/// Python's `$` in a bytes pattern: the end, or just before a final newline.
fn at_end(b: &[u8], p: usize) -> bool {
    p == b.len() || (p + 1 == b.len() && b[p] == b'\n')
}

/// `(X|$)` at `p`: the position after it.
fn byte_or_end(b: &[u8], p: usize, class: impl Fn(u8) -> bool) -> Option<usize> {
    match b.get(p) {
        Some(&x) if class(x) => Some(p + 1),
        _ if at_end(b, p) => Some(p),
        _ => None,
    }
}

/// `CESU8_EXPR` at `p`.
fn cesu8_at(b: &[u8], p: usize) -> bool {
    if b.get(p) != Some(&0xed) {
        return false;
    }
    let classes: [fn(u8) -> bool; 5] = [
        |x| (0xa0..=0xaf).contains(&x),
        |x| (0x80..=0xbf).contains(&x),
        |x| x == 0xed,
        |x| (0xb0..=0xbf).contains(&x),
        |x| (0x80..=0xbf).contains(&x),
    ];
    let mut q = p + 1;
    for class in classes {
        match byte_or_end(b, q, class) {
            Some(next) => q = next,
            None => return false,
        }
    }
    true
}

/// `SPECIAL_BYTES_RE` (Java's null, CESU-8, a lone surrogate) matches at `p`.
fn special_bytes_at(b: &[u8], p: usize) -> bool {
    match b.get(p) {
        Some(0xc0) => byte_or_end(b, p + 1, |x| x == 0x80).is_some(),
        Some(0xed) => {
            cesu8_at(b, p)
                || byte_or_end(b, p + 1, |x| (0xa0..=0xbf).contains(&x))
                    .and_then(|q| byte_or_end(b, q, |x| (0x80..=0xbf).contains(&x)))
                    .is_some()
        }
        _ => false,
    }
}

/// ftfy's `utf-8-variants` codec, strict: UTF-8 plus CESU-8 surrogate pairs and Java's `C0 80`.
fn decode_utf8_variants(input: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(input.len());
    let mut pos = 0;
    while pos < input.len() {
        let rest = &input[pos..];
        let Some(cut) = (0..rest.len()).find(|&p| special_bytes_at(rest, p)) else {
            out.push_str(std::str::from_utf8(rest).ok()?);
            break;
        };
        if cut > 0 {
            out.push_str(std::str::from_utf8(&rest[..cut]).ok()?);
            pos += cut;
        } else if rest[0] == 0xc0 {
            if rest.len() < 2 {
                return None;
            }
            out.push('\0');
            pos += 2;
        } else if rest.len() < 6 {
            // What is left starts with a broken surrogate: the strict decoder fails on it.
            out.push_str(std::str::from_utf8(rest).ok()?);
            break;
        } else if cesu8_at(rest, 0) {
            let cp = ((u32::from(rest[1]) & 0x0f) << 16)
                + ((u32::from(rest[2]) & 0x3f) << 10)
                + ((u32::from(rest[4]) & 0x0f) << 6)
                + (u32::from(rest[5]) & 0x3f)
                + 0x10000;
            out.push(char::from_u32(cp)?);
            pos += 6;
        } else {
            // A lone surrogate (ED A0..BF 80..BF): invalid UTF-8.
            return None;
        }
    }
    Some(out)
}

/// ftfy's `UTF8_DETECTOR_RE` matches, as char ranges `[start, end)` of `chars`: runs of UTF-8-looking
/// sequences not right after a strict continuation character.
fn utf8_detector_matches(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    std::iter::from_fn(move || {
        let cont = |k: usize| chars.get(k).is_some_and(|&c| in_ranges(tt::UTF8_CONTINUATION, c));
        while i < chars.len() {
            let start = i;
            let mut end = i;
            if start == 0 || !in_ranges(tt::UTF8_CONTINUATION_STRICT, chars[start - 1]) {
                while let Some(&c) = chars.get(end) {
                    end += if in_ranges(tt::UTF8_FIRST_OF_2, c) && cont(end + 1) {
                        2
                    } else if in_ranges(tt::UTF8_FIRST_OF_3, c) && cont(end + 1) && cont(end + 2) {
                        3
                    } else if in_ranges(tt::UTF8_FIRST_OF_4, c) && cont(end + 1) && cont(end + 2) && cont(end + 3) {
                        4
                    } else {
                        break;
                    };
                }
            }
            if end > start {
                i = end;
                return Some((start, end));
            }
            i += 1;
        }
        None
    })
}

/// `decode_inconsistent_utf8`: each detected run that is shorter than the text and looks bad is
/// fixed on its own.
fn decode_inconsistent_utf8(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in utf8_detector_matches(text) {
        out.extend(&chars[last..start]);
        let run: String = chars[start..end].iter().collect();
        if end - start < chars.len() && is_bad(&run) {
            out.push_str(&fix_encoding(&run));
        } else {
            out.push_str(&run);
        }
        last = end;
    }
    out.extend(&chars[last..]);
    out
}

/// ftfy's `is_bad`: `BADNESS_RE` (its generated table of alternatives) matches somewhere.
fn is_bad(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let class_matches = |class: &tt::ReClass, c: char| {
        if class.flags & 8 != 0 {
            return c != '\n';
        }
        let m = in_ranges(class.ranges, c)
            || (class.flags & 2 != 0 && py_space(c))
            || (class.flags & 4 != 0 && in_ranges(tt::PY_WORD, c));
        m != (class.flags & 1 != 0)
    };
    (0..chars.len()).any(|i| {
        tt::BADNESS.iter().any(|alt| {
            (!alt.at_start || i == 0)
                && chars.len() - i >= alt.classes.len()
                && alt
                    .classes
                    .iter()
                    .zip(&chars[i..])
                    .all(|(class, &c)| class_matches(class, c))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_unescape_like_python() {
        assert_eq!(html_unescape("a &amp; b"), "a & b");
        assert_eq!(html_unescape("&amp"), "&");
        assert_eq!(html_unescape("&ampx"), "&x");
        assert_eq!(html_unescape("&notit;"), "¬it;");
        assert_eq!(html_unescape("&notin;"), "∉");
        assert_eq!(html_unescape("&#65;&#x42;&#X43"), "ABC");
        assert_eq!(html_unescape("&#x80;&#150;"), "€–");
        assert_eq!(
            html_unescape("&#0;&#xD800;&#99999999999999999999;"),
            "\u{fffd}\u{fffd}\u{fffd}"
        );
        assert_eq!(html_unescape("&#1;&#xFFFF;x"), "x");
        assert_eq!(html_unescape("&#13;"), "\r");
        assert_eq!(html_unescape("&# &#x; &nosuch; & ;"), "&# &#x; &nosuch; & ;");
        assert_eq!(html_unescape("&amp;lt;"), "&lt;");
    }

    #[test]
    fn ftfy_unescape_only_takes_terminated_entities() {
        assert_eq!(ftfy_unescape_html("&lt;tag&gt;"), "<tag>");
        assert_eq!(ftfy_unescape_html("P&EACUTE;REZ"), "PÉREZ");
        assert_eq!(ftfy_unescape_html("BUNDESSTRA&SZLIG;E"), "BUNDESSTRASSE");
        assert_eq!(
            ftfy_unescape_html("&ntilde; &Ntilde; &NTILDE; &nTILDE;"),
            "ñ Ñ Ñ &nTILDE;"
        );
        assert_eq!(ftfy_unescape_html("this&not that &amp"), "this&not that &amp");
        assert_eq!(ftfy_unescape_html("&#x2019;&#59;&#65abc;"), "\u{2019}&#59;&#65abc;");
    }

    #[test]
    fn ftfy_fixers() {
        assert_eq!(fix_text("ＬＯＵＤ　ＮＯＩＳＥＳ"), "LOUD NOISES");
        assert_eq!(fix_text("ﬂuﬃeﬆ"), "fluffiest");
        assert_eq!(fix_text("\u{201c}here\u{2019}s a test\u{201d}"), "\"here's a test\"");
        assert_eq!(fix_text("a\r\nb\rc\u{2028}d"), "a\nb\nc\nd");
        assert_eq!(fix_text("\x1b[36;44mblue\x1b[0m"), "blue");
        assert_eq!(fix_text("a\u{0}b\u{feff}c\u{200d}"), "abc\u{200d}");
        assert_eq!(fix_text("e\u{301}"), "é");
        assert_eq!(
            fix_text("Broken text&hellip; it&#x2019;s ﬂubberiﬁc!"),
            "Broken text… it's flubberific!"
        );
        // The first line with '<' turns HTML unescaping off for the rest.
        assert_eq!(fix_text("&amp;\n<b>&amp;\n&amp;"), "&\n<b>&amp;\n&amp;");
    }

    #[test]
    fn ftfy_mojibake() {
        assert_eq!(fix_text("âœ” No problems"), "✔ No problems");
        assert_eq!(fix_text("sÃ³"), "só");
        assert_eq!(fix_text("voilÃ le travail"), "voilà le travail");
        assert_eq!(fix_text("schÃ¶n"), "schön");
        assert_eq!(fix_text("&macr;\\_(ã\u{83}\u{84})_/&macr;"), "¯\\_(ツ)_/¯");
        assert_eq!(
            fix_text("â€œ like this â€\u{fffd}"),
            "\u{201c} like this \u{fffd}".replace('\u{201c}', "\"")
        );
        assert_eq!(
            fix_text("What is this \u{85} I don't even"),
            "What is this … I don't even"
        );
        // Text that is not mojibake stays.
        assert_eq!(fix_text("café naïve Ñandú"), "café naïve Ñandú");
    }

    #[test]
    fn utf8_variants_codec() {
        assert_eq!(decode_utf8_variants(b"null \xc0\x80!").as_deref(), Some("null \0!"));
        assert_eq!(decode_utf8_variants(b"\xed\xa0\xbd\xed\xb8\x80").as_deref(), Some("😀"));
        assert_eq!(decode_utf8_variants(b"\xed\xa0\xbd"), None);
        assert_eq!(
            decode_utf8_variants(b"caf\xc3\xa9 \xed\x95\x9c").as_deref(),
            Some("café 한")
        );
    }

    #[test]
    fn python_lower_and_space() {
        assert_eq!(py_lower("ΟΔΟΣ ΟΔΟΣ."), "οδος οδος.");
        // U+0027 is case-ignorable: the sigma before it is not final.
        assert_eq!(py_lower("Σ ΑΣ'Α ΑΣ."), "σ ασ'α ας.");
        assert_eq!(py_lower("İSTANBUL ẞ"), "i\u{307}stanbul ß");
        // (ftfy removes U+001C before `split` could see it; U+0085 is mojibake for '…' first.)
        assert_eq!(clean_lower("  A\u{a0}\u{2003}b\u{1c}c  "), "a bc");
        assert_eq!(clean_lower("a\u{2028}b\u{85}c"), "a b…c");
        // U+200B is not whitespace for Python: it stays.
        assert_eq!(clean_lower("a\u{200b}b"), "a\u{200b}b");
    }

    #[test]
    fn pre_tokenizer_like_regex() {
        assert_eq!(
            pre_tokenize("it's a dog's 123 life!!"),
            ["it", "'s", "a", "dog", "'s", "1", "2", "3", "life", "!!"]
        );
        assert_eq!(
            pre_tokenize("<start_of_text>x<end_of_text>"),
            ["<start_of_text>", "x", "<end_of_text>"]
        );
        // IGNORECASE: `'s` and the special tokens also match with U+017F (long s).
        assert_eq!(pre_tokenize("'ſt <ſtart_of_text>"), ["'ſ", "t", "<ſtart_of_text>"]);
        // U+0345 matches no alternative under IGNORECASE: dropped like whitespace.
        assert_eq!(pre_tokenize("a\u{345}b"), ["a", "b"]);
        assert_eq!(pre_tokenize("'x'll"), ["'", "x", "'ll"]);
    }

    #[test]
    fn bytes_to_unicode_is_a_bijection() {
        let t = bytes_to_unicode();
        let mut bytes: Vec<u8> = t.iter().map(|p| p.0).collect();
        let mut chars: Vec<char> = t.iter().map(|p| p.1).collect();
        bytes.sort();
        bytes.dedup();
        chars.sort();
        chars.dedup();
        assert_eq!((bytes.len(), chars.len()), (256, 256));
        assert_eq!(t[0], (b'!', '!'));
        assert!(t.contains(&(b' ', 'Ġ')));
    }

    #[test]
    fn bpe_on_a_tiny_vocabulary() {
        // Header, then merges: "l o", "lo w</w>".
        let text = "#version\nl o\nlo w</w>\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
        let tok = Tokenizer::from_gz(&gz.finish().unwrap()).unwrap();
        // 512 byte symbols, 3 joined merges ("lo", "low</w>", "" from the empty last line), 2 specials.
        assert_eq!(tok.vocab_size(), 512 + 3 + 2);
        assert_eq!((tok.sot(), tok.eot()), (515, 516));
        assert_eq!(tok.encode("low"), vec![513]);
        assert_eq!(tok.encode("lol"), vec![512, u32::from(b'l') - 33 + 256]);
        assert_eq!(tok.tokenize("low low", 3), vec![515, 513, 516]);
        assert_eq!(tok.tokenize("low", 5), vec![515, 513, 516, 0, 0]);
        assert_eq!(tok.tokenize("low", 1), vec![516]);
        assert!(tok.tokenize("low", 0).is_empty());
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(matches!(Tokenizer::from_gz(b"not gzip"), Err(Error::ModelFile { .. })));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, b"\xff\xfe").unwrap();
        assert!(matches!(
            Tokenizer::from_gz(&gz.finish().unwrap()),
            Err(Error::ModelFile { .. })
        ));
    }
}
