//! Intent parsing: free chat text in, a typed [`Intent`](crate::domain::Intent) out.
//!
//! `rules` owns the deterministic parser (no LLM, no IO): it reads clouds,
//! regions, service words, identifiers and requirements straight from the text and
//! reports what it could not find in `Intent::missing`. `resolve` then matches each
//! end against the estate, fills what the estate knows, and turns anything it
//! cannot settle on its own into questions for the requester. `reading`
//! checks a language model's reading of the same text (strict JSON, values
//! the estate knows) and lists where it differs from the rules, for the
//! requester to settle.
//!
//! Invariants: parsing never panics and never reads past `MAX_REQUEST_BYTES`;
//! regions in an intent are always canonical; `missing` is recomputed after every
//! step that can change an endpoint, sorted and without duplicates.

pub mod reading;
mod resolve;
mod rules;

pub use resolve::{resolve, Resolution};
pub use rules::{parse_request, ParseError, Side, MAX_REQUEST_BYTES};
