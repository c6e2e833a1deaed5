//! The browser side of OpenID Connect: the authorization endpoint (`/authorize`, GET and
//! POST), the sign-in form (`POST /login`), the consent form, the account page (consents
//! and sessions, each revocable) and RP-initiated logout (`/logout`). Handlers read the
//! cookies and forms and render [`super::html`]; the flow's decisions are in
//! [`crate::service::authorize`], [`crate::service::sessions`] and
//! [`crate::service::logout`].
//!
//! Every page: `Cache-Control: no-store`, the security headers of [`crate::app`], and a
//! CSRF token in every form. Pages that lead back to a client widen the CSP's
//! `form-action` to that client's origin (browsers apply it to the redirects that follow
//! a form POST). Every POST answers 303.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sichat_core::Secret;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::html::{self, STYLESHEET, STYLESHEET_PATH};
use crate::app::CONTENT_SECURITY_POLICY;
use crate::error::ApiError;
use crate::service::authorize::{AuthRequest, AuthorizeError, Authorizer, Step};
use crate::service::logout::{Logout, LogoutRequest};
use crate::service::pages::Pages;
use crate::service::sessions::{LoginError, SESSION_LIFETIME_MS, Session, Sessions};

/// The page routes.
pub fn routes() -> OpenApiRouter<crate::app::AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize_get, authorize_post))
        .routes(routes!(authorize_continue))
        .routes(routes!(consent))
        .routes(routes!(login_page, login))
        .routes(routes!(account))
        .routes(routes!(revoke_session))
        .routes(routes!(revoke_consent))
        .routes(routes!(logout_get, logout_post))
}

/// The stylesheet (an asset, not an API route).
pub fn asset_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(
        STYLESHEET_PATH,
        get(|| async {
            (
                [
                    (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                    (header::CACHE_CONTROL, "public, max-age=86400"),
                ],
                STYLESHEET,
            )
        }),
    )
}

/// The client's address (for the sign-in rate limit), when the server knows it.
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// A cookie's value.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(pages: &Pages, name: &str, value: &str, max_age: Option<i64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if pages.secure() {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

/// An HTML answer under construction.
struct Page {
    status: StatusCode,
    body: String,
    cookies: Vec<String>,
    /// An origin the page's forms may lead back to (the client's redirect URI).
    form_target: Option<String>,
    retry_after: Option<u64>,
}

impl Page {
    fn new(status: StatusCode, body: String) -> Self {
        Self {
            status,
            body,
            cookies: Vec::new(),
            form_target: None,
            retry_after: None,
        }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::response::Html(self.body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for c in self.cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::SET_COOKIE, v);
            }
        }
        if let Some(origin) = self.form_target {
            let csp = CONTENT_SECURITY_POLICY.replace(
                "form-action 'self'",
                &format!("form-action 'self' {origin}"),
            );
            if let Ok(v) = HeaderValue::from_str(&csp) {
                h.insert(header::CONTENT_SECURITY_POLICY, v);
            }
        }
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// A 303 to `location`, with cookies.
fn see_other(location: &str, cookies: Vec<String>) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    match HeaderValue::from_str(location) {
        Ok(v) => {
            h.insert(header::LOCATION, v);
        }
        Err(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid redirect",
                "The address to return to is not valid.",
            );
        }
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    Page::new(status, html::error(title, detail)).into_response()
}

/// An internal error as a page (its status, `Retry-After` when busy).
fn failure(e: ApiError) -> Response {
    let status = e.0.kind.status;
    let mut page = Page::new(status, html::message(e.0.kind.title, &e.0.detail));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        page.retry_after = Some(1);
    }
    page.into_response()
}

/// The CSP source of a redirect URI's origin: `https://rp.example:8443`, or
/// `com.example.app:` for a private-use scheme.
fn origin_source(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    match url.origin() {
        url::Origin::Tuple(..) => Some(url.origin().ascii_serialization()),
        url::Origin::Opaque(_) => Some(format!("{}:", url.scheme())),
    }
}

/// The browser's CSRF cookie, or a new one to set; and the token for forms.
fn csrf(pages: &Pages, headers: &HeaderMap) -> (String, Option<String>) {
    match cookie(headers, pages.csrf_cookie()).filter(|c| !c.is_empty() && c.len() <= 128) {
        Some(existing) => (pages.csrf_token(existing), None),
        None => {
            let fresh = pages.new_csrf_cookie();
            let set = set_cookie(pages, pages.csrf_cookie(), &fresh, None);
            (pages.csrf_token(&fresh), Some(set))
        }
    }
}

