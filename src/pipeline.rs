//! The end-to-end pipeline. (Stub: being written.)
