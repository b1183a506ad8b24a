//! Store implementations on Workers bindings.

pub mod d1;
