//! Refinement. (Stub: being written.)
