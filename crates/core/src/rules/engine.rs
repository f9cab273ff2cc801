//! Packs compiled once into flat rules over profile slots, and the
//! evaluator: three-valued (a missing answer is "unknown", never a guess).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

use super::pack::{PackProblem, PackSource, PackSpec, RuleSpec, Status, Text};
use super::schema::{conclusion_index, field_index, Kind, CONCLUSIONS, FIELDS, JURISDICTIONS};

/// A parsed profile: one slot per field of [`FIELDS`]; `MISSING` when the
/// profile does not say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    slots: [u8; FIELDS.len()],
}

const MISSING: u8 = u8::MAX;

/// Why a profile was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ProfileError {
    /// `profile_invalid`, `profile_field_unknown` or `profile_value_invalid`.
    pub code: &'static str,
    pub field: String,
    pub message: String,
}

impl Profile {
    /// Reads a profile object. Unknown fields and values outside a field's
    /// set are refused with the field named; absent fields stay unknown.
    pub fn from_json(v: &Value) -> Result<Profile, ProfileError> {
        let Some(obj) = v.as_object() else {
            return Err(ProfileError {
                code: "profile_invalid",
                field: String::new(),
                message: "a profile is a JSON object".into(),
            });
        };
        let mut slots = [MISSING; FIELDS.len()];
        for (name, value) in obj {
            let Some(i) = field_index(name) else {
                return Err(ProfileError {
                    code: "profile_field_unknown",
                    field: name.clone(),
                    message: "not a profile field".into(),
                });
            };
            if value.is_null() {
                continue;
            }
            slots[i] = value_slot(FIELDS[i].kind, value).ok_or_else(|| ProfileError {
                code: "profile_value_invalid",
                field: name.clone(),
                message: match FIELDS[i].kind {
                    Kind::Enum(values) => format!("must be one of {}", values.join(", ")),
                    _ => "must be true or false".into(),
                },
            })?;
        }
        Ok(Profile { slots })
    }

    /// The value of a field as written in a profile, if answered.
    pub fn get(&self, field: usize) -> Option<Value> {
        let slot = self.slots[field];
        if slot == MISSING {
            return None;
        }
        Some(match FIELDS[field].kind {
            Kind::Enum(values) => Value::from(values[slot as usize]),
            _ => Value::from(slot == 1),
        })
    }
}

/// The slot of a profile value, or of an enum/bool conclusion value.
fn value_slot(kind: Kind, v: &Value) -> Option<u8> {
    match kind {
        Kind::Enum(values) => values
            .iter()
            .position(|x| Some(*x) == v.as_str())
            .map(|i| i as u8),
        Kind::Bool => v.as_bool().map(u8::from),
        _ => None,
    }
}

/// A conclusion's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConcValue {
    /// An enum (its index) or a bool (0 or 1).
    Slot(u8),
    Int(i64),
    /// A set of codes, as a bit mask over the key's codes.
    Codes(u32),
}

#[derive(Clone, Debug)]
enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    /// The field's slot is one of the mask's bits.
    Field {
        field: u8,
        mask: u32,
    },
    /// An earlier conclusion's slot is one of the mask's bits.
    Conclusion {
        key: u16,
        mask: u32,
    },
}

/// Three-valued truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Truth {
    True,
    False,
    Unknown,
}

/// What is known of a conclusion while a report is drawn.
#[derive(Clone, Debug)]
enum Drawn {
    /// Not reached yet, or no rule in force decides it: a condition looking
    /// at it is false (there is nothing to look at).
    No,
    /// Its deciding rule needs these answers: a condition looking at it is
    /// unknown, and needs the same answers.
    Needs(Vec<u8>),
    /// Decided: the value slot (enum or bool) and the deciding rule.
    Value(u8, u32),
}

/// A compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub instrument: String,
    pub article: String,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub status: Status,
    pub priority: i32,
    pub explain: Text,
    pub pack: String,
    cond: Cond,
    then: Vec<(u16, ConcValue)>,
}