async fn session(
    sessions: &Sessions,
    pages: &Pages,
    headers: &HeaderMap,
) -> Result<Option<Session>, ApiError> {
    match cookie(headers, pages.session_cookie()) {
        Some(secret) => sessions.current(secret).await,
        None => Ok(None),
    }
}

/// The services the pages use.
#[derive(Clone)]
pub struct Flow {
    authorizer: Arc<Authorizer>,
    pages: Arc<Pages>,
}

impl axum::extract::FromRef<crate::app::AppState> for Flow {
    fn from_ref(state: &crate::app::AppState) -> Self {
        Flow {
            authorizer: state.authorizer.clone(),
            pages: state.pages.clone(),
        }
    }
}

impl Flow {
    fn sessions(&self) -> &Sessions {
        self.authorizer.sessions()
    }

    fn login_page(&self, headers: &HeaderMap, p: LoginView<'_>) -> Page {
        let (token, set) = csrf(&self.pages, headers);
        let tx = p.request.map(|r| self.authorizer.seal(r));
        let mut page = Page::new(
            p.status,
            html::login(&html::LoginPage {
                tx: tx.as_deref(),
                csrf: &token,
                client_name: p.client_name,
                login_hint: p
                    .request
                    .and_then(|r| r.login_hint.as_deref())
                    .or(p.username),
                error: p.error,
            }),
        );
        page.cookies.extend(set);
        page.form_target = p.request.and_then(|r| origin_source(&r.redirect_uri));
        page
    }

    /// Renders what comes next in the flow.
    fn render(&self, headers: &HeaderMap, step: Result<Step, AuthorizeError>) -> Response {
        match step {
            Ok(Step::Redirect(url)) | Err(AuthorizeError::Redirect(url)) => see_other(&url, vec![]),
            Ok(Step::Login {
                request,
                client_name,
            }) => self
                .login_page(
                    headers,
                    LoginView {
                        status: StatusCode::OK,
                        request: Some(&request),
                        client_name: Some(&client_name),
                        username: None,
                        error: None,
                    },
                )
                .into_response(),
            Ok(Step::Consent {
                request,
                client_name,
                session,
                backed,
            }) => {
                let (token, set) = csrf(&self.pages, headers);
                let tx = self.authorizer.seal(&request);
                let mut page = Page::new(
                    StatusCode::OK,
                    html::consent(&html::ConsentPage {
                        tx: &tx,
                        csrf: &token,
                        client_name: &client_name,
                        user: session.user.as_str(),
                        scopes: request.scopes().collect(),
                        claims: &request.claims,
                        backed: backed
                            .iter()
                            .map(|b| html::BackedClaim {
                                claim: &b.claim,
                                credential_type: &b.credential_type,
                                issuer: &b.issuer,
                            })
                            .collect(),
                    }),
                );
                page.cookies.extend(set);
                page.form_target = origin_source(&request.redirect_uri);
                page.into_response()
            }
            Err(AuthorizeError::Page { title, detail }) => {
                error_page(StatusCode::BAD_REQUEST, title, &detail)
            }
            Err(AuthorizeError::Internal(e)) => failure(e),
        }
    }

    async fn authorize(&self, headers: &HeaderMap, query: &str) -> Response {
        let step = async {
            let request = self.authorizer.validate(query).await?;
            let session = session(self.sessions(), &self.pages, headers).await?;
            self.authorizer.next(request, session).await
        }
        .await;
        self.render(headers, step)
    }
}

struct LoginView<'a> {
    status: StatusCode,
    request: Option<&'a AuthRequest>,
    client_name: Option<&'a str>,
    username: Option<&'a str>,
    error: Option<&'a str>,
}

/// An `application/x-www-form-urlencoded` body; a repeated field is refused.
fn page_form(headers: &HeaderMap, body: &[u8]) -> Option<BTreeMap<String, String>> {
    super::oidc::form(headers, body).ok()
}

