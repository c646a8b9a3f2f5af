//! authmedia web (placeholder)