impl Rule {
    /// In force on `day`: status in force and `day` within its dates.
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        self.status == Status::InForce
            && self.effective_from <= day
            && self.effective_to.is_none_or(|to| day <= to)
    }

    /// Not law on `day` but may become it: a draft, or in force later.
    fn upcoming_on(&self, day: NaiveDate) -> bool {
        self.status == Status::Draft
            || (self.status == Status::InForce && self.effective_from > day)
    }
}

/// The rules drawing each conclusion, for one jurisdiction and region.
#[derive(Clone, Debug, Default)]
struct Plan {
    /// Per conclusion key of the jurisdiction, in evaluation order: rule
    /// indices, highest priority first.
    keys: Vec<(u16, Vec<u32>)>,
}

/// Packs compiled for evaluation.
#[derive(Clone, Debug)]
pub struct Engine {
    rules: Vec<Rule>,
    /// (jurisdiction, region) → plan; region "" is the national pack.
    plans: HashMap<(String, String), Plan>,
    /// Instrument titles by id.
    pub instruments: HashMap<String, Text>,
    /// (pack name, version) of every pack loaded.
    pub packs: Vec<(String, String)>,
}

/// How one conclusion came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Decided by `rule`; `basis` lists the deciding rule first, then the
    /// rules behind the conclusions its condition looked at.
    Value { value: ConcValue, basis: Vec<u32> },
    /// The deciding rule cannot be told without these profile fields.
    Needs(Vec<u8>),
    /// No rule in force draws this conclusion for this profile.
    None,
}

/// The conclusions for one jurisdiction.
#[derive(Clone, Debug)]
pub struct JurisdictionReport {
    pub jurisdiction: &'static str,
    /// (conclusion key index, outcome), in evaluation order.
    pub outcomes: Vec<(u16, Outcome)>,
}

/// A rule not yet law that would fire for the profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upcoming {
    pub rule: u32,
    pub key: u16,
    pub value: ConcValue,
}

/// A whole report.
#[derive(Clone, Debug)]
pub struct Report {
    pub as_of: NaiveDate,
    pub results: Vec<JurisdictionReport>,
    pub upcoming: Vec<Upcoming>,
}

