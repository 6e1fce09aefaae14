//! A small seeded fuzz driver for the parsers of outside bytes (tests/fuzz.rs).
//!
//! - [`Rng`]: SplitMix64, so every run with the same `FUZZ_SEED` tries the same inputs.
//! - [`mutate_bytes`]: byte-level mutators (bit flips, interesting values, insert / delete /
//!   duplicate ranges, truncation, splicing two seeds, huge little- and big-endian length fields).
//! - [`run`]: feeds `iters` inputs to a property under `catch_unwind`, with a watchdog that stops
//!   the process on an input that runs longer than its time limit and a counting global allocator
//!   that stops it on an allocation beyond [`MAX_SINGLE_ALLOC`] or live memory beyond
//!   [`MAX_LIVE_BYTES`]. Every failing input is written to `<target dir>/tmp/fuzz-crashes/<target>-<hash>.bin`
//!   and its path printed; `FUZZ_REPLAY=<that file>` runs just that input again.
//!
//! Environment: `FUZZ_ITERS` (inputs per cheap target), `FUZZ_MODEL_ITERS` (model folders),
//! `FUZZ_CLI_ITERS` (CLI runs), `FUZZ_SEED`, `FUZZ_TIMEOUT_S` (per input, default 10).
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// --- deterministic randomness ---------------------------------------------------------------

/// SplitMix64.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0);
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A float that is often special: NaN, ±inf, ±0, huge, tiny, or ordinary.
    pub fn wild_f64(&mut self) -> f64 {
        let ordinary = self.unit() * 4.0 - 2.0;
        *self.pick(&[
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            1e308,
            -1e308,
            1e-320,
            2.0,
            -1.0,
            0.5,
            ordinary,
        ])
    }

    /// An integer that is often at a boundary.
    pub fn wild_u64(&mut self) -> u64 {
        let ordinary = self.next_u64() % 1000;
        *self.pick(&[
            0,
            1,
            2,
            255,
            256,
            65_535,
            65_536,
            16_384,
            16_385,
            1 << 31,
            u32::MAX as u64,
            1 << 32,
            1 << 53,
            u64::MAX,
            ordinary,
        ])
    }
}

/// The seed of this run: `FUZZ_SEED`, else a fixed one.
pub fn base_seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00d1_ffc0_7000_0001)
}

