//! The DIDComm mediator's transports: `POST /didcomm` (one packed message per request, a
//! reply in the response when the message asked for `return_route`) and the WebSocket
//! `GET /didcomm/ws` (one packed message per frame, replies on the socket, live delivery).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::{Message as Frame, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sichat_core::didcomm::{jwe, jws};
use sichat_core::store::QueuedMessage;
use tokio::sync::mpsc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ProblemKind};
use crate::service::mediator::live::SESSION_BACKLOG;
use crate::service::mediator::{Mediator, MediatorError, Outcome, Session, Transport};

/// A WebSocket session with no frame from its client for this long is closed (a ping goes
/// out every third of it).
const SESSION_SILENCE: Duration = Duration::from_secs(90);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receive))
        .routes(routes!(websocket))
        .routes(routes!(invitation))
        .routes(routes!(invitation_url))
        // The mediator's own limit applies (`didcomm_max_message_bytes`).
        .layer(axum::extract::DefaultBodyLimit::disable())
}

impl From<MediatorError> for ApiError {
    fn from(e: MediatorError) -> Self {
        match &e {
            MediatorError::TooLarge(_) => {
                ApiError::new(ProblemKind::PAYLOAD_TOO_LARGE, e.to_string())
            }
            MediatorError::Unreadable(inner) => {
                let mut err = ApiError::new(ProblemKind::DIDCOMM_UNREADABLE, inner.to_string());
                err.0
                    .extensions
                    .insert("code".into(), inner.problem_code().into());
                err
            }
            MediatorError::Reply(_) => ApiError::internal(e),
            MediatorError::Storage(_) => {
                tracing::error!(error = %e, "a DIDComm message could not be stored");
                ApiError::new(
                    ProblemKind::STORAGE_UNAVAILABLE,
                    "the message could not be stored; nothing was accepted",
                )
            }
        }
    }
}

fn packed_response(status: StatusCode, body: String, media_type: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, media_type)], body).into_response()
}

/// `POST /didcomm`: a packed DIDComm message for this server's DID
/// (`application/didcomm-encrypted+json` or `application/didcomm-signed+json`). 202 when
/// accepted with nothing to return on this connection; 200 with the packed reply when the
/// message set `return_route`; 507 with a problem report when the recipient's queue is
/// full. Nothing is answered 2xx before what it stored is durable.
#[utoipa::path(post, path = "/didcomm", tag = "didcomm",
    request_body(content = String, content_type = "application/didcomm-encrypted+json", description = "A packed DIDComm v2 message (JWE, or JWS with `application/didcomm-signed+json`)"),
    responses(
        (status = 200, description = "The packed reply (encrypted for an authenticated sender, signed otherwise)", body = String, content_type = "application/didcomm-encrypted+json"),
        (status = 202, description = "Accepted (stored, when it is a forward)"),
        (status = 400, description = "Unreadable: not for this server, malformed, expired, replayed, or a broken sender binding; `code` is the problem-report code", body = crate::http::ProblemBody, content_type = "application/problem+json"),
        (status = 413, body = crate::http::ProblemBody, content_type = "application/problem+json"),
        (status = 415, body = crate::http::ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The message could not be stored, or too many messages are being handled (`Retry-After`): nothing was accepted", body = crate::http::ProblemBody, content_type = "application/problem+json"),
        (status = 507, description = "The recipient's queue is full (a signed problem report)", body = String, content_type = "application/didcomm-signed+json")))]
pub async fn receive(
    State(mediator): State<Arc<Mediator>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if media_type != jwe::TYP && media_type != jws::TYP {
        return Err(ApiError::new(
            ProblemKind::UNSUPPORTED_MEDIA_TYPE,
            format!("send `Content-Type: {}` (or `{}`)", jwe::TYP, jws::TYP),
        ));
    }
    let limit = mediator.settings().max_message_bytes;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::from(MediatorError::TooLarge(limit)))?;
    let _place = mediator
        .try_admit()
        .ok_or_else(|| ApiError::busy("too many DIDComm messages are being handled"))?;
    Ok(match mediator.receive(&bytes, Transport::Http).await? {
        Outcome::Accepted => StatusCode::ACCEPTED.into_response(),
        Outcome::Reply { body, media_type } => packed_response(StatusCode::OK, body, media_type),
        Outcome::Refused {
            status,
            body,
            media_type,
        } => packed_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            body,
            media_type,
        ),
    })
}