impl Engine {
    /// Parses and compiles packs; any problem refuses the whole set.
    pub fn compile(sources: &[PackSource]) -> Result<Engine, Vec<PackProblem>> {
        let mut problems = Vec::new();
        let mut engine = Engine {
            rules: Vec::new(),
            plans: HashMap::new(),
            instruments: HashMap::new(),
            packs: Vec::new(),
        };
        let mut specs = Vec::new();
        for src in sources {
            match src.parse() {
                Ok(spec) => specs.push((src, spec)),
                Err(p) => problems.push(p),
            }
        }
        for (_, spec) in &specs {
            for inst in &spec.instruments {
                engine
                    .instruments
                    .insert(inst.id.clone(), inst.title.clone());
            }
        }
        // (jurisdiction, region) → rule indices of that pack
        let mut by_pack: HashMap<(String, String), Vec<u32>> = HashMap::new();
        let mut seen_ids: HashMap<String, String> = HashMap::new();
        for (src, spec) in &specs {
            engine.packs.push((spec.pack.clone(), spec.version.clone()));
            if !JURISDICTIONS.contains(&spec.jurisdiction.as_str()) {
                problems.push(src.problem(
                    1,
                    "pack_jurisdiction_unknown",
                    format!(
                        "jurisdiction {:?} is not one of {}",
                        spec.jurisdiction,
                        JURISDICTIONS.join(", ")
                    ),
                ));
                continue;
            }
            if spec.title.zh.trim().is_empty() || spec.title.en.trim().is_empty() {
                problems.push(src.problem(
                    1,
                    "pack_translation_missing",
                    "the pack title needs zh and en".into(),
                ));
            }
            let region = spec.region.clone().unwrap_or_default();
            let slot = by_pack
                .entry((spec.jurisdiction.clone(), region))
                .or_default();
            for r in &spec.rules {
                let line = src.line_of_rule(&r.id);
                if let Some(other) = seen_ids.insert(r.id.clone(), src.file.clone()) {
                    problems.push(src.problem(
                        line,
                        "rule_id_duplicate",
                        format!("rule {} is also defined in {other}", r.id),
                    ));
                    continue;
                }
                match compile_rule(spec, r, &engine) {
                    Ok(rule) => {
                        slot.push(engine.rules.len() as u32);
                        engine.rules.push(rule);
                    }
                    Err((code, message)) => {
                        problems.push(src.problem(line, code, format!("rule {}: {message}", r.id)))
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        // Plans: the national pack, and per region the national pack with
        // the region's rules replacing it for every conclusion they draw.
        let national: HashMap<String, Vec<u32>> = by_pack
            .iter()
            .filter(|((_, region), _)| region.is_empty())
            .map(|((j, _), rules)| (j.clone(), rules.clone()))
            .collect();
        for ((jurisdiction, region), rules) in &by_pack {
            let base = national.get(jurisdiction).cloned().unwrap_or_default();
            let plan = engine.plan(
                jurisdiction,
                &base,
                if region.is_empty() { &[] } else { rules },
            );
            engine
                .plans
                .insert((jurisdiction.clone(), region.clone()), plan);
        }
        Ok(engine)
    }

    fn plan(&self, jurisdiction: &str, base: &[u32], overlay: &[u32]) -> Plan {
        let mut keys = Vec::new();
        for (k, key) in CONCLUSIONS.iter().enumerate() {
            if key.jurisdiction != jurisdiction {
                continue;
            }
            let draws = |i: &&u32| {
                self.rules[**i as usize]
                    .then
                    .iter()
                    .any(|(c, _)| *c as usize == k)
            };
            let from_overlay: Vec<u32> = overlay.iter().filter(draws).copied().collect();
            let mut rules = if from_overlay.is_empty() {
                base.iter().filter(draws).copied().collect()
            } else {
                from_overlay
            };
            // Highest priority first; in a tie, the order of the pack.
            rules.sort_by_key(|i| -self.rules[*i as usize].priority);
            keys.push((k as u16, rules));
        }
        Plan { keys }
    }

    /// Every compiled rule.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The regions that have packs of their own, per jurisdiction.
    pub fn regions(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .plans
            .keys()
            .filter(|(_, r)| !r.is_empty())
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Classifies a profile as of a day, under the national packs or, where
    /// `region` has a pack of its own, under that region's.
    pub fn evaluate(&self, profile: &Profile, as_of: NaiveDate, region: Option<&str>) -> Report {
        let mut results = Vec::with_capacity(JURISDICTIONS.len());
        let mut upcoming = Vec::new();
        // Conclusions drawn so far: value slot per key (for conditions that
        // look at them) and the rules behind them.
        let mut drawn: Vec<Drawn> = vec![Drawn::No; CONCLUSIONS.len()];
        for jurisdiction in JURISDICTIONS {
            let plan = region
                .and_then(|r| self.plans.get(&(jurisdiction.to_string(), r.to_string())))
                .or_else(|| self.plans.get(&(jurisdiction.to_string(), String::new())));
            let Some(plan) = plan else { continue };
            let mut outcomes = Vec::with_capacity(plan.keys.len());
            for (key, rules) in &plan.keys {
                let mut outcome = Outcome::None;
                for &ri in rules {
                    let rule = &self.rules[ri as usize];
                    if !rule.in_force_on(as_of) {
                        continue;
                    }
                    match eval(&rule.cond, profile, &drawn) {
                        Truth::True => {
                            let value = rule
                                .then
                                .iter()
                                .find(|(k, _)| k == key)
                                .map(|(_, v)| v.clone())
                                .expect("planned for this key");
                            let mut basis = vec![ri];
                            referenced(&rule.cond, &drawn, &mut basis);
                            if let ConcValue::Slot(s) = value {
                                drawn[*key as usize] = Drawn::Value(s, ri);
                            }
                            outcome = Outcome::Value { value, basis };
                            break;
                        }
                        Truth::Unknown => {
                            let mut fields = Vec::new();
                            unknown_fields(&rule.cond, profile, &drawn, &mut fields);
                            fields.sort_unstable();
                            fields.dedup();
                            drawn[*key as usize] = Drawn::Needs(fields.clone());
                            outcome = Outcome::Needs(fields);
                            break;
                        }
                        Truth::False => {}
                    }
                }
                for &ri in rules {
                    let rule = &self.rules[ri as usize];
                    if rule.upcoming_on(as_of) && eval(&rule.cond, profile, &drawn) == Truth::True {
                        if let Some((_, v)) = rule.then.iter().find(|(k, _)| k == key) {
                            upcoming.push(Upcoming {
                                rule: ri,
                                key: *key,
                                value: v.clone(),
                            });
                        }
                    }
                }
                outcomes.push((*key, outcome));
            }
            results.push(JurisdictionReport {
                jurisdiction,
                outcomes,
            });
        }
        Report {
            as_of,
            results,
            upcoming,
        }
    }

    /// The report as JSON: `{"as_of", "results": {"CN": {key: {...}}}, "upcoming": [...]}`.
    pub fn report_json(&self, report: &Report) -> Value {
        serde_json::to_value(self.view(report)).expect("a report serialises")
    }

    /// The same report written straight to JSON bytes, borrowing every
    /// text from the packs (what the API sends).
    pub fn report_bytes(&self, report: &Report) -> Vec<u8> {
        serde_json::to_vec(&self.view(report)).expect("a report serialises")
    }

    fn view<'a>(&'a self, report: &'a Report) -> ReportOut<'a> {
        let basis = |rules: &[u32]| -> Vec<BasisOut<'a>> {
            rules
                .iter()
                .map(|&ri| {
                    let r = &self.rules[ri as usize];
                    BasisOut {
                        rule: &r.id,
                        instrument: &r.instrument,
                        article: &r.article,
                        effective_from: r.effective_from,
                        explain: &r.explain,
                    }
                })
                .collect()
        };
        let mut results = BTreeMap::new();
        for jr in &report.results {
            let mut m = BTreeMap::new();
            for (key, outcome) in &jr.outcomes {
                let k = &CONCLUSIONS[*key as usize];
                let c = match outcome {
                    Outcome::Value {
                        value,
                        basis: rules,
                    } => ConclusionOut {
                        value: ValueOut::of(value, k.kind),
                        basis: Some(basis(rules)),
                        needs: None,
                    },
                    Outcome::Needs(fields) => ConclusionOut {
                        value: ValueOut::Null,
                        basis: None,
                        needs: Some(fields.iter().map(|f| FIELDS[*f as usize].name).collect()),
                    },
                    Outcome::None => ConclusionOut {
                        value: ValueOut::Null,
                        basis: Some(Vec::new()),
                        needs: None,
                    },
                };
                m.insert(k.name, c);
            }
            results.insert(jr.jurisdiction, m);
        }
        let upcoming = report
            .upcoming
            .iter()
            .map(|u| {
                let k = &CONCLUSIONS[u.key as usize];
                UpcomingOut {
                    jurisdiction: k.jurisdiction,
                    conclusion: k.name,
                    value: ValueOut::of(&u.value, k.kind),
                    status: self.rules[u.rule as usize].status,
                    basis: basis(&[u.rule]),
                }
            })
            .collect();
        ReportOut {
            as_of: report.as_of,
            results,
            upcoming,
        }
    }
}

/// A report as written out, borrowing from the engine.
#[derive(Serialize)]
struct ReportOut<'a> {
    as_of: NaiveDate,
    results: BTreeMap<&'static str, BTreeMap<&'static str, ConclusionOut<'a>>>,
    upcoming: Vec<UpcomingOut<'a>>,
}

#[derive(Serialize)]
struct ConclusionOut<'a> {
    value: ValueOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    basis: Option<Vec<BasisOut<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    needs: Option<Vec<&'static str>>,
}

#[derive(Serialize)]
struct BasisOut<'a> {
    rule: &'a str,
    instrument: &'a str,
    article: &'a str,
    effective_from: NaiveDate,
    explain: &'a Text,
}

#[derive(Serialize)]
struct UpcomingOut<'a> {
    jurisdiction: &'static str,
    conclusion: &'static str,
    value: ValueOut,
    status: Status,
    basis: Vec<BasisOut<'a>>,
}