/// Inputs to try: the environment variable `var`, else `default`.
pub fn iters(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Inputs per cheap target: `FUZZ_ITERS`, else `default`.
pub fn cheap_iters(default: usize) -> usize {
    iters("FUZZ_ITERS", default)
}

// --- byte mutators --------------------------------------------------------------------------

const INTERESTING: [u8; 8] = [0, 1, 0x7f, 0x80, 0xff, 0xfe, b'0', b'9'];

/// One to four random byte-level mutations of `data` (`others` are the seeds to splice with).
pub fn mutate_bytes(rng: &mut Rng, data: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut v = data.to_vec();
    for _ in 0..rng.range(1, 4) {
        mutate_once(rng, &mut v, others);
    }
    v
}

fn mutate_once(rng: &mut Rng, v: &mut Vec<u8>, others: &[Vec<u8>]) {
    if v.is_empty() {
        v.push(rng.next_u64() as u8);
        return;
    }
    let len = v.len();
    match rng.below(11) {
        0 => {
            let i = rng.below(len);
            v[i] ^= 1 << rng.below(8);
        }
        1 => {
            let i = rng.below(len);
            v[i] = *rng.pick(&INTERESTING);
        }
        2 => {
            let i = rng.below(len);
            v[i] = rng.next_u64() as u8;
        }
        3 => {
            // Insert random bytes.
            let i = rng.below(len + 1);
            let n = rng.range(1, 16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            v.splice(i..i, bytes);
        }
        4 => {
            // Delete a range.
            let i = rng.below(len);
            let n = rng.range(1, (len - i).min(64));
            v.drain(i..i + n);
        }
        5 => {
            // Duplicate a range.
            let i = rng.below(len);
            let n = rng.range(1, (len - i).min(64));
            let chunk = v[i..i + n].to_vec();
            let at = rng.below(len + 1);
            v.splice(at..at, chunk);
        }
        6 => {
            // Truncate.
            let keep = rng.below(len);
            v.truncate(keep);
        }
        7 => {
            // Splice: our head, another seed's tail.
            if let Some(other) = (!others.is_empty()).then(|| rng.pick(others)) {
                if !other.is_empty() {
                    let a = rng.below(len + 1);
                    let b = rng.below(other.len());
                    v.truncate(a);
                    v.extend_from_slice(&other[b..]);
                }
            }
        }
        8 | 9 => {
            // A huge or boundary length field, 2, 4 or 8 bytes, either endianness.
            let width = *rng.pick(&[2usize, 4, 8]);
            if len >= width {
                let i = rng.below(len - width + 1);
                let value = rng.wild_u64();
                let bytes = if rng.one_in(2) {
                    value.to_le_bytes()
                } else {
                    value.to_be_bytes()
                };
                let src = if rng.one_in(2) {
                    &bytes[..width]
                } else {
                    &bytes[8 - width..]
                };
                v[i..i + width].copy_from_slice(src);
            }
        }
        _ => {
            // Overwrite a run with one byte.
            let i = rng.below(len);
            let n = rng.range(1, (len - i).min(32));
            let b = *rng.pick(&INTERESTING);
            v[i..i + n].iter_mut().for_each(|x| *x = b);
        }
    }
}

/// Replaces a random ASCII number in `text` by a boundary value (for JSON and `.npy` headers).
pub fn mutate_number_in_text(rng: &mut Rng, text: &str) -> String {
    let bytes = text.as_bytes();
    let starts: Vec<usize> = (0..bytes.len())
        .filter(|&i| bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()))
        .collect();
    if starts.is_empty() {
        return text.to_string();
    }
    let s = *rng.pick(&starts);
    let e = (s..bytes.len())
        .find(|&i| !bytes[i].is_ascii_digit())
        .unwrap_or(bytes.len());
    let replacement = match rng.below(4) {
        0 => "-1".to_string(),
        1 => "1e400".to_string(),
        2 => "18446744073709551616".to_string(),
        _ => rng.wild_u64().to_string(),
    };
    format!("{}{}{}", &text[..s], replacement, &text[e..])
}

// --- PNG chunks ----------------------------------------------------------------------------

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Recomputes the CRC of every whole chunk of a PNG, so that a mutation inside a chunk reaches the
/// decoder's parsing rather than its checksum test.
pub fn fix_png_crcs(png: &mut [u8]) {
    let mut at = 8;
    while at + 12 <= png.len() {
        let len = u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|&e| e + 4 <= png.len()) else {
            return;
        };
        let crc = crc32(&png[at + 4..end]);
        png[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
}

// --- the counting allocator -----------------------------------------------------------------

/// No single allocation may be larger than this (1 GiB).
pub const MAX_SINGLE_ALLOC: usize = 1 << 30;
/// Live heap of the whole test process may not pass this (3 GiB).
pub const MAX_LIVE_BYTES: usize = 3 << 30;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
static OVER_BUDGET: AtomicBool = AtomicBool::new(false);

/// The system allocator, counting live bytes, the peak and the largest single request; a request
/// beyond the budget stops the process with the current input as a reproducer.
pub struct CountingAlloc;

impl CountingAlloc {
    /// Counts `grow` more live bytes for a request of `size` bytes.
    fn admit(grow: usize, size: usize) {
        let live = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
        PEAK.fetch_max(live, Ordering::Relaxed);
        LARGEST.fetch_max(size, Ordering::Relaxed);
        if (size > MAX_SINGLE_ALLOC || live > MAX_LIVE_BYTES) && !OVER_BUDGET.swap(true, Ordering::SeqCst) {
            // Reporting allocates (a little): OVER_BUDGET keeps it from coming back here.
            stop_with_reproducer(&format!(
                "memory budget exceeded: a request of {size} bytes with {live} bytes live (limits {MAX_SINGLE_ALLOC} per allocation, {MAX_LIVE_BYTES} live)"
            ));
        }
    }
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::admit(layout.size(), layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::admit(layout.size(), layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            Self::admit(new_size - layout.size(), new_size);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

/// Peak live bytes and the largest single allocation since the last call, then resets them.
pub fn take_memory_marks() -> (usize, usize) {
    let live = LIVE.load(Ordering::Relaxed);
    (PEAK.swap(live, Ordering::Relaxed), LARGEST.swap(0, Ordering::Relaxed))
}

// --- the current input, the watchdog and reproducers ----------------------------------------

struct Current {
    target: &'static str,
    input: Vec<u8>,
}

static CURRENT: Mutex<Option<Current>> = Mutex::new(None);
/// Milliseconds since the epoch when the current input started (0: none running).
static STARTED_MS: AtomicU64 = AtomicU64::new(0);
/// Time limit of the current input, ms.
static LIMIT_MS: AtomicU64 = AtomicU64::new(10_000);
static WATCHDOG: Once = Once::new();
/// One target at a time: the allocator's marks and the watchdog are process-wide.
static SERIAL: Mutex<()> = Mutex::new(());

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The per-input time limit: `FUZZ_TIMEOUT_S` seconds (default 10) times `factor`.
pub fn time_limit(factor: u64) -> Duration {
    Duration::from_secs(iters("FUZZ_TIMEOUT_S", 10) as u64 * factor)
}

/// Folder of reproducers: `<target dir>/tmp/fuzz-crashes`.
pub fn crash_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashes")
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Writes `input` as the reproducer of a failure of `target`; returns its path.
pub fn write_reproducer(target: &str, input: &[u8]) -> PathBuf {
    let dir = crash_dir();
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{target}-{:016x}.bin", fnv1a(input)));
    if let Err(e) = std::fs::write(&path, input) {
        eprintln!("could not write the reproducer {}: {e}", path.display());
    }
    path
}

/// Saves the running input (if any) as a reproducer and ends the process with status 1: for a
/// hang or a runaway allocation, which cannot be unwound.
fn stop_with_reproducer(why: &str) -> ! {
    let saved = match CURRENT.try_lock() {
        Ok(guard) => guard.as_ref().map(|c| (c.target, write_reproducer(c.target, &c.input))),
        Err(_) => None,
    };
    match saved {
        Some((target, path)) => eprintln!(
            "fuzz {target}: {why}\nreproducer: {} (FUZZ_REPLAY={} cargo test --release --test fuzz)",
            path.display(),
            path.display()
        ),
        None => eprintln!("fuzz: {why} (no input was running)"),
    }
    std::process::exit(1)
}

fn start_watchdog() {
    WATCHDOG.call_once(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_millis(100));
            let started = STARTED_MS.load(Ordering::SeqCst);
            let limit = LIMIT_MS.load(Ordering::SeqCst);
            if started != 0 && now_ms().saturating_sub(started) > limit {
                stop_with_reproducer(&format!("an input ran for more than {} s (a hang?)", limit / 1000));
            }
        });
    });
}

/// Holds the process-wide fuzz lock (targets run one at a time).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The outcome of one input.
pub enum Verdict {
    /// The property held (an `Err` from the code under test is a pass when it says what is wrong).
    Pass,
    /// The property held and the input went all the way through (parsed, segmented, labelled...).
    Deep,
}

/// Reproducers written per target and run; further failures are only counted.
const MAX_REPRODUCERS: usize = 20;

/// What a run of one target saw.
#[derive(Default, Debug)]
pub struct Report {
    pub inputs: usize,
    /// Inputs that failed.
    pub failed: usize,
    /// The first [`MAX_REPRODUCERS`] of them: reproducer and message.
    pub failures: Vec<(PathBuf, String)>,
    /// Inputs that went all the way through.
    pub deep: usize,
    pub elapsed: Duration,
    /// Peak live heap of the process during the run and its largest single allocation, bytes.
    pub peak_bytes: usize,
    pub largest_alloc: usize,
}

impl Report {
    /// Prints the counts line and fails the test when any input failed.
    pub fn assert_clean(&self, target: &str) {
        eprintln!(
            "fuzz {target}: {} inputs, {} failures in {:.1} s ({} went all the way through; peak heap {} MiB, largest allocation {} MiB)",
            self.inputs,
            self.failed,
            self.elapsed.as_secs_f64(),
            self.deep,
            self.peak_bytes >> 20,
            self.largest_alloc >> 20
        );
        if self.failed > 0 {
            let list: Vec<String> = self
                .failures
                .iter()
                .take(10)
                .map(|(p, m)| format!("  {}: {m}", p.display()))
                .collect();
            panic!(
                "fuzz {target}: {} of {} inputs failed; first reproducers:\n{}",
                self.failed,
                self.inputs,
                list.join("\n")
            );
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".into())
}

/// Runs `check` on `iters` inputs made by `generate` (or only on `FUZZ_REPLAY`'s file when it
/// names a reproducer of `target`). Each input runs under `catch_unwind` and the watchdog (limit
/// `limit`); an `Err(message)` or a panic is a failure with a reproducer.
pub fn run(
    target: &'static str,
    iters: usize,
    limit: Duration,
    mut generate: impl FnMut(&mut Rng, usize) -> Vec<u8>,
    check: impl Fn(&[u8]) -> Result<Verdict, String>,
) -> Report {
    let _serial = serial();
    start_watchdog();
    LIMIT_MS.store(limit.as_millis() as u64, Ordering::SeqCst);
    let replay = std::env::var("FUZZ_REPLAY").ok().filter(|p| {
        Path::new(p)
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&format!("{target}-")))
    });
    if std::env::var_os("FUZZ_REPLAY").is_some() && replay.is_none() {
        eprintln!("fuzz {target}: FUZZ_REPLAY names another target; nothing run");
        return Report::default();
    }
    let mut rng = Rng::new(base_seed() ^ fnv1a(target.as_bytes()));
    let mut report = Report::default();
    let _ = take_memory_marks();
    let t0 = Instant::now();
    let total = if replay.is_some() { 1 } else { iters };
    for i in 0..total {
        let input = match &replay {
            Some(p) => std::fs::read(p).expect("read the reproducer"),
            None => generate(&mut rng, i),
        };
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some(Current {
            target,
            input: input.clone(),
        });
        STARTED_MS.store(now_ms(), Ordering::SeqCst);
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&input)));
        STARTED_MS.store(0, Ordering::SeqCst);
        report.inputs += 1;
        let failure = match outcome {
            Ok(Ok(Verdict::Pass)) => None,
            Ok(Ok(Verdict::Deep)) => {
                report.deep += 1;
                None
            }
            Ok(Err(m)) => Some(m),
            Err(p) => Some(format!("panicked: {}", panic_message(&*p))),
        };
        if let Some(m) = failure {
            report.failed += 1;
            if report.failures.len() < MAX_REPRODUCERS {
                let path = write_reproducer(target, &input);
                eprintln!("fuzz {target}: input {i} failed: {m}\nreproducer: {}", path.display());
                report.failures.push((path, m));
            }
        }
    }
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = None;
    report.elapsed = t0.elapsed();
    (report.peak_bytes, report.largest_alloc) = take_memory_marks();
    report
}

// --- a folder of named files as one reproducer ----------------------------------------------

/// `(name, bytes)` pairs as one byte string: per file, u32 name length, name, u64 data length, data.
pub fn pack(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in files {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

/// The inverse of [`pack`].
pub fn unpack(mut bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    while !bytes.is_empty() {
        let n = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let name = String::from_utf8(bytes.get(4..4 + n)?.to_vec()).ok()?;
        bytes = &bytes[4 + n..];
        let len = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
        let data = bytes.get(8..8usize.checked_add(len)?)?.to_vec();
        bytes = &bytes[8 + len..];
        files.push((name, data));
    }
    Some(files)
}
