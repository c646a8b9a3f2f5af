//! authmedia core (placeholder)
