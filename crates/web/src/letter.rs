//! Decision letters (伦理审查决定通知书) as PDF, in Chinese or English,
//! written from the submission's ledger stream: what was reviewed (each
//! document version with its SHA-256), the route and its basis, the
//! decision with the vote where a meeting decided, the approval's lapse
//! date, and the chair's electronic signature (21 CFR 11.50: printed name,
//! date and time, meaning) with the record hash it is bound to.

use celltrail_core::ethics::{Decision, Route, SubmissionType};
use celltrail_core::pdf::{self, Line};
use celltrail_core::Lang;
use celltrail_store::error::{StoreError, StoreResult};
use celltrail_store::ethics as e;
use celltrail_store::service::Actor;

use crate::i18n::Labels;
use crate::SharedState;

/// The letter's lines, in one language.
pub async fn letter_lines(
    st: &SharedState,
    actor: &Actor,
    submission_id: &str,
    lang: Lang,
) -> StoreResult<Vec<Line>> {
    let store = st.store.as_ref();
    let l = Labels(lang);
    let v = e::visible_submission(store, actor, submission_id).await?;
    let decided = v
        .decision
        .clone()
        .ok_or_else(|| StoreError::conflict("submission_not_decided", submission_id.to_string()))?;
    let s = &v.submission;
    let name = |id: &str| {
        let id = id.to_string();
        async move {
            Ok::<String, StoreError>(match store.organisation(&id).await? {
                Some(o) => l.pick(&o.name_zh, &o.name_en).to_string(),
                None => id,
            })
        }
    };
    let project = store
        .project(&s.project_id)
        .await?
        .ok_or_else(|| StoreError::not_found("project_not_found", s.project_id.clone()))?;
    let kind = s
        .kind
        .parse::<SubmissionType>()
        .map(|k| k.label(lang))
        .unwrap_or(&s.kind);
    let route = s
        .route
        .parse::<Route>()
        .map(|r| r.label(lang))
        .unwrap_or(&s.route);
    let decision = decided
        .decision
        .parse::<Decision>()
        .map(|d| d.label(lang))
        .unwrap_or(&decided.decision);
    let mut lines = vec![
        Line::new(name(&s.committee_id).await?, 13.0),
        Line::new(l.t("letter.title"), 18.0).after(6.0),
        Line::new(format!("{}: {}", l.t("letter.number"), s.id), 10.0),
        Line::new(
            format!(
                "{}: {}",
                l.t("letter.project"),
                l.pick(&project.title_zh, &project.title_en)
            ),
            11.0,
        )
        .after(10.0),
        Line::new(
            format!("{}: {}", l.t("letter.site"), name(&s.site_id).await?),
            11.0,
        ),
        Line::new(format!("{}: {}", l.t("letter.pi"), project.pi_name), 11.0),
        Line::new(format!("{}: {kind}", l.t("letter.kind")), 11.0),
        Line::new(format!("{}: {route}", l.t("letter.route")), 11.0),
    ];
    for b in &s.basis {
        lines.push(Line::new(
            format!(
                "  · {} {}",
                instrument_title(st, lang, &b.instrument),
                b.article
            ),
            10.0,
        ));
    }
    if !v.documents.is_empty() {
        lines.push(Line::new(l.t("letter.documents"), 11.0).after(8.0));
        for d in &v.documents {
            lines.push(Line::new(
                format!(
                    "  · {} {} ({}) — {} SHA-256 {}",
                    l.t(&format!("doc.{}", d.doc_kind)),
                    d.version,
                    d.lang,
                    d.filename,
                    d.sha256
                ),
                9.0,
            ));
        }
    }
    lines.push(Line::new(format!("{}: {decision}", l.t("letter.decision")), 14.0).after(10.0));
    if let Some(m) = &decided.meeting_id {
        if let Some(meeting) = e::meeting(store, m).await? {
            let item = meeting.items.iter().find(|i| i.submission_id == s.id);
            let votes = item.map(|i| i.votes.len()).unwrap_or(0);
            let agree = item
                .map(|i| {
                    i.votes
                        .iter()
                        .filter(|v| {
                            v.decision.map(|d| d.as_str()) == Some(decided.decision.as_str())
                        })
                        .count()
                })
                .unwrap_or(0);
            lines.push(Line::new(
                format!(
                    "{}: {} · {} {agree}/{votes} · {} {}",
                    l.t("letter.meeting"),
                    meeting.meeting.held_on,
                    l.t("letter.votes"),
                    l.t("letter.members"),
                    meeting.members.len()
                ),
                10.0,
            ));
        }
    } else {
        lines.push(Line::new(l.t(&format!("letter.via.{}", decided.via)), 10.0));
    }
    if !decided.conditions.is_empty() {
        lines.push(Line::new(
            format!("{}: {}", l.t("letter.conditions"), decided.conditions),
            11.0,
        ));
    }
    if let Some(lapses) = &decided.lapses_on {
        lines.push(Line::new(l.fmt1("letter.valid_until", "date", lapses), 11.0).after(4.0));
    }
    if let Some(v) = &decided.consent_version {
        lines.push(Line::new(
            l.fmt1("letter.consent_version", "version", &v.version.to_string()),
            11.0,
        ));
    }
    let sig = &decided.signature;
    lines.push(Line::new(l.t("letter.signature"), 11.0).after(14.0));
    lines.push(Line::new(
        format!(
            "{} · {} · {}",
            sig.printed_name,
            l.meaning(&sig.meaning),
            l.time(&sig.signed_at)
        ),
        11.0,
    ));
    lines.push(Line::new(
        format!("{}: {}", l.t("letter.record_hash"), sig.record_hash),
        8.0,
    ));
    lines.push(Line::new(
        format!("{}: {}", l.t("letter.manifest_hash"), sig.manifest_hash),
        8.0,
    ));
    lines.push(
        Line::new(
            l.fmt1("letter.ledger_note", "stream", &e::submission_stream(&s.id)),
            8.0,
        )
        .after(10.0),
    );
    Ok(lines)
}

