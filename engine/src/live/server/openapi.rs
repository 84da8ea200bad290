//! `/openapi.json`: an OpenAPI 3.0 description of every route in [`super::ROUTES`].

use actix_web::HttpResponse;
use serde_json::{Value, json};

use super::MAX_BODY_BYTES;

pub async fn serve_document() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

fn query(name: &str, required: bool, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": required, "schema": schema,
            "description": description })
}

fn path(name: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": schema })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An operation answering `ok` with `schema`, plus the error answers it can give.
fn op(
    summary: &str,
    params: Vec<Value>,
    body: Option<Value>,
    ok: u16,
    schema: Value,
    errors: &[u16],
) -> Value {
    let mut responses = serde_json::Map::new();
    responses.insert(
        ok.to_string(),
        json!({ "description": "success", "content": { "application/json": { "schema": schema } } }),
    );
    // Any body can be malformed or of the wrong media type, and any query unreadable.
    let mut implied = Vec::new();
    if body.is_some() {
        implied.extend([400, 415]);
    }
    if params.iter().any(|p| p["in"] == "query") {
        implied.push(400);
    }
    for status in errors.iter().chain(&implied) {
        responses.insert(
            status.to_string(),
            json!({ "description": "error", "content": { "application/json": { "schema": reference("Error") } } }),
        );
    }
    let mut operation = json!({ "summary": summary, "parameters": params, "responses": responses });
    if let Some(body) = body {
        operation["requestBody"] =
            json!({ "required": true, "content": { "application/json": { "schema": body } } });
    }
    operation
}

fn no_content(summary: &str, params: Vec<Value>, errors: &[u16]) -> Value {
    let mut operation = op(summary, params, None, 204, json!({}), errors);
    operation["responses"]["204"] = json!({ "description": "deleted" });
    operation
}

fn public(mut operation: Value) -> Value {
    operation["security"] = json!([]);
    operation
}

fn text(summary: &str) -> Value {
    public(json!({ "summary": summary, "responses": { "200": {
        "description": "OpenMetrics text format 1.0.0 (Prometheus scrapes it)",
        "content": { "application/openmetrics-text": { "schema": { "type": "string" } } } } } }))
}

/// A readiness check: 200 when ready, 503 with what fails and why.
fn readiness(summary: &str) -> Value {
    let mut operation = public(op(summary, vec![], None, 200, reference("Health"), &[]));
    operation["responses"]["503"] = json!({ "description": "not ready: `reason` says what fails",
        "content": { "application/json": { "schema": reference("Health") } } });
    operation
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn instant() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

fn object() -> Value {
    json!({ "type": "object" })
}

fn money() -> Value {
    json!({ "type": "number", "description": "decimal amount, kept to micro-units" })
}

fn list(item: Value) -> Value {
    json!({ "type": "array", "items": item })
}

fn schemas() -> Value {
    let money = money();
    let needs = list(reference("Need"));
    let mut all = json!({
        "Error": { "type": "object", "required": ["error"], "properties": {
            "error": string(), "field": string(),
            "value": { "type": "string", "description": "the value refused, when one was at fault" },
            "expected": { "type": "string", "description": "what would have been accepted" },
            "reason": { "type": "string", "enum": ["quota", "credit", "in_use"],
                "description": "quota (429), credit (402), or in use (409)" },
            "conflict": reference("Booking") } },
        "Credential": { "type": "object", "properties": {
            "id": string(), "name": string(), "type": reference("CredentialType"),
            "service": string(), "description": string(), "owner": string(),
            "permissions": list(string()), "created_at": instant(),
            "last_used": instant(), "usage_count": { "type": "integer" },
            "value": { "type": "string", "description": "only with includeValue=true" } } },
        "CredentialType": { "type": "string",
            "enum": ["api_key", "token", "password", "certificate", "other"] },
        "NewCredential": { "type": "object", "required": ["name", "type", "service", "value"],
            "additionalProperties": false, "properties": {
            "name": string(), "type": reference("CredentialType"), "service": string(),
            "description": string(), "owner": string(), "permissions": list(string()),
            "value": string() } },
        "Resource": { "type": "object", "required": ["name", "cost_per_hour"],
            "description": "kind also as the seed's `type`; an id (res-N) is assigned when absent",
            "properties": {
            "id": string(), "resource_id": string(), "name": string(),
            "kind": { "type": "string", "enum": ["server", "gpu", "service", "license", "other"] },
            "type": { "type": "string", "enum": ["server", "gpu", "service", "license", "other"] },
            "description": string(), "owner": { "type": "string", "nullable": true },
            "specs": { "type": "object", "additionalProperties": {} },
            "status": { "type": "string", "enum": ["available", "maintenance", "offline"] },
            "cost_per_hour": money, "max_booking_hours": { "type": "integer", "minimum": 1 },
            "tags": list(string()) } },
        "Booking": { "type": "object", "properties": {
            "id": { "type": "integer" }, "resource": string(), "client": string(),
            "start": instant(), "end": instant(),
            "status": { "type": "string", "enum": ["confirmed", "cancelled", "completed"] },
            "estimated_cost": money, "purpose": string(),
            "resource_id": string(), "resource_name": { "type": "string", "nullable": true },
            "booked_by": string(), "agent_id": string(),
            "start_time": instant(), "end_time": instant(),
            "actual_cost": { "type": "number", "nullable": true, "description": "its cost once completed" } } },
        "NewBooking": { "type": "object", "required": ["resource_id", "start_time", "end_time"],
            "additionalProperties": false, "properties": {
            "resource_id": string(), "client": string(), "agent_id": string(), "start_time": instant(),
            "end_time": instant(), "purpose": string() } },
        "CostType": { "type": "string",
            "enum": ["api_usage", "hosting", "booking", "license", "other"] },
        "CostEntry": { "type": "object", "properties": {
            "id": { "type": "integer" }, "client": string(), "type": reference("CostType"),
            "category": string(), "amount": money, "currency": string(), "at": instant(),
            "description": string(), "agent_id": string(), "cost_type": reference("CostType"),
            "timestamp": instant(),
            "metadata": { "type": "object", "additionalProperties": {} } } },
        "NewCost": { "type": "object", "required": ["amount"],
            "additionalProperties": false, "properties": {
            "client": string(), "agent_id": string(), "type": reference("CostType"),
            "cost_type": reference("CostType"),
            "category": { "type": "string", "description": "the type's name when absent" },
            "amount": money, "currency": { "type": "string", "description": "ISO 4217, USD by default" },
            "description": string(),
            "metadata": { "type": "object", "additionalProperties": {} } } },
        "CostSummary": { "type": "object", "properties": {
            "total": money, "count": { "type": "integer" },
            "by_type": { "type": "object", "additionalProperties": money },
            "by_category": { "type": "object", "additionalProperties": money },
            "by_client": { "type": "object", "additionalProperties": money },
            "by_agent": { "type": "object", "additionalProperties": money },
            "items": list(reference("CostEntry")) } },
        "Quota": { "type": "object", "required": ["id", "scope", "metric", "limit", "period"],
            "properties": {
            "id": string(),
            "scope": { "oneOf": [ { "type": "string", "enum": ["global"] },
                { "type": "object", "required": ["client"], "properties": { "client": string() } } ] },
            "metric": { "oneOf": [ { "type": "string",
                "enum": ["api_calls", "tokens", "cost", "storage", "compute_ms"] },
                { "type": "object", "required": ["named"], "properties": { "named": string() } } ] },
            "limit": { "type": "integer", "minimum": 1 },
            "period": { "type": "string", "enum": ["daily", "weekly", "monthly"] },
            "warning_threshold": { "type": "number" }, "hard_stop": { "type": "boolean" },
            "shadow": { "type": "boolean" }, "carry_over_cap": { "type": "integer" } } },
        "QuotaAnswer": { "type": "object", "properties": {
            "allowed": { "type": "boolean" }, "usage_ratio": { "type": "number" },
            "usage_percent": { "type": "number" },
            "quota": { "allOf": [ reference("QuotaStanding") ], "nullable": true,
                "description": "the applicable quota nearest its limit" },
            "warning": string(), "reason": string(), "agent_id": string(), "type": string() } },
        "Client": { "type": "object", "required": ["id", "tier"], "properties": {
            "id": string(),
            "tier": { "type": "string", "enum": ["basic", "standard", "premium", "enterprise"] },
            "credits": money, "monthly_budget": money, "max_concurrent": { "type": "integer" } } },
        "Pool": { "type": "object", "required": ["id", "kind"], "properties": {
            "id": string(), "kind": object(), "autoscale": object() } },
        "Need": { "type": "object", "required": ["pool", "amount"], "properties": {
            "pool": string(), "amount": { "type": "integer" } } },
        "EnqueueRequest": { "type": "object", "required": ["needs"],
            "additionalProperties": false, "properties": {
            "client": string(), "agent_id": string(),
            "class": { "type": "string",
                "enum": ["immediate", "fast", "normal", "batch", "deferred"] },
            "urgency": { "type": "number", "minimum": 0, "maximum": 1 },
            "needs": list(reference("Need")), "estimated_cost": money,
            "alternative": { "type": "object", "properties": {
                "needs": list(reference("Need")), "estimated_cost": money } },
            "batch": { "type": "object", "required": ["name", "max_size", "max_wait_secs"],
                "additionalProperties": false, "properties": {
                "name": string(), "max_size": { "type": "integer", "minimum": 2 },
                "max_wait_secs": { "type": "number", "minimum": 0 } } } } },
        "RequestState": { "type": "object", "properties": {
            "request_id": { "type": "integer" }, "agent_id": string(),
            "state": { "type": "string",
                "enum": ["queued", "running", "finished", "refused", "cancelled"] },
            "position": { "type": "integer" }, "is_running": { "type": "boolean" },
            "client": string(), "class": string(), "queued_at": instant(),
            "started_at": instant(), "ended_at": instant(),
            "waited_secs": { "type": "number" }, "downgraded": { "type": "boolean" },
            "batch": { "type": "integer" }, "reason": string(), "message": string(),
            "charged": money, "efficiency": { "type": "number" },
            "needs": needs.clone(), "alternative": needs } },
        "Health": { "type": "object", "required": ["status", "checks"], "properties": {
            "status": { "type": "string", "enum": ["ok", "failing"] },
            "checks": { "type": "object", "properties": {
                "journal_writer": reference("Check"), "database": reference("Check") } },
            "reason": { "type": "string", "description": "what fails and why, when failing" },
            "last_commit_error": { "type": "string", "description": "why the latest journal commit failed, if it did" } } },
        "Check": { "type": "object", "required": ["status"], "properties": {
            "status": { "type": "string", "enum": ["ok", "failing"] }, "reason": string() } },
        "Alert": { "type": "object", "required": ["id", "kind", "level", "subject", "message", "raised_at"],
            "properties": {
            "id": { "type": "integer", "minimum": 1 },
            "kind": { "type": "string", "enum": ["pool.capacity_low", "client.spend_high",
                "quota.usage_high", "queue.backup", "request.starving", "lease.expiring"] },
            "level": { "type": "string", "enum": ["info", "warning", "error", "critical"] },
            "subject": { "type": "string",
                "description": "pool:<id>, client:<id>, quota:<id>, request:<id> or queue" },
            "client": { "type": "string", "description": "the client concerned, if any" },
            "message": string(), "raised_at": instant(),
            "resolved_at": { "type": "string", "format": "date-time", "nullable": true,
                "description": "null while open" } } },
        "RequestCost": { "type": "object", "properties": {
            "request_id": { "type": "integer" }, "agent_id": string(), "state": string(),
            "charged": money, "efficiency": { "type": "number" } } },
    });
    // Two maps: one `json!` of them all passes the macro's recursion limit.
    if let (Some(all), Value::Object(more)) = (all.as_object_mut(), budget_schemas()) {
        all.extend(more);
    }
    all
}

/// Schemas of budgets, direct usage, quota standings and tokens.
fn budget_schemas() -> Value {
    let money = money();
    json!({
        "Account": { "type": "object", "properties": {
            "available": money, "reserved": money, "spent": money } },
        "Reservation": { "type": "object", "properties": {
            "reservation_id": { "type": "integer" }, "id": { "type": "integer" },
            "agent_id": string(), "client": string(), "request": { "type": "integer", "nullable": true },
            "amount": money, "reserved": money, "used": money,
            "status": { "type": "string", "enum": ["active", "settled", "released"] },
            "created_at": instant(), "closed_at": instant(),
            "alert": { "type": "string", "enum": ["warning", "critical"], "nullable": true },
            "charged": money, "returned": money, "uncovered": money,
            "efficiency": { "type": "number" }, "account": reference("Account") } },
        "NewReservation": { "type": "object", "additionalProperties": false, "properties": {
            "client": string(), "agent_id": string(),
            "estimated_cost": money, "amount": money, "estimate": money, "description": string() } },
        "Consume": { "type": "object", "additionalProperties": false,
            "description": "usage of work that did not go through the queue: one metric (`type`, `amount`) and/or several (`usage`), and a `cost` charged from credit",
            "properties": {
            "client": string(), "agent_id": string(),
            "type": string(), "metric": string(), "quota_type": string(), "resource_type": string(),
            "amount": { "type": "integer", "minimum": 0 },
            "usage": { "type": "object", "additionalProperties": { "type": "integer", "minimum": 0 } },
            "cost": money,
            "force": { "type": "boolean", "description": "count it even past a hard quota or the credit" } } },
        "Consumed": { "type": "object", "properties": {
            "agent_id": string(), "client": string(),
            "consumed": { "type": "object", "additionalProperties": { "type": "integer" } },
            "cost": money, "charged": money, "uncovered": money,
            "usage_ratio": { "type": "number" }, "usage_percent": { "type": "number" },
            "warning": string(), "account": reference("Account") } },
        "Token": { "type": "object", "properties": {
            "id": { "type": "integer" }, "role": { "type": "string", "enum": ["admin", "client"] },
            "client": string(), "created_at": instant(), "expires_at": instant(),
            "hint": { "type": "string", "description": "the token's first characters" },
            "token": { "type": "string", "description": "only in the answer that creates it" } } },
        "QuotaStanding": { "allOf": [ reference("Quota"), { "type": "object", "properties": {
            "current_usage": { "type": "integer" }, "allowance": { "type": "integer" },
            "usage_ratio": { "type": "number" }, "usage_percent": { "type": "number" },
            "period_start": instant(), "period_end": instant(),
            "agent_id": { "type": "string", "nullable": true }, "type": string(),
            "hard_limit": { "type": "boolean" } } } ] },
        "NewQuota": { "type": "object", "required": ["limit", "period"], "additionalProperties": false,
            "description": "the seed's shape (agent_id, type, hard_limit; no id: named <client|global>:<metric>:<period>) or ours (id, scope, metric, hard_stop)",
            "properties": {
            "id": string(), "scope": { "oneOf": [ { "type": "string", "enum": ["global"] },
                { "type": "object", "required": ["client"], "properties": { "client": string() } } ] },
            "client": string(), "agent_id": string(),
            "metric": {}, "type": string(), "quota_type": string(),
            "limit": { "type": "integer", "minimum": 1 },
            "period": { "type": "string", "enum": ["daily", "weekly", "monthly"] },
            "warning_threshold": { "type": "number" }, "hard_stop": { "type": "boolean" },
            "hard_limit": { "type": "boolean" }, "shadow": { "type": "boolean" },
            "carry_over_cap": { "type": "integer" } } },
    })
}

/// The fleet view's answers (a second `json!`, which stays within the macro's recursion
/// limit).
fn fleet_schemas() -> Value {
    let money = json!({ "type": "number", "description": "decimal amount, kept to micro-units" });
    json!({
        "PoolGauge": { "type": "object", "properties": {
            "id": string(), "kind": { "type": "string", "enum": ["rate", "slot"] },
            "size": { "type": "number" }, "utilisation": { "type": "number", "minimum": 0, "maximum": 1 },
            "in_use": { "type": "number" }, "available": { "type": "number" },
            "price": money, "price_per": { "type": "string", "enum": ["hour", "1k_units"] },
            "refill_per_sec": { "type": "number", "nullable": true },
            "autoscale": { "type": "object", "nullable": true, "properties": {
                "min": { "type": "integer" }, "max": { "type": "integer" } } },
            "scaling": list(json!({ "type": "object", "properties": {
                "at": instant(), "from": { "type": "number" }, "to": { "type": "number" }, "reason": string() } })) } },
        "Waits": { "type": "object", "description": "seconds from submission to start", "properties": {
            "started": { "type": "integer" }, "mean": { "type": "number" }, "p50": { "type": "number" },
            "p90": { "type": "number" }, "p99": { "type": "number" }, "max": { "type": "number" } } },
        "QueueView": { "type": "object", "properties": {
            "queued": { "type": "object", "additionalProperties": { "type": "integer" } },
            "total_queued": { "type": "integer" }, "running": { "type": "integer" },
            "waits": { "type": "object", "additionalProperties": reference("Waits") } } },
        "FleetSeries": { "type": "object", "properties": {
            "pools": list(string()),
            "samples": list(json!({ "type": "object", "properties": {
                "at": instant(), "queued": { "type": "integer" }, "running": { "type": "integer" },
                "spent": money,
                "pools": list(json!({ "type": "object", "properties": {
                    "utilisation": { "type": "number" }, "size": { "type": "number" },
                    "predicted": { "type": "number", "nullable": true } } })) } })) } },
        "CostSeries": { "type": "object", "properties": {
            "from_date": instant(), "to_date": instant(), "bucket_secs": { "type": "integer" },
            "buckets": list(json!({ "type": "object", "properties": { "start": instant(), "total": money } })),
            "forecast": { "type": "object", "properties": {
                "period_start": instant(), "period_end": instant(), "now": instant(),
                "spent": money, "projected": money,
                "budget": { "type": "number", "nullable": true } } } } }
    })
}

/// The whole document.
pub fn document() -> Value {
    let id = || path("id", string());
    let seq = || path("id", json!({ "type": "integer", "minimum": 0 }));
    let client_id = || path("client_id", string());
    let agent = |required| {
        query(
            "agent_id",
            required,
            string(),
            "the client acted for (also accepted as `client`); a client token may name only itself",
        )
    };
    let r = reference;
    let completion = json!({ "type": "object", "additionalProperties": false, "properties": {
                    "actual_cost": { "type": "number" },
                    "used": { "type": "object", "additionalProperties": { "type": "integer", "minimum": 0 },
                        "description": "units really used of each pool, by pool id; unused tokens go back to their bucket" },
                    "tokens_used": { "type": "integer", "minimum": 0, "description": "for a request holding one rate pool" },
                    "compute_ms": { "type": "integer", "minimum": 0, "description": "also as compute_time_ms" } } });
    let mut paths = json!({
        "/status": { "get": public(op("Engine counts and uptime", vec![], None, 200, object(), &[])) },
        "/metrics": { "get": text("Metrics: pools, queues, request outcomes and waits, client credit, quota ratios, open alerts, journal commit latency") },
        "/openapi.json": { "get": public(op("This document", vec![], None, 200, object(), &[])) },
        "/ws": { "get": op("WebSocket of events (JSON text frames with a `type` such as quota.warning); the token may also be given as ?token=",
            vec![agent(false), query("token", false, string(), "bearer token, for clients that cannot set headers")],
            None, 101, object(), &[401, 403]) },
        "/api/clients": {
            "get": op("Registered clients (admin)", vec![], None, 200, list(r("Client")), &[401, 403]),
            "post": op("Register a client (admin)", vec![], Some(r("Client")), 201, r("Client"), &[400, 401, 403, 409, 413, 422]) },
        "/api/pools": {
            "get": op("Registered pools with their current prices", vec![], None, 200, list(r("Pool")), &[401]),
            "post": op("Register a pool (admin)", vec![], Some(r("Pool")), 201, r("Pool"), &[400, 401, 403, 409, 413, 422]) },
        "/api/cost/estimate": {
            "post": op("What needs would cost at the pools' current prices",
                vec![],
                Some(json!({ "type": "object", "required": ["needs"], "additionalProperties": false, "properties": {
                    "needs": list(r("Need")),
                    "duration_secs": { "type": "number", "minimum": 0, "description": "how long slot pools are held" } } })),
                200,
                json!({ "type": "object", "properties": { "estimated_cost": { "type": "number" },
                    "by_pool": { "type": "object", "additionalProperties": { "type": "number" } } } }),
                &[400, 401, 404, 413, 422]) },
        "/api/credentials": {
            "get": op("Credentials' metadata (a client token: its own)", vec![query("owner", false, string(), "only this owner's")], None, 200, list(r("Credential")), &[401, 403]),
            "post": op("Store a credential", vec![], Some(r("NewCredential")), 201, r("Credential"), &[400, 401, 403, 413, 422]) },
        "/api/credentials/{id}": {
            "get": op("A credential's metadata, and its value with includeValue=true (owner or admin)",
                vec![id(), query("includeValue", false, json!({ "type": "boolean" }), "decrypt and include the value")],
                None, 200, r("Credential"), &[401, 403, 404]),
            "delete": no_content("Delete a credential", vec![id()], &[401, 403, 404]) },
        "/api/resources": {
            "get": op("Bookable resources", vec![], None, 200, list(r("Resource")), &[401]),
            "post": op("Register a resource (admin)", vec![], Some(r("Resource")), 201, r("Resource"), &[400, 401, 403, 409, 413, 422]) },
        "/api/resources/availability": {
            "get": op("Confirmed bookings of a resource within a window",
                vec![query("resource_id", true, string(), ""), query("from_date", true, instant(), ""), query("to_date", true, instant(), "")],
                None, 200, object(), &[400, 401, 404]) },
        "/api/resources/metrics": {
            "get": op("Bookings per resource", vec![], None, 200, list(object()), &[401]) },
        "/api/resources/{id}": {
            "get": op("One resource", vec![id()], None, 200, r("Resource"), &[401, 404]),
            "delete": op("Remove a resource (admin): 409 while it has confirmed bookings that have not ended; past bookings stay listed", vec![id()], None, 200, object(), &[401, 403, 404, 409]) },
        "/api/bookings": {
            "get": op("Bookings (a client token: its own)",
                vec![query("resource_id", false, string(), ""), agent(false),
                     query("status", false, json!({ "type": "string", "enum": ["confirmed", "cancelled", "completed"] }), ""),
                     query("from_date", false, instant(), ""), query("to_date", false, instant(), "")],
                None, 200, list(r("Booking")), &[400, 401, 403]),
            "post": op("Book a resource; 409 names the conflicting booking", vec![], Some(r("NewBooking")), 201, r("Booking"), &[400, 401, 403, 404, 409, 413, 422]) },
        "/api/bookings/{id}": {
            "delete": op("Cancel a booking", vec![seq()], None, 200, r("Booking"), &[401, 403, 404, 409]) },
        "/api/costs": {
            "get": op("Cost summary (a client token: its own)",
                vec![agent(false), query("type", false, r("CostType"), ""), query("from_date", false, instant(), ""),
                     query("to_date", false, instant(), ""), query("limit", false, json!({ "type": "integer" }), "items listed, 100 by default")],
                None, 200, r("CostSummary"), &[400, 401, 403]),
            "post": op("Record a cost", vec![], Some(r("NewCost")), 201, r("CostEntry"), &[400, 401, 403, 413, 422]) },
        "/api/quotas": {
            "get": op("Quotas with their usage this period (a client token: those applying to it)", vec![], None, 200, list(r("QuotaStanding")), &[401]),
            "post": op("Add or change a quota (admin; usage is kept)", vec![], Some(r("NewQuota")), 200, r("QuotaStanding"), &[400, 401, 403, 404, 413, 422]) },
        "/api/quotas/{id}": {
            "delete": op("Remove a quota (admin); its usage is forgotten", vec![id()], None, 200, object(), &[401, 403, 404]) },
        "/api/quotas/check": {
            "get": op("Whether a client may use an amount of a metric now (counts nothing)",
                vec![agent(false), query("type", true, string(), "the metric, e.g. api_calls"), query("amount", false, json!({ "type": "integer", "minimum": 0 }), "1 by default")],
                None, 200, r("QuotaAnswer"), &[400, 401, 403, 404, 422]) },
        "/api/quotas/{id}/usage": {
            "put": op("Set a quota's usage (admin, or the client of a client-scoped quota)", vec![id()],
                Some(json!({ "type": "object", "required": ["used"], "additionalProperties": false, "properties": { "used": { "type": "integer", "minimum": 0 } } })),
                200, object(), &[400, 401, 403, 404, 413, 422]) },
        "/api/quotas/{id}/reset": {
            "post": op("Zero a quota's usage", vec![id()], None, 200, object(), &[401, 403, 404]) },
        "/api/usage/{client_id}": {
            "get": op("A client's request tallies per class and its credit", vec![client_id()], None, 200, object(), &[401, 403, 404]) },
        "/api/usage/{client_id}/current": {
            "get": op("A client's credit: available, reserved, spent", vec![client_id()], None, 200, object(), &[401, 403, 404]) },
        "/api/queue/enqueue": {
            "post": op("Submit a request for pooled capacity; with ?wait=SECS the answer waits (up to 300 s) for its start or refusal",
                vec![query("wait", false, json!({ "type": "number", "minimum": 0, "maximum": 300 }), "seconds to wait for the outcome")],
                Some(r("EnqueueRequest")), 201, r("RequestState"), &[400, 401, 403, 404, 409, 413, 422]) },
        "/api/queue/status": {
            "get": op("Queue depth per class and running count", vec![], None, 200, object(), &[401]) },
        "/api/queue/position/{id}": {
            "get": op("Where a request stands in the queue", vec![seq()], None, 200, r("RequestState"), &[401, 403, 404]) },
        "/api/queue/{id}": {
            "delete": op("Cancel a queued or running request", vec![seq()], None, 200, r("RequestState"), &[401, 403, 404, 409]) },
        "/api/execution/{id}": {
            "get": op("A request's state, times, wait, refusal reason and cost", vec![seq()], None, 200, r("RequestState"), &[401, 403, 404]) },
        "/api/cost/{id}": {
            "get": op("What a request was charged when its reservation settled", vec![seq()], None, 200, r("RequestCost"), &[401, 403, 404]) },
        "/api/execution/{id}/cancel": {
            "post": op("Cancel a queued or running request", vec![seq()], None, 200, r("RequestState"), &[401, 403, 404, 409]) },
        "/api/execution/{id}/complete": {
            "post": op("Report a running request finished; settles its reservation (empty body: priced from its pools and time)", vec![seq()],
                Some(completion),
                200, r("RequestState"), &[400, 401, 403, 404, 409, 413, 422]) },
    });
    // The dashboard's reads, in a second `json!` to stay within the macro's recursion limit.
    let fleet_paths = json!({
        "/api/whoami": {
            "get": op("Who the token acts for: {\"role\": \"admin\"} or {\"role\": \"client\", \"client\": id}", vec![], None, 200, object(), &[401]) },
        "/api/fleet/pools": {
            "get": op("Every pool now: size, utilisation, tokens or slots free, price, autoscale bounds and the newest scaling events",
                vec![], None, 200, list(r("PoolGauge")), &[401]) },
        "/api/fleet/queue": {
            "get": op("Queue depth per class, running count, and waits from submission to start per class (a client token: its own waits)",
                vec![agent(false)], None, 200, r("QueueView"), &[400, 401, 403, 404]) },
        "/api/fleet/series": {
            "get": op("The monitor's newest samples: utilisation, size and forecast per pool, queue, running; the fleet's spend for an admin",
                vec![query("limit", false, json!({ "type": "integer", "minimum": 0 }), "samples answered, newest, 360 by default")],
                None, 200, r("FleetSeries"), &[400, 401]) },
        "/api/costs/series": {
            "get": op("Costs per bucket of time over a range, and this month's spend projected to the month's end beside the budget (a client token: its own)",
                vec![agent(false), query("type", false, r("CostType"), ""),
                     query("from_date", false, instant(), "30 days before to_date by default"),
                     query("to_date", false, instant(), "now by default"),
                     query("bucket_secs", false, json!({ "type": "integer", "minimum": 1 }), "an hour for ranges up to three days, else a day; at most 2,000 buckets")],
                None, 200, r("CostSeries"), &[400, 401, 403]) }
    });
    if let (Some(all), Value::Object(more)) = (paths.as_object_mut(), fleet_paths) {
        all.extend(more);
    }
    if let (Some(all), Value::Object(more)) = (paths.as_object_mut(), budget_paths()) {
        all.extend(more);
    }
    let mut all_schemas = schemas();
    if let (Some(all), Value::Object(more)) = (all_schemas.as_object_mut(), fleet_schemas()) {
        all.extend(more);
    }
    // Operators' routes, added apart: one `json!` of every path would pass the macro's
    // recursion limit.
    paths["/health"] = json!({ "get": readiness("Whether the engine can take changes: its journal writer answers and its database takes a write (as /health/ready)") });
    paths["/health/ready"] = json!({ "get": readiness("Readiness: the journal writer answers and the database takes a write") });
    paths["/health/live"] = json!({ "get": public(op("Liveness: the process serves HTTP (checks nothing else)", vec![], None, 200, object(), &[])) });
    paths["/api/execution/{id}/heartbeat"] = json!({
        "post": op("A worker's heartbeat: the running request's lease starts afresh (empty body: its own lease length)",
            vec![path("id", json!({ "type": "integer", "minimum": 0 }))],
            Some(json!({ "type": "object", "additionalProperties": false, "properties": { "lease_secs": { "type": "number", "minimum": 0, "exclusiveMinimum": true } } })),
            200, object(), &[400, 401, 403, 404, 409, 413, 422]) });
    paths["/admin/alerts"] = json!({
        "get": op("Alerts, open first (admin)",
            vec![query("state", false, json!({ "type": "string", "enum": ["open", "all"], "default": "open" }), "open alerts only, or also the resolved ones kept"),
                 query("level", false, json!({ "type": "string", "enum": ["info", "warning", "error", "critical"] }), "only alerts of this level"),
                 query("subject", false, string(), "a kind of subject (pool, client, quota, request, queue) or one subject such as pool:gpu")],
            None, 200, list(r("Alert")), &[400, 401, 403]) });
    nullable_optionals(&mut all_schemas);
    nullable_optionals(&mut paths);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Quartermaster",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!("Scheduling and resource management for fleets of AI agents. Errors answer {{\"error\", \"field\"?, \"value\"?, \"expected\"?, \"reason\"?}}; bodies over {MAX_BODY_BYTES} bytes answer 413."),
        },
        "components": {
            "schemas": all_schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
        },
        "security": [ { "bearer": [] } ],
        "paths": paths,
    })
}

