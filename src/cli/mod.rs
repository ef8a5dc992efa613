//! The command-line edge.