/// An instrument's title from the rule packs (its id when unknown).
pub fn instrument_title(st: &SharedState, lang: Lang, id: &str) -> String {
    match st.rules.instruments.get(id) {
        Some(t) => Labels(lang).pick(&t.zh, &t.en).to_string(),
        None => id.to_string(),
    }
}

/// A PDF's file identifier (ISO 32000-1 14.4): the first 16 bytes of the
/// SHA-256 of the record id and language, so the same letter keeps its id.
fn document_id(record: &str, lang: Lang) -> [u8; 16] {
    let hash = celltrail_ledger::sha256_hex(format!("{record}{}", lang.code()).as_bytes());
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    id
}

/// The decision letter as a PDF document.
pub async fn decision_letter(
    st: &SharedState,
    actor: &Actor,
    submission_id: &str,
    lang: Lang,
) -> StoreResult<Vec<u8>> {
    let lines = letter_lines(st, actor, submission_id, lang).await?;
    let v = e::submission(st.store.as_ref(), submission_id).await?;
    let signed_at = v
        .as_ref()
        .and_then(|v| v.decision.as_ref())
        .map(|d| d.signature.signed_at.clone())
        .unwrap_or_default();
    // D:YYYYMMDDHHmmSSZ from the signature's RFC 3339 time.
    let digits: String = signed_at
        .chars()
        .filter(|c| c.is_ascii_digit())
        .take(14)
        .collect();
    let id = document_id(submission_id, lang);
    Ok(pdf::document(
        &lines,
        &pdf::Meta {
            title: Labels(lang).t("letter.title").to_string(),
            created: format!("D:{digits}Z"),
            id,
        },
    ))
}

