//! Authentication (session cookies and bearer tokens), the authorisation
//! middleware that enforces [`crate::routes::ROUTES`], CSRF checks, and
//! login throttling.

use std::collections::{HashMap, VecDeque};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use celltrail_core::access::Permission;
use celltrail_core::i18n::Lang;
use celltrail_store::auth::{random_hex, secret_digest};
use celltrail_store::error::{StoreError, StoreResult};
use celltrail_store::service::{load_actor, Actor};
use celltrail_store::SessionRow;

use crate::error::ApiError;
use crate::i18n::{cookie, lang_of, t};
use crate::routes::{self, Access, Kind};
use crate::SharedState;

pub const COOKIE_SECURE: &str = "__Host-ct_session";
pub const COOKIE_PLAIN: &str = "ct_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who made the request, and how.
#[derive(Clone, Debug)]
pub struct Auth {
    pub actor: Actor,
    pub session: Option<SessionRow>,
    pub via_token: bool,
}

impl Auth {
    pub fn csrf(&self) -> &str {
        self.session.as_ref().map(|s| s.csrf.as_str()).unwrap_or("")
    }
    /// Form posts carry the session's CSRF token (OWASP ASVS 4.2.2).
    pub fn check_csrf(&self, presented: &str) -> StoreResult<()> {
        match &self.session {
            Some(s) if constant_time_eq(s.csrf.as_bytes(), presented.as_bytes()) => Ok(()),
            Some(_) => Err(StoreError::forbidden(
                "csrf_invalid",
                "missing or wrong CSRF token",
            )),
            None => Ok(()),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn cookie_name(st: &SharedState) -> &'static str {
    if st.config.secure_cookies {
        COOKIE_SECURE
    } else {
        COOKIE_PLAIN
    }
}

/// `Set-Cookie` for a session id (empty id and max-age 0 clears it).
pub fn session_cookie(st: &SharedState, id: &str) -> HeaderValue {
    let secure = if st.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let max_age = if id.is_empty() { "; Max-Age=0" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Strict{secure}{max_age}",
        cookie_name(st)
    ))
    .expect("cookie is ASCII")
}

/// Starts a fresh session (a new id at every login, ASVS 3.2.1) and returns
/// the cookie id.
pub async fn start_session(st: &SharedState, user_id: &str) -> StoreResult<String> {
    let id = random_hex(32)?;
    let now = now_secs();
    st.store
        .create_session(&SessionRow {
            id_hash: secret_digest(&id),
            user_id: user_id.to_string(),
            csrf: random_hex(16)?,
            created_at: now,
            last_seen: now,
        })
        .await?;
    Ok(id)
}

async fn authenticate(st: &SharedState, headers: &HeaderMap) -> StoreResult<Option<Auth>> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or("");
        let secret = value.strip_prefix("Bearer ").ok_or_else(|| {
            StoreError::unauthenticated("token_invalid", "expected a Bearer token")
        })?;
        let token = st
            .store
            .token_by_hash(&secret_digest(secret.trim()))
            .await?
            .ok_or_else(|| StoreError::unauthenticated("token_invalid", "unknown token"))?;
        let now = celltrail_store::now_rfc3339();
        if token.revoked_at.is_some()
            || token
                .expires_at
                .as_deref()
                .is_some_and(|e| e <= now.as_str())
        {
            return Err(StoreError::unauthenticated(
                "token_invalid",
                "revoked or expired token",
            ));
        }
        let mut actor = load_actor(st.store.as_ref(), &token.user_id).await?;
        let scopes: Vec<Permission> = token
            .scopes
            .iter()
            .filter_map(|s| permission_from_str(s))
            .collect();
        actor.scopes = Some(scopes);
        return Ok(Some(Auth {
            actor,
            session: None,
            via_token: true,
        }));
    }
    let Some(id) = cookie(headers, cookie_name(st)) else {
        return Ok(None);
    };
    let id_hash = secret_digest(&id);
    let Some(session) = st.store.session(&id_hash).await? else {
        return Ok(None);
    };
    let now = now_secs();
    if now - session.last_seen > st.config.session_idle_secs
        || now - session.created_at > st.config.session_max_secs
    {
        st.store.delete_session(&id_hash).await?;
        return Ok(None);
    }
    if now - session.last_seen >= 60 {
        st.store.touch_session(&id_hash, now).await?;
    }
    let actor = match load_actor(st.store.as_ref(), &session.user_id).await {
        Ok(a) => a,
        Err(_) => return Ok(None),
    };
    Ok(Some(Auth {
        actor,
        session: Some(session),
        via_token: false,
    }))
}

pub fn permission_from_str(s: &str) -> Option<Permission> {
    Permission::ALL.iter().copied().find(|p| p.as_str() == s)
}

