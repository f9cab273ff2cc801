//! The rules engine: classification, risk grading and regulatory pathway of
//! a cell or gene therapy in China, the US, the EU, Japan and the UK, each
//! conclusion with the article it rests on.
//!
//! Rules are data ([`pack`]): versioned JSON packs, one per jurisdiction or
//! local scheme, each rule with its instrument, article, effective dates,
//! status, condition over the profile ([`schema::FIELDS`]) and bilingual
//! explanation. [`Engine::compile`] checks and compiles the packs once;
//! [`Engine::evaluate`] classifies a [`Profile`] as of a day: a rule fires
//! only when it is in force on that day, drafts and rules not yet in force
//! are reported apart as upcoming, and a conclusion whose deciding rule
//! needs an unanswered field names the question instead of guessing.
//! [`lint`] is what `celltrail rules lint` runs.

mod engine;
mod lint;
pub mod pack;
pub mod schema;

pub use engine::{ConcValue, Engine, Outcome, Profile, ProfileError, Report, Rule, Upcoming};
pub use lint::lint;
pub use pack::{builtin_sources, PackProblem, PackSource, Status};