/// A conclusion's value as JSON: a name, a bool, a number or a list of codes.
#[derive(Serialize)]
#[serde(untagged)]
enum ValueOut {
    Null,
    Name(&'static str),
    Bool(bool),
    Int(i64),
    Codes(Vec<&'static str>),
}

impl ValueOut {
    fn of(v: &ConcValue, kind: Kind) -> ValueOut {
        match (v, kind) {
            (ConcValue::Slot(i), Kind::Enum(values)) => ValueOut::Name(values[*i as usize]),
            (ConcValue::Slot(i), _) => ValueOut::Bool(*i == 1),
            (ConcValue::Int(n), _) => ValueOut::Int(*n),
            (ConcValue::Codes(mask), Kind::Codes(codes)) => ValueOut::Codes(
                codes
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask >> i & 1 == 1)
                    .map(|(_, c)| *c)
                    .collect(),
            ),
            (ConcValue::Codes(_), _) => ValueOut::Null,
        }
    }
}

fn eval(c: &Cond, p: &Profile, drawn: &[Drawn]) -> Truth {
    match c {
        Cond::Field { field, mask } => match p.slots[*field as usize] {
            MISSING => Truth::Unknown,
            s if mask >> s & 1 == 1 => Truth::True,
            _ => Truth::False,
        },
        Cond::Conclusion { key, mask } => match &drawn[*key as usize] {
            Drawn::No => Truth::False,
            Drawn::Needs(_) => Truth::Unknown,
            Drawn::Value(s, _) if mask >> s & 1 == 1 => Truth::True,
            Drawn::Value(..) => Truth::False,
        },
        Cond::All(cs) => {
            let mut t = Truth::True;
            for c in cs {
                match eval(c, p, drawn) {
                    Truth::False => return Truth::False,
                    Truth::Unknown => t = Truth::Unknown,
                    Truth::True => {}
                }
            }
            t
        }
        Cond::Any(cs) => {
            let mut t = Truth::False;
            for c in cs {
                match eval(c, p, drawn) {
                    Truth::True => return Truth::True,
                    Truth::Unknown => t = Truth::Unknown,
                    Truth::False => {}
                }
            }
            t
        }
        Cond::Not(c) => match eval(c, p, drawn) {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        },
    }
}

/// The profile fields whose answers would settle an unknown condition.
fn unknown_fields(c: &Cond, p: &Profile, drawn: &[Drawn], out: &mut Vec<u8>) {
    match c {
        Cond::Field { field, .. } if p.slots[*field as usize] == MISSING => out.push(*field),
        Cond::Conclusion { key, .. } => {
            if let Drawn::Needs(fields) = &drawn[*key as usize] {
                out.extend_from_slice(fields);
            }
        }
        Cond::All(cs) | Cond::Any(cs) => {
            for c in cs {
                if eval(c, p, drawn) == Truth::Unknown {
                    unknown_fields(c, p, drawn, out);
                }
            }
        }
        Cond::Not(c) => unknown_fields(c, p, drawn, out),
        _ => {}
    }
}

/// The rules behind the conclusions a condition looked at.
fn referenced(c: &Cond, drawn: &[Drawn], out: &mut Vec<u32>) {
    match c {
        Cond::Conclusion { key, .. } => {
            if let Drawn::Value(_, ri) = drawn[*key as usize] {
                if !out.contains(&ri) {
                    out.push(ri);
                }
            }
        }
        Cond::All(cs) | Cond::Any(cs) => cs.iter().for_each(|c| referenced(c, drawn, out)),
        Cond::Not(c) => referenced(c, drawn, out),
        Cond::Field { .. } => {}
    }
}

type CompileError = (&'static str, String);

fn compile_rule(spec: &PackSpec, r: &RuleSpec, engine: &Engine) -> Result<Rule, CompileError> {
    let blank = |s: &str| s.trim().is_empty();
    if blank(&r.id) {
        return Err(("rule_id_missing", "a rule needs an id".into()));
    }
    if blank(&r.instrument) || blank(&r.article) {
        return Err((
            "rule_citation_missing",
            "a rule needs an instrument and an article".into(),
        ));
    }
    if !engine.instruments.contains_key(&r.instrument) {
        return Err((
            "rule_instrument_unknown",
            format!("instrument {:?} is not declared in any pack", r.instrument),
        ));
    }
    if blank(&r.explain.zh) || blank(&r.explain.en) {
        return Err((
            "rule_translation_missing",
            "the explanation needs zh and en".into(),
        ));
    }
    if let Some(to) = r.effective_to {
        if to < r.effective_from {
            return Err((
                "rule_dates_invalid",
                "effective_to is before effective_from".into(),
            ));
        }
    }
    if r.then.is_empty() {
        return Err((
            "rule_conclusion_missing",
            "a rule draws at least one conclusion".into(),
        ));
    }
    let mut then = Vec::new();
    let mut first_key = usize::MAX;
    for (name, value) in &r.then {
        let Some(k) = conclusion_index(&spec.jurisdiction, name) else {
            return Err((
                "rule_conclusion_unknown",
                format!("{name:?} is not a conclusion of {}", spec.jurisdiction),
            ));
        };
        first_key = first_key.min(k);
        let kind = CONCLUSIONS[k].kind;
        let v = match kind {
            Kind::Enum(_) | Kind::Bool => value_slot(kind, value).map(ConcValue::Slot),
            Kind::Int => value.as_i64().map(ConcValue::Int),
            Kind::Codes(codes) => value
                .as_array()
                .and_then(|items| {
                    items.iter().try_fold(0u32, |mask, item| {
                        let i = codes.iter().position(|c| Some(*c) == item.as_str())?;
                        Some(mask | 1 << i)
                    })
                })
                .map(ConcValue::Codes),
        };
        let Some(v) = v else {
            return Err((
                "rule_conclusion_value_invalid",
                format!("{name}: {value} is not a valid value"),
            ));
        };
        then.push((k as u16, v));
    }
    let cond = compile_cond(&r.when, &spec.jurisdiction, first_key)?;
    Ok(Rule {
        id: r.id.clone(),
        instrument: r.instrument.clone(),
        article: r.article.clone(),
        effective_from: r.effective_from,
        effective_to: r.effective_to,
        status: r.status,
        priority: r.priority,
        explain: r.explain.clone(),
        pack: spec.pack.clone(),
        cond,
        then,
    })
}

/// Compiles a condition; a conclusion it looks at must come before
/// `before` (the first conclusion the rule draws) in evaluation order.
fn compile_cond(v: &Value, jurisdiction: &str, before: usize) -> Result<Cond, CompileError> {
    if v == &Value::Bool(true) {
        return Ok(Cond::All(Vec::new()));
    }
    let Some(obj) = v.as_object() else {
        return Err((
            "rule_condition_invalid",
            format!("a condition is true or an object, not {v}"),
        ));
    };
    let list = |items: &Value| -> Result<Vec<Cond>, CompileError> {
        items
            .as_array()
            .ok_or(("rule_condition_invalid", "all/any take a list".to_string()))?
            .iter()
            .map(|c| compile_cond(c, jurisdiction, before))
            .collect()
    };
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    match keys.as_slice() {
        ["all"] => Ok(Cond::All(list(&obj["all"])?)),
        ["any"] => Ok(Cond::Any(list(&obj["any"])?)),
        ["not"] => Ok(Cond::Not(Box::new(compile_cond(
            &obj["not"],
            jurisdiction,
            before,
        )?))),
        _ => {
            let test = if obj.contains_key("is") { "is" } else { "in" };
            let values: Vec<&Value> = match (obj.get("is"), obj.get("in")) {
                (Some(v), None) => vec![v],
                (None, Some(Value::Array(vs))) if !vs.is_empty() => vs.iter().collect(),
                _ => {
                    return Err((
                        "rule_condition_invalid",
                        format!("a test has either \"is\" or a non-empty \"in\": {v}"),
                    ))
                }
            };
            let (kind, what, index) = match (obj.get("field"), obj.get("conclusion"), obj.len()) {
                (Some(Value::String(f)), None, 2) => {
                    let i = field_index(f).ok_or_else(|| {
                        (
                            "rule_field_unknown",
                            format!("{f:?} is not a profile field"),
                        )
                    })?;
                    (FIELDS[i].kind, f.as_str(), i)
                }
                (None, Some(Value::String(c)), 2) => {
                    let k = conclusion_index(jurisdiction, c).ok_or_else(|| {
                        (
                            "rule_conclusion_unknown",
                            format!("{c:?} is not a conclusion of {jurisdiction}"),
                        )
                    })?;
                    if k >= before {
                        return Err((
                            "rule_conclusion_order",
                            format!("{c:?} is drawn after this rule's own conclusion, so it cannot be looked at"),
                        ));
                    }
                    (CONCLUSIONS[k].kind, c.as_str(), k)
                }
                _ => {
                    return Err((
                        "rule_condition_invalid",
                        format!("a test names one field or one conclusion, and {test}: {v}"),
                    ))
                }
            };
            if !matches!(kind, Kind::Enum(_) | Kind::Bool) {
                return Err((
                    "rule_condition_invalid",
                    format!("{what} cannot be tested with {test}"),
                ));
            }
            let mut mask = 0u32;
            for value in values {
                let s = value_slot(kind, value).ok_or_else(|| {
                    (
                        "rule_value_invalid",
                        format!("{what}: {value} is not one of its values"),
                    )
                })?;
                mask |= 1 << s;
            }
            Ok(if obj.contains_key("field") {
                Cond::Field {
                    field: index as u8,
                    mask,
                }
            } else {
                Cond::Conclusion {
                    key: index as u16,
                    mask,
                }
            })
        }
    }
}

/// Every field and every conclusion a condition tests (for the overlap
/// check).
pub(super) fn cond_refs(rule: &Rule, fields: &mut Vec<u8>, conclusions: &mut Vec<u16>) {
    fn walk(c: &Cond, fields: &mut Vec<u8>, conclusions: &mut Vec<u16>) {
        match c {
            Cond::Field { field, .. } => fields.push(*field),
            Cond::Conclusion { key, .. } => conclusions.push(*key),
            Cond::All(cs) | Cond::Any(cs) => cs.iter().for_each(|c| walk(c, fields, conclusions)),
            Cond::Not(c) => walk(c, fields, conclusions),
        }
    }
    walk(&rule.cond, fields, conclusions)
}

/// Whether a rule's condition may hold for a profile and an assignment of
/// earlier conclusions (key, value slot); anything unassigned is unknown.
pub(super) fn holds(rule: &Rule, p: &Profile, conclusions: &[(u16, u8)]) -> bool {
    let mut drawn = vec![Drawn::Needs(Vec::new()); CONCLUSIONS.len()];
    for (k, slot) in conclusions {
        drawn[*k as usize] = Drawn::Value(*slot, 0);
    }
    eval(&rule.cond, p, &drawn) != Truth::False
}

impl Profile {
    /// A profile with every field unanswered.
    pub fn empty() -> Profile {
        Profile {
            slots: [MISSING; FIELDS.len()],
        }
    }

    pub(super) fn set_slot(&mut self, field: usize, slot: u8) {
        self.slots[field] = slot;
    }
}

impl Rule {
    /// The conclusions drawn: (key index, value).
    pub fn draws(&self) -> &[(u16, ConcValue)] {
        &self.then
    }
}
