//! Weight-free patch features. (Stub: being written.)