/// Whether the form's `csrf` token matches this browser's CSRF cookie.
fn csrf_matches(pages: &Pages, headers: &HeaderMap, form: &BTreeMap<String, String>) -> bool {
    pages.csrf_ok(
        cookie(headers, pages.csrf_cookie()),
        form.get("csrf").map(String::as_str),
    )
}

/// Why a page's form was refused (each renders its page).
enum FormRefused {
    /// Not a form, or a field given twice: 400.
    Invalid,
    /// The CSRF token does not match the browser's cookie: 403.
    Csrf,
}

impl IntoResponse for FormRefused {
    fn into_response(self) -> Response {
        match self {
            FormRefused::Invalid => error_page(
                StatusCode::BAD_REQUEST,
                "Invalid form",
                "The form was not sent as expected. Go back and try again.",
            ),
            FormRefused::Csrf => error_page(
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form could not be accepted (its security token does not match this browser). Go back, reload the page and try again.",
            ),
        }
    }
}

/// A page's form whose CSRF token matches the browser's cookie.
fn checked_form(
    pages: &Pages,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<BTreeMap<String, String>, FormRefused> {
    let form = page_form(headers, body).ok_or(FormRefused::Invalid)?;
    if !csrf_matches(pages, headers, &form) {
        return Err(FormRefused::Csrf);
    }
    Ok(form)
}

/// `GET /authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2.1): validates the request, then
/// shows the sign-in or consent page, or sends the browser back with a code. An unknown
/// client or an unregistered redirect URI gets an error page and is never redirected.
#[utoipa::path(get, path = "/authorize", tag = "oidc",
    params(("client_id" = String, Query), ("redirect_uri" = String, Query), ("response_type" = String, Query, description = "code"),
           ("scope" = String, Query), ("code_challenge" = String, Query), ("code_challenge_method" = String, Query, description = "S256"),
           ("state" = Option<String>, Query), ("nonce" = Option<String>, Query), ("prompt" = Option<String>, Query),
           ("max_age" = Option<i64>, Query), ("login_hint" = Option<String>, Query), ("claims" = Option<String>, Query)),
    responses((status = 200, description = "The sign-in or consent page", content_type = "text/html"),
              (status = 303, description = "Back to the client: `code`, `state`, `iss` (RFC 9207), or `error`"),
              (status = 400, description = "Unknown client or redirect URI: an error page, no redirect", content_type = "text/html")))]
pub async fn authorize_get(
    State(flow): State<Flow>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    flow.authorize(&headers, query.as_deref().unwrap_or_default())
        .await
}

/// `POST /authorize`: the same request as a form (OIDC Core §3.1.2.1).
#[utoipa::path(post, path = "/authorize", tag = "oidc",
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The sign-in or consent page", content_type = "text/html"),
              (status = 303, description = "Back to the client"),
              (status = 400, description = "An error page", content_type = "text/html")))]
pub async fn authorize_post(
    State(flow): State<Flow>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match std::str::from_utf8(&body) {
        Ok(query) => flow.authorize(&headers, query).await,
        Err(_) => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The request is not UTF-8.",
        ),
    }
}

/// `GET /authorize/continue?tx=…`: the flow after signing in.
#[utoipa::path(get, path = "/authorize/continue", tag = "oidc", params(("tx" = String, Query)),
    responses((status = 200, description = "The consent page", content_type = "text/html"),
              (status = 303, description = "Back to the client"),
              (status = 400, description = "Expired or altered request", content_type = "text/html")))]
pub async fn authorize_continue(
    State(flow): State<Flow>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let tx = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "tx")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let step = async {
        let request = flow.authorizer.open(&tx)?;
        let session = session(flow.sessions(), &flow.pages, &headers).await?;
        flow.authorizer.next(request, session).await
    }
    .await;
    flow.render(&headers, step)
}

/// `POST /authorize/consent` (`tx`, `csrf`, `decision=allow|deny`).
#[utoipa::path(post, path = "/authorize/consent", tag = "oidc",
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Back to the client with a code, or access_denied"),
              (status = 403, description = "CSRF token refused", content_type = "text/html")))]
