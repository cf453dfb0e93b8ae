//! The web dashboard: a page and its script and style, embedded in the
//! binary (it works offline), over the same JSON API the CLI uses. The
//! page logs in with the server's token, which it trades for a session
//! cookie (HttpOnly, SameSite=Strict); requests authenticated by that
//! cookie that change something must also carry the session's CSRF token
//! (`X-CSRF-Token`), which only the page itself was given.
//!
//! Why a page of plain JavaScript and SVG, not htmx or a bundled app: the
//! dashboard shows what the API already answers (graph, status, histories),
//! so a script reading that JSON needs no second, HTML-shaped API; and
//! with no framework and no build step the binary embeds three small files
//! that anyone can read.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Form;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

const INDEX: &str = include_str!("index.html");
const LOGIN: &str = include_str!("login.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// How long a dashboard session lasts after logging in.
const SESSION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// How many sessions are kept at most; the oldest go first.
const MAX_SESSIONS: usize = 1000;

/// The header a cookie-authenticated change must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What the page may load and talk to: only this server.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A logged-in session of the dashboard.
#[derive(Debug)]
struct Session {
    /// What its page must send with every change.
    csrf: String,
    opened: std::time::Instant,
}

/// The dashboard's logged-in sessions, by session id.
#[derive(Debug)]
pub struct Sessions {
    /// The name of the cookie that holds a session: one per port, since
    /// browsers share cookies between the ports of a host.
    cookie: String,
    sessions: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// No sessions yet, for the server on `port`.
    pub fn for_port(port: u16) -> Self {
        Sessions {
            cookie: format!("eddy_session_{port}"),
            sessions: Mutex::default(),
        }
    }

    /// A new session; its id.
    fn open(&self) -> anyhow::Result<String> {
        let id = super::random_hex(32)?;
        let csrf = super::random_hex(32)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, session| session.opened.elapsed() < SESSION_LIFETIME);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = (sessions.iter())
                .min_by_key(|(_, session)| session.opened)
                .map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        let opened = std::time::Instant::now();
        sessions.insert(id.clone(), Session { csrf, opened });
        Ok(id)
    }

    /// The CSRF token of the live session whose cookie `headers` carry.
    pub fn csrf_of(&self, headers: &HeaderMap) -> Option<String> {
        let id = self.session_cookie(headers)?;
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        (sessions.get(id))
            .filter(|session| session.opened.elapsed() < SESSION_LIFETIME)
            .map(|session| session.csrf.clone())
    }

    fn close(&self, headers: &HeaderMap) {
        if let Some(id) = self.session_cookie(headers) {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            sessions.remove(id);
        }
    }

    /// The value of the session cookie among `headers`' cookies.
    fn session_cookie<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        (headers.get_all(header::COOKIE).iter())
            .filter_map(|value| value.to_str().ok())
            .flat_map(|cookies| cookies.split(';'))
            .filter_map(|cookie| cookie.trim().split_once('='))
            .find(|(name, _)| *name == self.cookie)
            .map(|(_, value)| value)
    }

    /// The `Set-Cookie` value that holds session `id` (or, empty, ends it).
    fn set_cookie(&self, id: &str) -> Option<HeaderValue> {
        let max_age = if id.is_empty() {
            0
        } else {
            SESSION_LIFETIME.as_secs()
        };
        let cookie = format!(
            "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}",
            self.cookie
        );
        HeaderValue::from_str(&cookie).ok()
    }
}

/// Whether `path` is served to anyone: the page (which answers with the
/// login form until there is a session), the login itself, and the assets.
pub fn is_public(path: &str) -> bool {
    matches!(path, "/" | "/login" | "/logout") || path.starts_with("/assets/")
}

/// `?token=...` on the page's address: log in from the link `eddy serve` prints.
#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `GET /`: the dashboard for a session, else the login form (401).
pub fn page(
    sessions: &Sessions,
    token: &str,
    headers: &HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Response {
    if let Some(presented) = query.token {
        return login(sessions, token, &presented);
    }
    match sessions.csrf_of(headers) {
        Some(csrf) => html(StatusCode::OK, INDEX.replace("{{CSRF}}", &csrf)),
        None => login_page(""),
    }
}

/// `POST /login`.
pub fn login_form(sessions: &Sessions, token: &str, Form(form): Form<LoginForm>) -> Response {
    login(sessions, token, &form.token)
}

/// `GET /logout`.
pub fn logout(sessions: &Sessions, headers: &HeaderMap) -> Response {
    sessions.close(headers);
    let mut response = Redirect::to("/").into_response();
    if let Some(value) = sessions.set_cookie("") {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET /assets/{name}`.
pub fn asset(name: &str) -> Response {
    let (content_type, body) = match name {
        "app.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "app.css" => ("text/css; charset=utf-8", STYLE),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn login(sessions: &Sessions, token: &str, presented: &str) -> Response {
    if !super::server::same_secret(presented.as_bytes(), token.as_bytes()) {
        return login_page("That is not this server's token.");
    }
    let id = match sessions.open() {
        Ok(id) => id,
        Err(error) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}")).into_response();
        }
    };
    let mut response = Redirect::to("/").into_response();
    if let Some(value) = sessions.set_cookie(&id) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn login_page(error: &str) -> Response {
    // The only text put into it is one of this module's own messages.
    html(StatusCode::UNAUTHORIZED, LOGIN.replace("{{ERROR}}", error))
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response()
}