/// The minutes of a meeting: who attended and who withdrew from which item,
/// each member's vote, the outcome against the majority needed, and the
/// dissenting opinions (the 2023 measures ask that they be recorded).
pub async fn minutes_lines(
    st: &SharedState,
    actor: &Actor,
    meeting_id: &str,
    lang: Lang,
) -> StoreResult<Vec<Line>> {
    let store = st.store.as_ref();
    let l = Labels(lang);
    let m = crate::ethics::visible_meeting(st, actor, meeting_id).await?;
    let committee = match store.organisation(&m.meeting.committee_id).await? {
        Some(o) => l.pick(&o.name_zh, &o.name_en).to_string(),
        None => m.meeting.committee_id.clone(),
    };
    let name = |id: &str| {
        m.members
            .iter()
            .find(|x| x.id == id)
            .map(|x| x.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let present: Vec<String> = m.meeting.present.iter().map(|p| name(p)).collect();
    let absent: Vec<String> = m
        .members
        .iter()
        .filter(|x| !m.meeting.present.contains(&x.id))
        .map(|x| x.name.clone())
        .collect();
    let mut lines = vec![
        Line::new(committee, 13.0),
        Line::new(l.t("minutes.title"), 18.0).after(6.0),
        Line::new(
            format!("{}: {}", l.t("meeting.date"), m.meeting.held_on),
            11.0,
        ),
        Line::new(
            format!("{}: {}", l.t("minutes.present"), present.join(", ")),
            11.0,
        )
        .after(6.0),
        Line::new(
            format!(
                "{}: {}",
                l.t("minutes.absent"),
                if absent.is_empty() {
                    "—".to_string()
                } else {
                    absent.join(", ")
                }
            ),
            11.0,
        ),
    ];
    let needed = celltrail_core::ethics::majority_of(m.members.len());
    for item in &m.items {
        let sub = e::submission(store, &item.submission_id).await?;
        let (title, kind, route) = match &sub {
            Some(s) => {
                let p = store.project(&s.submission.project_id).await?;
                (
                    p.map(|p| l.pick(&p.title_zh, &p.title_en).to_string())
                        .unwrap_or_default(),
                    s.submission
                        .kind
                        .parse::<SubmissionType>()
                        .map(|k| k.label(lang).to_string())
                        .unwrap_or_default(),
                    s.submission
                        .route
                        .parse::<Route>()
                        .map(|r| r.label(lang).to_string())
                        .unwrap_or_default(),
                )
            }
            None => (item.submission_id.clone(), String::new(), String::new()),
        };
        lines.push(Line::new(format!("{}: {title}", l.t("minutes.item")), 12.0).after(10.0));
        lines.push(Line::new(
            format!("{kind} · {route} · {}", item.submission_id),
            9.0,
        ));
        if !item.recused.is_empty() {
            let r: Vec<String> = item.recused.iter().map(|x| name(x)).collect();
            lines.push(Line::new(
                format!("{}: {}", l.t("minutes.recused"), r.join(", ")),
                10.0,
            ));
        }
        if item.votes.is_empty() {
            lines.push(Line::new(l.t("minutes.not_voted"), 10.0));
            continue;
        }
        lines.push(Line::new(l.t("minutes.votes"), 10.0));
        for v in &item.votes {
            let label = v
                .decision
                .map(|d| d.label(lang).to_string())
                .unwrap_or_else(|| l.t("vote.abstain").to_string());
            lines.push(Line::new(format!("  · {}: {label}", name(&v.member)), 10.0));
        }
        let outcome = match item.decision.as_deref() {
            Some(d) => d
                .parse::<Decision>()
                .map(|d| d.label(lang).to_string())
                .unwrap_or_default(),
            None => l.t("meeting.no_majority").to_string(),
        };
        lines.push(Line::new(
            format!(
                "{}: {outcome} ({} {needed})",
                l.t("minutes.outcome"),
                l.t("minutes.needed")
            ),
            11.0,
        ));
        let dissent: Vec<String> = item
            .votes
            .iter()
            .filter(|v| {
                v.decision.is_some() && v.decision.map(|d| d.as_str()) != item.decision.as_deref()
            })
            .map(|v| {
                let opinion = if v.opinion.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", v.opinion)
                };
                format!(
                    "  · {}: {}{opinion}",
                    name(&v.member),
                    v.decision.map(|d| d.label(lang)).unwrap_or("")
                )
            })
            .collect();
        if !dissent.is_empty() {
            lines.push(Line::new(l.t("minutes.dissent"), 10.0));
            for d in dissent {
                lines.push(Line::new(d, 10.0));
            }
        }
    }
    lines.push(
        Line::new(
            l.fmt1(
                "letter.ledger_note",
                "stream",
                &e::meeting_stream(meeting_id),
            ),
            8.0,
        )
        .after(10.0),
    );
    Ok(lines)
}

/// The minutes as a PDF document.
pub async fn minutes(
    st: &SharedState,
    actor: &Actor,
    meeting_id: &str,
    lang: Lang,
) -> StoreResult<Vec<u8>> {
    let lines = minutes_lines(st, actor, meeting_id, lang).await?;
    let id = document_id(meeting_id, lang);
    Ok(pdf::document(
        &lines,
        &pdf::Meta {
            title: Labels(lang).t("minutes.title").to_string(),
            created: String::new(),
            id,
        },
    ))
}