/// `GET /didcomm/ws`: a WebSocket for DIDComm (one packed message per text frame; replies
/// on the socket; pickup live mode pushes `delivery` messages as they are queued).
#[utoipa::path(get, path = "/didcomm/ws", tag = "didcomm",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 503, description = "Too many sessions", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn websocket(
    State(mediator): State<Arc<Mediator>>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let permit = mediator
        .session_permit()
        .ok_or_else(|| ApiError::busy("too many DIDComm WebSocket sessions"))?;
    let max = mediator.settings().max_message_bytes;
    Ok(ws
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let _permit = permit;
            session(mediator, socket).await;
        }))
}

async fn session(mediator: Arc<Mediator>, mut socket: WebSocket) {
    let (tx, mut pushed) = mpsc::channel::<QueuedMessage>(SESSION_BACKLOG);
    let session = Session::new(tx);
    let stop = mediator.stop_token().clone();
    let mut ping = tokio::time::interval(SESSION_SILENCE / 3);
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            frame = socket.recv() => {
                heard = Instant::now();
                let bytes = match frame {
                    Some(Ok(Frame::Text(t))) => t.as_bytes().to_vec(),
                    Some(Ok(Frame::Binary(b))) => b.to_vec(),
                    Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => continue,
                    Some(Ok(Frame::Close(_))) | Some(Err(_)) | None => break,
                };
                let Some(_place) = mediator.admit().await else { break };
                let answer = match mediator.receive(&bytes, Transport::WebSocket(&session)).await {
                    Ok(Outcome::Accepted) => None,
                    Ok(Outcome::Reply { body, .. } | Outcome::Refused { body, .. }) => Some(body),
                    Err(e) => {
                        // No DIDComm answer exists: say why in a problem details object.
                        let problem = ApiError::from(e).0;
                        Some(serde_json::json!({
                            "problem": problem.kind.slug, "title": problem.kind.title,
                            "detail": problem.detail, "code": problem.extensions.get("code"),
                        }).to_string())
                    }
                };
                if let Some(text) = answer
                    && socket.send(Frame::Text(text.into())).await.is_err()
                {
                    break;
                }
            }
            Some(queued) = pushed.recv() => {
                let client = session.client.lock().ok().and_then(|c| c.clone());
                let Some(client) = client else { continue };
                let delivery = mediator.delivery(&client, None, None, std::slice::from_ref(&queued));
                match mediator.pack(&delivery, Some(&client)).await {
                    Ok((body, _)) => {
                        if socket.send(Frame::Text(body.into())).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "a live delivery could not be packed"),
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > SESSION_SILENCE || socket.send(Frame::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
            _ = stop.cancelled() => {
                let _ = socket.send(Frame::Close(None)).await;
                break;
            }
        }
    }
    mediator.live().unregister(session.id);
}

/// `GET /didcomm/invitation`: an out-of-band 2.0 invitation (plaintext JSON) to request
/// mediation from this server's DID.
#[utoipa::path(get, path = "/didcomm/invitation", tag = "didcomm",
    responses((status = 200, description = "The invitation", body = Object, content_type = "application/json")))]
pub async fn invitation(State(mediator): State<Arc<Mediator>>) -> Response {
    let inv = mediator.invitation();
    ([(header::CONTENT_TYPE, "application/json")], inv.to_bytes()).into_response()
}

/// `GET /didcomm/invitation/url`: the same invitation as a URL (`?_oob=` + base64url).
#[utoipa::path(get, path = "/didcomm/invitation/url", tag = "didcomm",
    responses((status = 200, description = "The invitation URL", body = String, content_type = "text/plain")))]
pub async fn invitation_url(State(mediator): State<Arc<Mediator>>) -> Response {
    let url = sichat_core::didcomm::protocols::out_of_band::to_url(
        &format!("{}/invitation", mediator.settings().endpoint),
        &mediator.invitation(),
    );
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], url).into_response()
}
