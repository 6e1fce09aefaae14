//! The crate's one error type. Every fallible public function returns [`Result`]; the wasm seam
//! converts it to a `JsError` exactly once.

use std::path::PathBuf;

/// Everything that can go wrong between input bytes and a label mask.
///
/// Messages name the offending value and what was expected, so a CLI user or a page can show them
/// as they are.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter outside its domain, e.g. `tau must be in (0, 2], got 3`.
    #[error("{name} must be {expected}, got {got}")]
    InvalidParameter {
        name: &'static str,
        expected: &'static str,
        got: String,
    },

    /// A name that is not one of an enum's ([`crate::choice::Choice`]).
    #[error("{parameter} must be one of {choices}, got {got:?}")]
    UnknownChoice {
        parameter: &'static str,
        choices: String,
        got: String,
    },

    /// A numerical solver that did not converge (a dense eigendecomposition or SVD).
    #[error("numerical solver failed: {0}")]
    Solver(String),

    /// A helper worker that did not answer (its share of the work is then done by the caller).
    #[error("the helper worker failed: {0}")]
    Helper(String),

    /// Features that cannot be segmented: wrong shape, non-finite values, ...
    #[error("invalid features: {0}")]
    InvalidFeatures(String),

    /// A `.npy` file that is not the array we need (bad magic, dtype, rank, truncated data).
    #[error("invalid .npy file: {0}")]
    Npy(String),

    /// An image that cannot be decoded (corrupt, unsupported, empty).
    #[error("cannot decode image: {0}")]
    ImageDecode(String),

    /// An image whose dimensions exceed what we are willing to allocate.
    #[error("image is {width}×{height} pixels; the limit is {max_pixels} pixels ({reason})")]
    ImageTooLarge {
        width: u64,
        height: u64,
        max_pixels: u64,
        reason: &'static str,
    },

    /// Work beyond a documented limit, refused before anything proportional to it is allocated:
    /// e.g. a feature grid with more cells than the CPU's dense N×N affinity may hold.
    #[error("{what} is {got}; the limit is {limit} ({reason})")]
    TooLarge {
        what: &'static str,
        got: u64,
        limit: u64,
        reason: &'static str,
    },

    /// An image could not be encoded (e.g. writing a PNG).
    #[error("cannot encode image: {0}")]
    ImageEncode(String),

    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The GPU path failed: no adapter, a lost device, a validation error.
    #[error("GPU: {0}")]
    Gpu(String),

    /// A problem too large for the GPU's limits (e.g. the N×N affinity beyond one storage binding).
    #[error("{what} needs {needed} bytes but this GPU allows {limit} per buffer; use a smaller grid or --device cpu")]
    GpuLimit {
        what: &'static str,
        needed: u64,
        limit: u64,
    },

    /// A serialised segment tree that does not parse or is inconsistent.
    #[error("invalid segment tree: {0}")]
    Tree(String),

    /// Evaluation inputs that do not fit together: a ground-truth file without a prediction (or
    /// the reverse), sizes that differ, a ground-truth value that is neither a class nor the
    /// ignore value, an empty directory. The message starts with the offending file or directory.
    #[error("mIoU evaluation: {0}")]
    Eval(String),

    /// A converted model folder that cannot be used: a manifest or config that does not parse, an
    /// unsupported kind or topology, a size without folded constants.
    #[error("model: {0}")]
    Model(String),

    /// A tensor of a model's weights that is missing, mis-shaped, of the wrong dtype, or not used
    /// by the config. Names the key and both shapes.
    #[error("model tensor {key}: expected {expected}, found {found}")]
    ModelTensor {
        key: String,
        expected: String,
        found: String,
    },

    /// A model file whose bytes do not match its manifest (truncated, corrupted, not safetensors).
    #[error("model file {file}: {reason}")]
    ModelFile { file: String, reason: String },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Helper for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