/// A small HTML page for errors on UI routes.
pub fn error_page(lang: Lang, status: StatusCode, err: &StoreError) -> Response {
    let msg = crate::error::message(lang, err);
    let body = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{title}</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main class=\"narrow\"><h1>{title}</h1><p class=\"error\" data-code=\"{code}\">{msg}</p><p><a href=\"/\">{home}</a></p></main></body></html>",
        lang = lang.code(),
        title = html_escape(t(lang, "error.title")),
        code = err.code,
        msg = html_escape(&msg),
        home = html_escape(t(lang, "nav.home")),
    );
    (status, Html(body)).into_response()
}

pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn reject(kind: Kind, lang: Lang, err: StoreError, path: &str) -> Response {
    let status = crate::error::status_of(err.kind, err.code);
    match kind {
        Kind::Api => ApiError::new(lang, err).into_response(),
        Kind::Page if status == StatusCode::UNAUTHORIZED => {
            Redirect::to(&format!("/login?next={}", urlencoding::encode(path))).into_response()
        }
        Kind::Page => error_page(lang, status, &err),
    }
}

/// Enforces the route table: authenticates, checks the permission the route
/// needs, checks CSRF on cookie-authenticated API writes, and hands the
/// handler an [`Auth`].
pub async fn authorize(State(st): State<SharedState>, mut req: Request, next: Next) -> Response {
    let lang = lang_of(req.headers(), req.uri().query());
    let path = req.uri().path().to_string();
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let Some(spec) = matched
        .as_deref()
        .and_then(|m| routes::find(req.method().as_str(), m))
    else {
        // A route missing from the table is refused, never served unchecked.
        let err =
            StoreError::forbidden("route_not_declared", "route missing from the access table");
        return reject(Kind::Api, lang, err, &path);
    };
    let auth = authenticate(&st, req.headers()).await;
    match (spec.access, auth) {
        (Access::Public, Ok(auth)) => {
            if let Some(a) = auth {
                req.extensions_mut().insert(a);
            }
            next.run(req).await
        }
        (Access::Public, Err(_)) => next.run(req).await,
        (_, Err(e)) => reject(spec.kind, lang, e, &path),
        (_, Ok(None)) => reject(
            spec.kind,
            lang,
            StoreError::unauthenticated("authentication_required", "sign in first"),
            &path,
        ),
        (access, Ok(Some(a))) => {
            if let Access::Perm(p) = access {
                if let Err(e) = a.actor.require(p) {
                    return reject(spec.kind, lang, e, &path);
                }
            }
            if st.config.require_admin_totp
                && !a.via_token
                && crate::pages::is_admin(&a.actor)
                && spec.access != Access::Public
                && !routes::ENROLMENT_ROUTES.contains(&spec.path)
            {
                match st.store.totp(&a.actor.user_id).await {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        if spec.kind == Kind::Page {
                            return Redirect::to("/app/account").into_response();
                        }
                        let e = StoreError::forbidden(
                            "totp_enrolment_required",
                            "administrators enrol a second factor first",
                        );
                        return reject(spec.kind, lang, e, &path);
                    }
                    Err(e) => return reject(spec.kind, lang, e, &path),
                }
            }
            let unsafe_method =
                !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
            if spec.kind == Kind::Api && unsafe_method && !a.via_token {
                let presented = req
                    .headers()
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if let Err(e) = a.check_csrf(presented) {
                    return reject(spec.kind, lang, e, &path);
                }
            }
            req.extensions_mut().insert(a);
            next.run(req).await
        }
    }
}

/// Counts failed logins per key (user name, client address) in a sliding
/// window (OWASP ASVS 2.2.1).
#[derive(Default)]
pub struct LoginLimiter {
    failures: HashMap<String, VecDeque<i64>>,
}

impl LoginLimiter {
    fn prune(&mut self, key: &str, now: i64, window: i64) -> usize {
        match self.failures.get_mut(key) {
            Some(q) => {
                while q.front().is_some_and(|t| now - *t >= window) {
                    q.pop_front();
                }
                q.len()
            }
            None => 0,
        }
    }
    pub fn blocked(&mut self, key: &str, now: i64, max: usize, window: i64) -> bool {
        self.prune(key, now, window) >= max
    }
    pub fn fail(&mut self, key: &str, now: i64) {
        if self.failures.len() > 100_000 {
            self.failures.clear();
        }
        self.failures
            .entry(key.to_string())
            .or_default()
            .push_back(now);
    }
    pub fn clear(&mut self, key: &str) {
        self.failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_blocks_after_max_and_forgets_after_window() {
        let mut l = LoginLimiter::default();
        for i in 0..5 {
            assert!(!l.blocked("u", 100 + i, 5, 900));
            l.fail("u", 100 + i);
        }
        assert!(l.blocked("u", 110, 5, 900));
        assert!(!l.blocked("other", 110, 5, 900));
        assert!(!l.blocked("u", 100 + 4 + 900, 5, 900));
    }
}
