//! `celltrail rules lint`: everything [`Engine::compile`] refuses, and rules
//! that contradict each other.

use super::engine::{cond_refs, holds, Engine, Profile, Rule};
use super::pack::{PackProblem, PackSource, Status};
use super::schema::{Kind, CONCLUSIONS, FIELDS};

/// How many values a field or conclusion of this kind can take.
fn domain(kind: Kind) -> u64 {
    match kind {
        Kind::Enum(values) => values.len() as u64,
        _ => 2,
    }
}

/// At most this many combinations of answers are tried per pair of rules.
const MAX_COMBINATIONS: u64 = 1 << 20;

/// Checks packs: parse and shape errors, unknown fields, conclusions and
/// values, missing citations and translations (all with file and line),
/// and pairs of rules in force at the same time, at the same priority,
/// that draw different values of one conclusion for some profile.
pub fn lint(sources: &[PackSource]) -> Vec<PackProblem> {
    let engine = match Engine::compile(sources) {
        Ok(engine) => engine,
        Err(problems) => return problems,
    };
    let mut problems = Vec::new();
    let rules = engine.rules();
    for (i, a) in rules.iter().enumerate() {
        for b in rules.iter().skip(i + 1) {
            if a.status != Status::InForce
                || b.status != Status::InForce
                || a.priority != b.priority
            {
                continue;
            }
            // A regional pack replaces, never joins, the national rules for a
            // conclusion: only rules of one pack are weighed together.
            if !dates_overlap(a, b) || a.pack != b.pack {
                continue;
            }
            for (ka, va) in a.draws() {
                let Some((_, vb)) = b.draws().iter().find(|(kb, _)| kb == ka) else {
                    continue;
                };
                if va == vb {
                    continue;
                }
                if let Some(example) = both_hold(a, b) {
                    let key = &CONCLUSIONS[*ka as usize];
                    let quoted = format!("\"{}\"", a.id);
                    let src = sources.iter().find(|s| s.text.contains(&quoted));
                    let (file, line) = src.map_or((String::new(), 0), |s| {
                        (s.file.clone(), s.line_of_rule(&a.id))
                    });
                    problems.push(PackProblem {
                        file,
                        line,
                        code: "rules_contradict",
                        message: format!(
                            "rules {} and {} (same priority {}, both in force) draw different {}.{} for a profile such as {}",
                            a.id, b.id, a.priority, key.jurisdiction, key.name, example
                        ),
                    });
                }
            }
        }
    }
    problems
}

fn dates_overlap(a: &Rule, b: &Rule) -> bool {
    let a_end = a.effective_to.unwrap_or(chrono::NaiveDate::MAX);
    let b_end = b.effective_to.unwrap_or(chrono::NaiveDate::MAX);
    a.effective_from <= b_end && b.effective_from <= a_end
}

/// A profile (as text) under which both conditions may hold, if any:
/// every combination of the fields and earlier conclusions they test.
fn both_hold(a: &Rule, b: &Rule) -> Option<String> {
    let (mut fields, mut conclusions) = (Vec::new(), Vec::new());
    cond_refs(a, &mut fields, &mut conclusions);
    cond_refs(b, &mut fields, &mut conclusions);
    fields.sort_unstable();
    fields.dedup();
    conclusions.sort_unstable();
    conclusions.dedup();
    let sizes: Vec<u64> = fields
        .iter()
        .map(|f| domain(FIELDS[*f as usize].kind))
        .chain(
            conclusions
                .iter()
                .map(|k| domain(CONCLUSIONS[*k as usize].kind)),
        )
        .collect();
    let total = sizes.iter().product::<u64>();
    if total > MAX_COMBINATIONS {
        return None;
    }
    for mut n in 0..total {
        let mut p = Profile::empty();
        let mut drawn = Vec::with_capacity(conclusions.len());
        for (i, size) in sizes.iter().enumerate() {
            let slot = (n % size) as u8;
            n /= size;
            match fields.get(i) {
                Some(f) => p.set_slot(*f as usize, slot),
                None => drawn.push((conclusions[i - fields.len()], slot)),
            }
        }
        if holds(a, &p, &drawn) && holds(b, &p, &drawn) {
            let shown: Vec<String> = fields
                .iter()
                .map(|f| {
                    format!(
                        "{}={}",
                        FIELDS[*f as usize].name,
                        p.get(*f as usize).unwrap_or_default()
                    )
                })
                .chain(drawn.iter().map(|(k, slot)| {
                    let key = &CONCLUSIONS[*k as usize];
                    let value = match key.kind {
                        Kind::Enum(values) => values[*slot as usize].to_string(),
                        _ => (*slot == 1).to_string(),
                    };
                    format!("{}={value}", key.name)
                }))
                .collect();
            return Some(format!("{{{}}}", shown.join(", ")));
        }
    }
    None
}
