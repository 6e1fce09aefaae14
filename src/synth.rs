//! Synthetic inputs. (Stub: being written.)