pub async fn consent(
    State(flow): State<Flow>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = match checked_form(&flow.pages, &headers, &body) {
        Ok(form) => form,
        Err(refused) => return refused.into_response(),
    };
    let tx = form.get("tx").map(String::as_str).unwrap_or_default();
    let allow = match form.get("decision").map(String::as_str) {
        Some("allow") => true,
        Some("deny") => false,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid form",
                "Choose Allow or Deny.",
            );
        }
    };
    let outcome = async {
        let request = flow.authorizer.open(tx)?;
        let session = session(flow.sessions(), &flow.pages, &headers).await?;
        // Signed out meanwhile, or the request wants a fresher sign-in (`prompt=login`,
        // `max_age`) than the browser's: sign in again, then consent.
        let Some(session) = session.filter(|s| flow.authorizer.session_satisfies(&request, s))
        else {
            return flow.authorizer.next(request, None).await;
        };
        flow.authorizer
            .decide(request, &session, allow)
            .await
            .map(Step::Redirect)
    }
    .await;
    flow.render(&headers, outcome)
}

/// `GET /login`: the sign-in page (for the account page).
#[utoipa::path(get, path = "/login", tag = "oidc",
    responses((status = 200, description = "The sign-in page", content_type = "text/html")))]
pub async fn login_page(State(flow): State<Flow>, headers: HeaderMap) -> Response {
    flow.login_page(
        &headers,
        LoginView {
            status: StatusCode::OK,
            request: None,
            client_name: None,
            username: None,
            error: None,
        },
    )
    .into_response()
}

/// `POST /login` (`username`, `password`, `csrf`, and `tx` within an authorization):
/// Argon2id off the runtime threads, a dummy hash for unknown users, 10 attempts a minute
/// per account and 30 per address (then 429 with `Retry-After`). Success sets the session
/// cookie and answers 303 (on to the consent step, or the account page).
#[utoipa::path(post, path = "/login", tag = "oidc",
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed in"),
              (status = 401, description = "Wrong username or password (the page again)", content_type = "text/html"),
              (status = 403, description = "CSRF token refused", content_type = "text/html"),
              (status = 429, description = "Too many attempts (`Retry-After`)", content_type = "text/html")))]
pub async fn login(
    State(flow): State<Flow>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = match checked_form(&flow.pages, &headers, &body) {
        Ok(form) => form,
        Err(refused) => return refused.into_response(),
    };
    let request = match form.get("tx").filter(|t| !t.is_empty()) {
        Some(tx) => match flow.authorizer.open(tx) {
            Ok(r) => Some(r),
            Err(e) => return flow.render(&headers, Err(e)),
        },
        None => None,
    };
    let username = form.get("username").map(String::as_str).unwrap_or_default();
    let password = Secret::new(form.get("password").cloned().unwrap_or_default());
    let label = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let again = |status, error: &str| {
        flow.login_page(
            &headers,
            LoginView {
                status,
                request: request.as_ref(),
                client_name: None,
                username: Some(username),
                error: Some(error),
            },
        )
    };
    match flow
        .sessions()
        .login(username, password, address, label)
        .await
    {
        Ok((secret, _)) => {
            let cookie = set_cookie(
                &flow.pages,
                flow.pages.session_cookie(),
                secret.expose(),
                Some(SESSION_LIFETIME_MS / 1000),
            );
            let next = match &request {
                Some(r) => format!(
                    "{}?tx={}",
                    sichat_core::api::paths::AUTHORIZE_CONTINUE,
                    flow.authorizer.seal(r)
                ),
                None => sichat_core::api::paths::ACCOUNT.to_owned(),
            };
            see_other(&next, vec![cookie])
        }
        Err(LoginError::Invalid) => again(
            StatusCode::UNAUTHORIZED,
            "Unknown username or wrong password.",
        )
        .into_response(),
        Err(LoginError::TooMany(secs)) => {
            let mut page = again(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too many sign-in attempts. Try again in {secs} seconds."),
            );
            page.retry_after = Some(secs);
            page.into_response()
        }
        Err(LoginError::Other(e)) => failure(e),
    }
}

/// `GET /account`: the user's consents and sessions, each revocable (or the sign-in page).
#[utoipa::path(get, path = "/account", tag = "oidc",
    responses((status = 200, description = "The account page, or the sign-in page", content_type = "text/html")))]
