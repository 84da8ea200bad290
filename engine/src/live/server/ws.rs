//! `GET /ws`: the engine's events as JSON text frames, optionally only one client's.

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::Message;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::{Caller, ServerState};
use crate::model::{ClientId, Event};

#[derive(Deserialize)]
pub struct EventsQuery {
    /// The client (the seed's `agent_id` is accepted too).
    #[serde(alias = "agent_id")]
    client: Option<ClientId>,
    /// Read by the authentication, for clients that cannot set headers.
    #[serde(rename = "token")]
    _token: Option<String>,
}

/// Whether a watcher limited to `agent` sees `event`: events about that client, and those
/// about no client in particular (pools, resources, quotas' settings).
fn wanted(agent: Option<&ClientId>, event: &Event) -> bool {
    match (agent, event.kind.client()) {
        (None, _) | (_, None) => true,
        (Some(agent), Some(client)) => agent == client,
    }
}

pub async fn events(
    state: web::Data<ServerState>,
    caller: Caller,
    query: web::Query<EventsQuery>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let agent = caller.scope(query.into_inner().client)?;
    let mut events = state.engine.subscribe();
    let (response, mut session, mut incoming) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) if wanted(agent.as_ref(), &event) => {
                        let Ok(text) = serde_json::to_string(&event) else { continue };
                        if session.text(text).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "a WebSocket watcher fell behind and missed events");
                    }
                    Err(RecvError::Closed) => break,
                },
                message = incoming.recv() => match message {
                    Some(Ok(Message::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
            }
        }
        let _ = session.close(None).await;
    });
    Ok(response)
}
