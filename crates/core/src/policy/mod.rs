//! Small pure checks, each tested on its own.

pub mod redirect;
