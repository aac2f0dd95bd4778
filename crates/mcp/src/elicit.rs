//! Asking the person behind the client a question before a long run starts (elicitation,
//! form mode), in either protocol generation: a 2025-11-25 client gets an
//! `elicitation/create` request during the call; a 2026-07-28 client gets an
//! `InputRequiredResult` and answers on the retried call. A client that declared no form
//! elicitation is never asked: the tool behaves as it always did.

use rmcp::RoleServer;
use rmcp::model::{
    ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    InputRequest, InputRequiredResult, InputResponses,
};
use rmcp::service::RequestContext;
use serde_json::{Map, Value};

/// What came of a question.
pub enum Asked {
    /// The client cannot be asked: go on as without elicitation.
    NotAsked,
    /// 2026-07-28: answer the call with this; the client retries with the answer.
    Pending(InputRequiredResult),
    /// The person answered with these fields.
    Accepted(Map<String, Value>),
    /// The person chose not to answer (the call may go on without the answer).
    Declined,
    /// The person dismissed the whole operation.
    Cancelled,
}

/// Whether the client behind `ctx` takes form elicitation.
pub fn can_ask(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.client_capabilities()
        .and_then(|c| c.elicitation)
        .is_some_and(|e| e.form.is_some() || e.url.is_none())
}

/// Ask `message` with a form of `schema`, under `key`. `answers` are the input responses of
/// a retried 2026-07-28 call, which carry the answer to a question asked before.
pub async fn ask(
    ctx: &RequestContext<RoleServer>,
    answers: Option<&InputResponses>,
    key: &str,
    message: String,
    schema: ElicitationSchema,
) -> Asked {
    if let Some(answer) = answers.and_then(|a| a.get(key)) {
        return match serde_json::from_value::<ElicitResult>(answer.clone()) {
            Ok(r) => outcome(r),
            Err(e) => {
                tracing::info!(error = %e, "unreadable elicitation answer; going on without it");
                Asked::NotAsked
            }
        };
    }
    if !can_ask(ctx) {
        return Asked::NotAsked;
    }
    let params = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema: schema,
    };
    let stateless = ctx.protocol_version().is_some_and(|v| !v.has_initialize());
    if stateless {
        let request = InputRequest::Elicitation(ElicitRequest::new(params));
        return Asked::Pending(InputRequiredResult::from_input_requests(
            [(key.to_string(), request)].into_iter().collect(),
        ));
    }
    match ctx.peer.create_elicitation(params).await {
        Ok(r) => outcome(r),
        Err(e) => {
            tracing::info!(error = %e, "elicitation failed; going on without it");
            Asked::NotAsked
        }
    }
}

fn outcome(r: ElicitResult) -> Asked {
    match r.action {
        ElicitationAction::Accept => Asked::Accepted(match r.content {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        }),
        ElicitationAction::Decline => Asked::Declined,
        // `cancel`, and any action a later revision adds: do not go on.
        _ => Asked::Cancelled,
    }
}
