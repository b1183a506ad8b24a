//! Small pure checks, each tested on its own.

pub mod pkce;
pub mod redirect;
pub mod scopes;