pub async fn account(State(flow): State<Flow>, headers: HeaderMap) -> Response {
    let result = async {
        let Some(current) = session(flow.sessions(), &flow.pages, &headers).await? else {
            return Ok(None);
        };
        let user_id = current.row.user_id.clone();
        let consents = flow.authorizer.consents(&user_id).await?;
        let sessions = flow.sessions().list(&user_id).await?;
        Ok::<_, ApiError>(Some((current, consents, sessions)))
    }
    .await;
    let (current, consents, sessions) = match result {
        Ok(Some(found)) => found,
        Ok(None) => return login_page(State(flow), headers).await,
        Err(e) => return failure(e),
    };
    let when = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default()
    };
    let (token, set) = csrf(&flow.pages, &headers);
    let mut page = Page::new(
        StatusCode::OK,
        html::account(&html::AccountPage {
            user: current.user.as_str(),
            csrf: &token,
            consents: consents
                .iter()
                .map(|c| html::AccountConsent {
                    client_id: &c.client_id,
                    scope: &c.scope,
                    granted: when(c.granted_at),
                })
                .collect(),
            sessions: sessions
                .iter()
                .map(|s| html::AccountSession {
                    id: &s.id,
                    label: &s.label,
                    last_seen: when(s.last_seen_at),
                    current: s.id == current.row.id,
                })
                .collect(),
        }),
    );
    page.cookies.extend(set);
    page.into_response()
}

/// An account form: checks its CSRF token and the session, runs `action` with the user's
/// id and the form's `field`, and goes back to the account page.
async fn account_action<F, Fut>(
    flow: &Flow,
    headers: &HeaderMap,
    body: &[u8],
    field: &str,
    action: F,
) -> Response
where
    F: FnOnce(String, String) -> Fut,
    Fut: std::future::Future<Output = Result<bool, ApiError>>,
{
    let form = match checked_form(&flow.pages, headers, body) {
        Ok(form) => form,
        Err(refused) => return refused.into_response(),
    };
    let current = match session(flow.sessions(), &flow.pages, headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other(sichat_core::api::paths::ACCOUNT, vec![]),
        Err(e) => return failure(e),
    };
    let value = form.get(field).cloned().unwrap_or_default();
    match action(current.row.user_id, value).await {
        Ok(_) => see_other(sichat_core::api::paths::ACCOUNT, vec![]),
        Err(e) => failure(e),
    }
}

/// `POST /account/sessions/revoke` (`session_id`, `csrf`): signs a browser out.
#[utoipa::path(post, path = "/account/sessions/revoke", tag = "oidc",
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Back to the account page"), (status = 403, description = "CSRF token refused", content_type = "text/html")))]
pub async fn revoke_session(
    State(flow): State<Flow>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let sessions = flow.authorizer.sessions().clone();
    account_action(
        &flow,
        &headers,
        &body,
        "session_id",
        |user, id| async move { sessions.revoke(&user, &id).await },
    )
    .await
}

/// `POST /account/consents/revoke` (`client_id`, `csrf`): withdraws a consent and revokes
/// every token that client holds for the user.
#[utoipa::path(post, path = "/account/consents/revoke", tag = "oidc",
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Back to the account page"), (status = 403, description = "CSRF token refused", content_type = "text/html")))]
pub async fn revoke_consent(
    State(flow): State<Flow>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let authorizer = flow.authorizer.clone();
    account_action(
        &flow,
        &headers,
        &body,
        "client_id",
        |user, client| async move { authorizer.revoke_consent(&user, &client).await },
    )
    .await
}

/// The logout services.
#[derive(Clone)]
pub struct LogoutFlow {
    flow: Flow,
    logout: Arc<Logout>,
}

impl axum::extract::FromRef<crate::app::AppState> for LogoutFlow {
    fn from_ref(state: &crate::app::AppState) -> Self {
        LogoutFlow {
            flow: Flow::from_ref(state),
            logout: state.logout.clone(),
        }
    }
}