/// Routes of budgets, credit, removal of clients and tokens.
fn budget_paths() -> Value {
    let id = || path("id", string());
    let seq = || path("id", json!({ "type": "integer", "minimum": 0 }));
    let agent = |required| {
        query(
            "agent_id",
            required,
            string(),
            "the client acted for (also accepted as `client`)",
        )
    };
    let r = reference;
    json!({
        "/api/clients/{id}": {
            "delete": op("Remove a client (admin): 409 while it has queued or running requests, active reservations or bookings to come, unless ?drain=true cancels them first; its quotas and tokens go with it",
                vec![id(), query("drain", false, json!({ "type": "boolean" }), "cancel its work, release its reservations and cancel its bookings first")],
                None, 200, object(), &[400, 401, 403, 404, 409]) },
        "/api/clients/{id}/credit": {
            "post": op("Pay credit into a client's account (admin)", vec![id()],
                Some(json!({ "type": "object", "required": ["amount"], "additionalProperties": false, "properties": { "amount": money() } })),
                200, object(), &[400, 401, 403, 404, 413, 422]) },
        "/api/credit/transfer": {
            "post": op("Move available credit from one client to another, atomically (admin, or the giver's own token)", vec![],
                Some(json!({ "type": "object", "required": ["to", "amount"], "additionalProperties": false, "properties": {
                    "from": string(), "from_agent_id": string(), "to": string(), "to_agent_id": string(), "amount": money() } })),
                200, object(), &[400, 401, 402, 403, 404, 413, 422]) },
        "/internal/reserve": {
            "post": op("Reserve credit for work the client runs itself (the seed's name)", vec![], Some(r("NewReservation")), 201, r("Reservation"), &[400, 401, 402, 403, 404, 413, 422]) },
        "/internal/release": {
            "post": op("Release a reservation: all of it returns to available credit (the seed's name)", vec![],
                Some(json!({ "type": "object", "required": ["reservation_id"], "additionalProperties": false, "properties": { "reservation_id": { "type": "integer" } } })),
                200, r("Reservation"), &[400, 401, 403, 404, 409, 413, 422]) },
        "/internal/consume": {
            "post": op("Count usage directly against quotas and credit, all or nothing (the seed's name)", vec![], Some(r("Consume")), 200, r("Consumed"), &[400, 401, 402, 403, 404, 413, 422, 429]) },
        "/api/usage/consume": {
            "post": op("Same as /internal/consume", vec![], Some(r("Consume")), 200, r("Consumed"), &[400, 401, 402, 403, 404, 413, 422, 429]) },
        "/api/reservations": {
            "post": op("Same as /internal/reserve", vec![], Some(r("NewReservation")), 201, r("Reservation"), &[400, 401, 402, 403, 404, 413, 422]) },
        "/api/reservations/{id}": {
            "get": op("A reservation, active or closed", vec![seq()], None, 200, r("Reservation"), &[401, 403, 404]),
            "delete": op("Release a reservation", vec![seq()], None, 200, r("Reservation"), &[401, 403, 404, 409]) },
        "/api/reservations/{id}/track": {
            "post": op("Record the cost used so far; `alert` is warning at 80% and critical at 95%, each once", vec![seq()],
                Some(json!({ "type": "object", "required": ["used"], "additionalProperties": false, "properties": { "used": money() } })),
                200, r("Reservation"), &[400, 401, 403, 404, 409, 413, 422]) },
        "/api/reservations/{id}/settle": {
            "post": op("Close a reservation at its actual cost: unused credit returns", vec![seq()],
                Some(json!({ "type": "object", "required": ["actual_cost"], "additionalProperties": false, "properties": { "actual_cost": money() } })),
                200, r("Reservation"), &[400, 401, 403, 404, 409, 413, 422]) },
        "/api/tokens": {
            "get": op("Stored tokens, never their secrets (admin)", vec![agent(false)], None, 200, list(r("Token")), &[400, 401, 403]),
            "post": op("Create a token (admin); its secret is in this answer only", vec![],
                Some(json!({ "type": "object", "additionalProperties": false, "properties": {
                    "client": string(), "agent_id": string(), "expires_in_secs": { "type": "integer", "minimum": 1 } } })),
                201, r("Token"), &[400, 401, 403, 404, 413, 422]) },
        "/api/tokens/{id}": {
            "delete": op("Revoke a token (admin): refused from its next request on", vec![seq()], None, 200, r("Token"), &[401, 403, 404]) },
    })
}

/// Marks every property a schema does not require as nullable: answers write an absent
/// optional value as `null` (serde's `Option`), and bodies may too.
fn nullable_optionals(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let required: Vec<String> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(Value::Object(properties)) = map.get_mut("properties") {
                for (name, property) in properties.iter_mut() {
                    if !required.contains(name)
                        && let Some(fields) = property.as_object_mut()
                        && fields.contains_key("type")
                    {
                        fields.insert("nullable".into(), Value::Bool(true));
                    }
                }
            }
            map.values_mut().for_each(nullable_optionals);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_optionals),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::ROUTES;
    use super::*;

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        for (method, route) in ROUTES {
            let operation = &paths
                .get(*route)
                .unwrap_or_else(|| panic!("{route} undocumented"))[method.to_lowercase()];
            assert!(operation.is_object(), "{method} {route} undocumented");
        }
        let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(
            documented,
            ROUTES.len(),
            "the document lists routes the server lacks"
        );
    }
}
