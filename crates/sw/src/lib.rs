//! authmedia sw (placeholder)