impl LogoutFlow {
    async fn run(
        &self,
        headers: &HeaderMap,
        params: BTreeMap<String, String>,
        confirmed: bool,
    ) -> Response {
        let flow = &self.flow;
        let request = LogoutRequest {
            id_token_hint: params.get("id_token_hint").cloned(),
            client_id: params.get("client_id").cloned(),
            post_logout_redirect_uri: params.get("post_logout_redirect_uri").cloned(),
            state: params.get("state").cloned(),
        };
        let checked = match self.logout.check(request).await {
            Ok(c) => c,
            Err(e) => return flow.render(headers, Err(e)),
        };
        let current = match session(flow.sessions(), &flow.pages, headers).await {
            Ok(s) => s,
            Err(e) => return failure(e),
        };
        let hinted_user = checked.subject.is_some()
            && current
                .as_ref()
                .is_none_or(|s| Some(&s.row.user_id) == checked.subject.as_ref());
        if current.is_some() && !hinted_user && !confirmed {
            let (token, set) = csrf(&flow.pages, headers);
            let mut carry = Vec::new();
            for (name, value) in [
                ("client_id", &checked.client_id),
                (
                    "post_logout_redirect_uri",
                    &checked.post_logout_redirect_uri,
                ),
                ("state", &checked.state),
            ] {
                if let Some(v) = value {
                    carry.push((name, v.as_str()));
                }
            }
            let mut page = Page::new(StatusCode::OK, html::logout_confirm(&token, &carry));
            page.cookies.extend(set);
            page.form_target = checked
                .post_logout_redirect_uri
                .as_deref()
                .and_then(origin_source);
            return page.into_response();
        }
        if let Some(s) = &current
            && let Err(e) = flow.sessions().revoke(&s.row.user_id, &s.row.id).await
        {
            return failure(e);
        }
        let clear = set_cookie(&flow.pages, flow.pages.session_cookie(), "", Some(0));
        match checked.redirect {
            Some(url) => see_other(&url, vec![clear]),
            None => {
                let mut page = Page::new(
                    StatusCode::OK,
                    html::message("Signed out", "You are signed out of this server."),
                );
                page.cookies.push(clear);
                page.into_response()
            }
        }
    }
}

/// `GET /logout` (RP-Initiated Logout 1.0): with a valid `id_token_hint` for the signed-in
/// user, signs out at once; otherwise asks the user to confirm. Sends the browser to
/// `post_logout_redirect_uri` (with `state`) only when it equals one the client registered.
#[utoipa::path(get, path = "/logout", tag = "oidc",
    params(("id_token_hint" = Option<String>, Query), ("client_id" = Option<String>, Query),
           ("post_logout_redirect_uri" = Option<String>, Query), ("state" = Option<String>, Query)),
    responses((status = 200, description = "Confirmation or signed-out page", content_type = "text/html"),
              (status = 303, description = "Signed out; back to the client"),
              (status = 400, description = "Unregistered post_logout_redirect_uri or invalid hint", content_type = "text/html")))]
pub async fn logout_get(
    State(flow): State<LogoutFlow>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params: BTreeMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    flow.run(&headers, params, false).await
}

/// `POST /logout`: the same as a form, or the confirmation (`confirm=yes` with `csrf`).
#[utoipa::path(post, path = "/logout", tag = "oidc",
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Confirmation or signed-out page", content_type = "text/html"),
              (status = 303, description = "Signed out; back to the client"),
              (status = 403, description = "CSRF token refused", content_type = "text/html")))]
pub async fn logout_post(
    State(flow): State<LogoutFlow>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // The RP's own POST carries no CSRF token; the user's confirmation must.
    let Some(form) = page_form(&headers, &body) else {
        return FormRefused::Invalid.into_response();
    };
    let confirmed = form.get("confirm").is_some_and(|c| c == "yes");
    if confirmed && !csrf_matches(&flow.flow.pages, &headers, &form) {
        return FormRefused::Csrf.into_response();
    }
    flow.run(&headers, form, confirmed).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_and_written_with_their_attributes() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sichat_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, "sichat_session"), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
        let mac = crate::service::keyed_mac::KeyedMac::new(zeroize::Zeroizing::new([1; 32]));
        let plain = Pages::new(mac, false);
        assert_eq!(
            set_cookie(&plain, plain.session_cookie(), "v", Some(60)),
            "sichat_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        let mac = crate::service::keyed_mac::KeyedMac::new(zeroize::Zeroizing::new([1; 32]));
        let secure = Pages::new(mac, true);
        assert_eq!(
            set_cookie(&secure, secure.session_cookie(), "v", None),
            "__Host-sichat_session=v; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
    }

    #[test]
    fn form_targets_are_origins() {
        assert_eq!(
            origin_source("https://rp.example:8443/cb?x=1").as_deref(),
            Some("https://rp.example:8443")
        );
        assert_eq!(
            origin_source("http://127.0.0.1:5000/cb").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            origin_source("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
    }
}
