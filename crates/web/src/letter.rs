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
    let hash = celltrail_ledger::sha256_hex(format!("{submission_id}{}", lang.code()).as_bytes());
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    Ok(pdf::document(
        &lines,
        &pdf::Meta {
            title: Labels(lang).t("letter.title").to_string(),
            created: format!("D:{digits}Z"),
            id,
        },
    ))
}
