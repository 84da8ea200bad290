//! The API agents call, against the real `qm serve`: the seed's bodies and answer shapes,
//! budgets over HTTP, credit top-ups and sharing, actual usage at completion, removals
//! and their refusals, tokens listed, expired and revoked, and all of it across a restart.
//!
//! The seed bodies below are written as the seed's examples write them (its field names:
//! `agent_id`, `type`, `description`, `owner`, `currency`, numeric `metadata`, no ids).

use std::time::Duration;

use serde_json::{Value, json};

use super::{ADMIN, Server, fleet, token_for};

const ADMIN_T: Option<&str> = Some(ADMIN);

fn sum_credit(s: &Server, clients: &[&str]) -> f64 {
    clients
        .iter()
        .map(|c| {
            let account =
                &s.ok("GET", &format!("/api/usage/{c}/current"), ADMIN_T, None)["account"];
            ["available", "reserved", "spent"]
                .iter()
                .map(|k| account[k].as_f64().unwrap())
                .sum::<f64>()
        })
        .sum()
}

#[test]
fn the_seed_bodies_are_accepted_and_answered_in_the_seed_shapes() {
    let f = fleet();
    let s = &f.server;
    // Seed 002's resource: `type`, `description`, `owner`, numeric specs, no id.
    let gpu = s.ok(
        "POST",
        "/api/resources",
        ADMIN_T,
        Some(json!({
            "name": "GPU Server 1",
            "type": "gpu",
            "description": "A100 node for fine-tuning",
            "specs": { "gpu_model": "A100", "memory_gb": 80, "nvlink": true },
            "cost_per_hour": 2.5,
            "owner": "ml-team",
            "tags": ["training"]
        })),
    );
    assert_eq!(gpu["id"], "res-2", "{gpu}");
    assert_eq!(gpu["resource_id"], "res-2");
    assert_eq!(
        (gpu["type"].clone(), gpu["kind"].clone()),
        (json!("gpu"), json!("gpu"))
    );
    assert_eq!(gpu["owner"], "ml-team");
    assert_eq!(gpu["description"], "A100 node for fine-tuning");
    assert_eq!(gpu["specs"]["memory_gb"], 80, "numbers stay numbers");
    let listed = s.ok("GET", "/api/resources/res-2", Some(&f.a), None);
    assert_eq!(listed["specs"]["nvlink"], true);

    // A booking answers with the seed's names.
    let booked = s.ok(
        "POST",
        "/api/bookings",
        Some(&f.a),
        Some(
            json!({ "resource_id": "res-2", "start_time": "2099-01-01T09:00:00Z",
                     "end_time": "2099-01-01T11:00:00Z", "purpose": "fine-tune" }),
        ),
    );
    assert_eq!(booked["resource_name"], "GPU Server 1");
    assert_eq!(booked["booked_by"], "a");
    assert_eq!(booked["estimated_cost"], 5);
    assert!(booked["actual_cost"].is_null(), "not completed: {booked}");

    // Seed 004's cost: `description`, `currency`, numeric metadata.
    let cost = s.ok(
        "POST",
        "/api/costs",
        Some(&f.a),
        Some(json!({
            "agent_id": "a",
            "type": "api_usage",
            "category": "openai",
            "amount": 1384.10,
            "currency": "EUR",
            "description": "GPT-4 calls for the nightly report",
            "metadata": { "model": "gpt-4", "tokens": 15000, "cached": false }
        })),
    );
    assert_eq!(cost["description"], "GPT-4 calls for the nightly report");
    assert_eq!(cost["currency"], "EUR");
    assert_eq!(cost["metadata"]["tokens"], 15000);
    assert_eq!(cost["amount"], 1384.1, "exact to the micro-unit");
    assert_eq!(cost["agent_id"], "a");
    // No category: filed under its type.
    let bare = s.ok(
        "POST",
        "/api/costs",
        Some(&f.a),
        Some(json!({ "type": "hosting", "amount": 3 })),
    );
    assert_eq!(bare["category"], "hosting");

    // Seed 002's quota: `agent_id`, `type`, no id.
    let quota = s.ok(
        "POST",
        "/api/quotas",
        ADMIN_T,
        Some(
            json!({ "agent_id": "a", "type": "tokens", "limit": 10000, "period": "daily",
                     "warning_threshold": 0.8, "hard_limit": true }),
        ),
    );
    assert_eq!(quota["id"], "a:tokens:daily", "{quota}");
    assert_eq!(quota["agent_id"], "a");
    assert_eq!(quota["type"], "tokens");
    assert_eq!(quota["current_usage"], 0);
    assert!(
        quota["period_start"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00Z")
    );
    s.ok(
        "POST",
        "/internal/consume",
        Some(&f.a),
        Some(json!({ "agent_id": "a", "type": "tokens", "amount": 8500 })),
    );
    let listed = s.ok("GET", "/api/quotas", Some(&f.a), None);
    let mine = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == "a:tokens:daily")
        .unwrap();
    assert_eq!(mine["current_usage"], 8500);
    let check = s.ok(
        "GET",
        "/api/quotas/check?agent_id=a&type=tokens&amount=1000",
        Some(&f.a),
        None,
    );
    assert_eq!(check["allowed"], true, "{check}");
    assert_eq!(check["quota"]["id"], "a:tokens:daily");
    assert_eq!(check["quota"]["limit"], 10000);
    assert!((check["usage_percent"].as_f64().unwrap() - 95.0).abs() < 1e-9);
    assert!(check["warning"].is_string(), "{check}");
    assert!(check["reason"].is_null());
    let over = s.ok(
        "GET",
        "/api/quotas/check?agent_id=a&type=tokens&amount=2000",
        Some(&f.a),
        None,
    );
    assert_eq!(over["allowed"], false);
    assert!(
        over["reason"].as_str().unwrap().contains("a:tokens:daily"),
        "{over}"
    );

    // Bad seed-shaped input is refused naming what was wrong, and stores nothing.
    let (status, body) = s.call(
        "POST",
        "/api/resources",
        ADMIN_T,
        Some(json!({ "name": "x", "type": "spaceship", "cost_per_hour": 1 })),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("spaceship"),
        "{body}"
    );
    let (status, body) = s.call(
        "POST",
        "/api/costs",
        Some(&f.a),
        Some(json!({ "type": "api_usage", "amount": 1, "currency": "dollars" })),
    );
    assert_eq!(
        (status, body["field"].clone()),
        (422, json!("currency")),
        "{body}"
    );
    assert_eq!(body["value"], "\"dollars\"");
    assert!(body["expected"].as_str().unwrap().contains("ISO 4217"));
    let (status, body) = s.call(
        "POST",
        "/api/quotas",
        ADMIN_T,
        Some(json!({ "agent_id": "a", "type": "tokens", "limit": 0, "period": "daily" })),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body["field"].as_str().unwrap().ends_with("limit"), "{body}");
    assert_eq!(
        s.ok("GET", "/api/resources", ADMIN_T, None)
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn budgets_are_reserved_tracked_settled_released_and_consumed_over_http() {
    let f = fleet();
    let s = &f.server;
    let held = s.ok(
        "POST",
        "/internal/reserve",
        Some(&f.a),
        Some(json!({ "agent_id": "a", "estimated_cost": 5.0 })),
    );
    let id = held["reservation_id"].as_u64().unwrap();
    assert_eq!(
        (held["status"].clone(), held["amount"].clone()),
        (json!("active"), json!(5))
    );
    assert_eq!(held["account"]["reserved"], 5);
    let tracked = s.ok(
        "POST",
        &format!("/api/reservations/{id}/track"),
        Some(&f.a),
        Some(json!({ "used": 4.1 })),
    );
    assert_eq!(tracked["alert"], "warning");
    // Another client may not touch it; an unknown one is not found.
    let (status, _) = s.call(
        "POST",
        "/internal/release",
        Some(&f.b),
        Some(json!({ "reservation_id": id })),
    );
    assert_eq!(status, 403);
    let (status, _) = s.call("GET", "/api/reservations/999", Some(&f.a), None);
    assert_eq!(status, 404);
    let settled = s.ok(
        "POST",
        &format!("/api/reservations/{id}/settle"),
        Some(&f.a),
        Some(json!({ "actual_cost": 4.5 })),
    );
    assert_eq!(
        (settled["charged"].clone(), settled["returned"].clone()),
        (json!(4.5), json!(0.5))
    );
    assert_eq!(settled["status"], "settled");
    let (status, body) = s.call(
        "POST",
        &format!("/api/reservations/{id}/settle"),
        Some(&f.a),
        Some(json!({ "actual_cost": 1 })),
    );
    assert_eq!(status, 409, "settled twice: {body}");

    let again = s.ok(
        "POST",
        "/api/reservations",
        Some(&f.a),
        Some(json!({ "estimated_cost": 2 })),
    );
    let again = again["id"].as_u64().unwrap();
    let released = s.ok(
        "POST",
        "/internal/release",
        Some(&f.a),
        Some(json!({ "reservation_id": again })),
    );
    assert_eq!(released["status"], "released");
    let account = s.ok("GET", "/api/usage/a/current", Some(&f.a), None)["account"].clone();
    assert_eq!(
        (account["reserved"].clone(), account["spent"].clone()),
        (json!(0), json!(4.5))
    );

    // Usage counted directly: quotas and credit, all or nothing.
    s.ok(
        "POST",
        "/api/quotas",
        ADMIN_T,
        Some(json!({ "agent_id": "a", "type": "tokens", "limit": 10000, "period": "daily" })),
    );
    let consumed = s.ok(
        "POST",
        "/internal/consume",
        Some(&f.a),
        Some(json!({ "agent_id": "a", "type": "tokens", "amount": 9000, "cost": 0.27 })),
    );
    assert_eq!(consumed["charged"], 0.27, "{consumed}");
    assert!((consumed["usage_percent"].as_f64().unwrap() - 90.0).abs() < 1e-9);
    let (status, body) = s.call(
        "POST",
        "/internal/consume",
        Some(&f.a),
        Some(json!({ "type": "tokens", "amount": 2000, "cost": 0.06 })),
    );
    assert_eq!(
        (status, body["reason"].clone()),
        (429, json!("quota")),
        "{body}"
    );
    let account = s.ok("GET", "/api/usage/a/current", Some(&f.a), None)["account"].clone();
    assert_eq!(
        account["spent"], 4.77,
        "the refused consumption charged nothing"
    );
    let forced = s.ok(
        "POST",
        "/internal/consume",
        Some(&f.a),
        Some(json!({ "type": "tokens", "amount": 2000, "force": true })),
    );
    assert!(forced["usage_ratio"].as_f64().unwrap() > 1.0, "{forced}");
    let budget = json!({ "cost": 1e6 });
    let (status, body) = s.call(
        "POST",
        "/internal/consume",
        Some(&f.a),
        Some(budget.clone()),
    );
    assert_eq!(
        (status, body["reason"].clone()),
        (429, json!("quota")),
        "the monthly budget refuses first: {body}"
    );
    s.ok("DELETE", "/api/quotas/budget:a", ADMIN_T, None);
    let (status, body) = s.call("POST", "/internal/consume", Some(&f.a), Some(budget));
    assert_eq!(
        (status, body["reason"].clone()),
        (402, json!("credit")),
        "{body}"
    );
    let (status, body) = s.call("POST", "/internal/consume", Some(&f.a), Some(json!({})));
    assert_eq!(
        (status, body["field"].clone()),
        (422, json!("usage")),
        "{body}"
    );
    let (status, _) = s.call(
        "POST",
        "/internal/consume",
        Some(&f.b),
        Some(json!({ "agent_id": "a", "type": "tokens", "amount": 1 })),
    );
    assert_eq!(status, 403);
    let (status, body) = s.call(
        "POST",
        "/internal/reserve",
        ADMIN_T,
        Some(json!({ "estimated_cost": 1 })),
    );
    assert_eq!(
        (status, body["field"].clone()),
        (422, json!("client")),
        "{body}"
    );
    let (status, _) = s.call(
        "POST",
        "/internal/reserve",
        Some(&f.a),
        Some(json!({ "estimated_cost": -1 })),
    );
    assert_eq!(status, 422);
}

#[test]
fn credit_is_topped_up_and_shared_between_clients_and_conserved() {
    let f = fleet();
    let s = &f.server;
    let before = sum_credit(s, &["a", "b"]);
    let topped = s.ok(
        "POST",
        "/api/clients/a/credit",
        ADMIN_T,
        Some(json!({ "amount": 50 })),
    );
    assert_eq!(topped["account"]["available"], 10050);
    let (status, _) = s.call(
        "POST",
        "/api/clients/a/credit",
        Some(&f.a),
        Some(json!({ "amount": 50 })),
    );
    assert_eq!(status, 403, "only an admin pays credit in");
    let (status, body) = s.call(
        "POST",
        "/api/clients/a/credit",
        ADMIN_T,
        Some(json!({ "amount": 0 })),
    );
    assert_eq!(
        (status, body["field"].clone()),
        (422, json!("amount")),
        "{body}"
    );
    let (status, _) = s.call(
        "POST",
        "/api/clients/nobody/credit",
        ADMIN_T,
        Some(json!({ "amount": 1 })),
    );
    assert_eq!(status, 404);

    // a shares with b, holding some in a reservation meanwhile.
    s.ok(
        "POST",
        "/internal/reserve",
        Some(&f.a),
        Some(json!({ "estimated_cost": 50 })),
    );
    let shared = s.ok(
        "POST",
        "/api/credit/transfer",
        Some(&f.a),
        Some(json!({ "from_agent_id": "a", "to_agent_id": "b", "amount": 1000.25 })),
    );
    assert_eq!(shared["from_account"]["available"], 8999.75);
    assert!(
        shared["to_account"].is_null(),
        "b's balances are b's: {shared}"
    );
    let (status, body) = s.call(
        "POST",
        "/api/credit/transfer",
        Some(&f.a),
        Some(json!({ "to": "b", "amount": 9000 })),
    );
    assert_eq!(
        (status, body["reason"].clone()),
        (402, json!("credit")),
        "reserved credit is not given away: {body}"
    );
    let (status, _) = s.call(
        "POST",
        "/api/credit/transfer",
        Some(&f.b),
        Some(json!({ "from": "a", "to": "b", "amount": 1 })),
    );
    assert_eq!(status, 403, "b cannot take a's credit");
    let (status, body) = s.call(
        "POST",
        "/api/credit/transfer",
        Some(&f.a),
        Some(json!({ "to": "a", "amount": 1 })),
    );
    assert_eq!(
        (status, body["field"].clone()),
        (422, json!("to")),
        "{body}"
    );
    let b = s.ok("GET", "/api/usage/b/current", Some(&f.b), None);
    assert_eq!(b["account"]["available"], 11000.25);
    assert!((sum_credit(s, &["a", "b"]) - before - 50.0).abs() < 1e-6);
}

#[test]
fn completion_reports_usage_and_unused_tokens_serve_the_next_request() {
    let f = fleet();
    let s = &f.server;
    s.ok(
        "POST",
        "/api/pools",
        ADMIN_T,
        Some(json!({ "id": "llm", "kind": { "rate": { "capacity": 1000.0,
                     "refill_per_sec": 0.001, "cost_per_1k_units": 0.03 } } })),
    );
    let ask = |amount: u64| {
        json!({ "class": "normal", "needs": [{ "pool": "llm", "amount": amount }],
                "estimated_cost": 0.03 })
    };
    let first = s.ok(
        "POST",
        "/api/queue/enqueue?wait=10",
        Some(&f.b),
        Some(ask(800)),
    );
    assert_eq!(first["state"], "running", "{first}");
    let id = first["request_id"].as_u64().unwrap();
    let second = s.ok(
        "POST",
        "/api/queue/enqueue?wait=0.2",
        Some(&f.b),
        Some(ask(400)),
    );
    assert_eq!(second["state"], "queued", "only 200 tokens left: {second}");
    let (status, body) = s.call(
        "POST",
        &format!("/api/execution/{id}/complete"),
        Some(&f.b),
        Some(json!({ "actual_cost": 0.018, "used": { "nosuch": 1 } })),
    );
    assert_eq!(
        (status, body["field"].clone()),
        (422, json!("used.pools")),
        "{body}"
    );
    s.ok(
        "POST",
        &format!("/api/execution/{id}/complete"),
        Some(&f.b),
        Some(json!({ "actual_cost": 0.018, "tokens_used": 600, "compute_time_ms": 1200 })),
    );
    super::wait_for_state(s, &f.b, second["request_id"].as_u64().unwrap(), "running");
    let (status, _) = s.call(
        "POST",
        "/api/queue/enqueue?wait=301",
        Some(&f.b),
        Some(ask(1)),
    );
    assert_eq!(status, 400);
}

#[test]
fn removals_are_refused_while_in_use_and_drain_cascades() {
    let f = fleet();
    let s = &f.server;
    // A quota: gone, and its update error points to the removal that now exists.
    let (status, body) = s.call(
        "POST",
        "/api/quotas",
        ADMIN_T,
        Some(
            json!({ "id": "a-calls", "scope": { "client": "a" }, "metric": "api_calls",
                     "limit": 10, "period": "weekly" }),
        ),
    );
    assert_eq!(status, 422);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("DELETE /api/quotas/{id}"),
        "{body}"
    );
    let (status, _) = s.call("DELETE", "/api/quotas/a-calls", Some(&f.a), None);
    assert_eq!(status, 403);
    s.ok("DELETE", "/api/quotas/a-calls", ADMIN_T, None);
    let (status, _) = s.call("DELETE", "/api/quotas/a-calls", ADMIN_T, None);
    assert_eq!(status, 404);
    assert!(
        s.ok("GET", "/api/quotas", ADMIN_T, None)
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["id"] != "a-calls")
    );

    // A resource with a booking to come stays until the booking is cancelled.
    let booked = s.ok(
        "POST",
        "/api/bookings",
        Some(&f.a),
        Some(super::booking(
            None,
            "2099-03-01T09:00:00Z",
            "2099-03-01T10:00:00Z",
        )),
    );
    let (status, body) = s.call("DELETE", "/api/resources/srv", ADMIN_T, None);
    assert_eq!(
        (status, body["reason"].clone()),
        (409, json!("in_use")),
        "{body}"
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(&booked["id"].to_string()),
        "{body}"
    );
    s.ok(
        "DELETE",
        &format!("/api/bookings/{}", booked["id"]),
        Some(&f.a),
        None,
    );
    s.ok("DELETE", "/api/resources/srv", ADMIN_T, None);
    let (status, _) = s.call("GET", "/api/resources/srv", ADMIN_T, None);
    assert_eq!(status, 404);
    assert_eq!(
        s.ok("GET", "/api/bookings", ADMIN_T, None)
            .as_array()
            .unwrap()
            .len(),
        1,
        "history stays"
    );

    // A client with running and queued work: refused, then drained.
    let ask = json!({ "class": "normal", "needs": [{ "pool": "gpu", "amount": 1 }], "estimated_cost": 1.0 });
    let running = s.ok(
        "POST",
        "/api/queue/enqueue?wait=10",
        Some(&f.a),
        Some(ask.clone()),
    );
    assert_eq!(running["state"], "running");
    let queued = s.ok("POST", "/api/queue/enqueue", Some(&f.a), Some(ask.clone()));
    let (status, body) = s.call("DELETE", "/api/clients/a", ADMIN_T, None);
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("drain"), "{body}");
    let first = format!("/api/execution/{}", running["request_id"]);
    assert_eq!(
        s.ok("GET", &first, ADMIN_T, None)["state"],
        "running",
        "nothing changed"
    );
    let b_waiting = s.ok("POST", "/api/queue/enqueue", Some(&f.b), Some(ask.clone()));
    let removed = s.ok("DELETE", "/api/clients/a?drain=true", ADMIN_T, None);
    assert_eq!(removed["tokens_revoked"], 1);
    for id in [&running["request_id"], &queued["request_id"]] {
        let state = s.ok("GET", &format!("/api/execution/{id}"), ADMIN_T, None)["state"].clone();
        assert_eq!(state, "cancelled");
    }
    // Its slot went to b.
    super::wait_for_state(
        s,
        &f.b,
        b_waiting["request_id"].as_u64().unwrap(),
        "running",
    );
    let (status, _) = s.call("GET", "/api/usage/a/current", Some(&f.a), None);
    assert_eq!(status, 401, "its token went with it");
    let (status, _) = s.call("GET", "/api/usage/a/current", ADMIN_T, None);
    assert_eq!(status, 404);
    assert!(
        s.ok("GET", "/api/clients", ADMIN_T, None)
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != "a")
    );
    let (status, body) = s.call(
        "POST",
        "/api/clients",
        ADMIN_T,
        Some(json!({ "id": "a", "tier": "basic" })),
    );
    assert_eq!(status, 422, "a removed client's id is not reused: {body}");
    let (status, _) = s.call("DELETE", "/api/clients/nobody", ADMIN_T, None);
    assert_eq!(status, 404);
}

#[test]
fn tokens_are_listed_created_expired_and_revoked_at_once() {
    let f = fleet();
    let s = &f.server;
    let listed = s.ok("GET", "/api/tokens", ADMIN_T, None);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let a_token = listed.iter().find(|t| t["client"] == "a").unwrap();
    assert_eq!(a_token["role"], "client");
    assert!(f.a.starts_with(a_token["hint"].as_str().unwrap().trim_end_matches('…')));
    assert!(
        !listed.iter().any(|t| t.to_string().contains(&f.a)),
        "never the secret"
    );
    let (status, _) = s.call("GET", "/api/tokens", Some(&f.a), None);
    assert_eq!(status, 403);

    // Revoked: refused on the very next request.
    s.ok("GET", "/api/quotas", Some(&f.a), None);
    s.ok(
        "DELETE",
        &format!("/api/tokens/{}", a_token["id"]),
        ADMIN_T,
        None,
    );
    let (status, _) = s.call("GET", "/api/quotas", Some(&f.a), None);
    assert_eq!(status, 401);
    let (status, _) = s.call(
        "DELETE",
        &format!("/api/tokens/{}", a_token["id"]),
        ADMIN_T,
        None,
    );
    assert_eq!(status, 404);

    // One that expires.
    let made = s.ok(
        "POST",
        "/api/tokens",
        ADMIN_T,
        Some(json!({ "client": "b", "expires_in_secs": 1 })),
    );
    let short = made["token"].as_str().unwrap().to_owned();
    assert!(made["expires_at"].is_string());
    s.ok("GET", "/api/quotas", Some(&short), None);
    std::thread::sleep(Duration::from_millis(1_100));
    let (status, _) = s.call("GET", "/api/quotas", Some(&short), None);
    assert_eq!(status, 401);
    let (status, _) = s.call(
        "POST",
        "/api/tokens",
        ADMIN_T,
        Some(json!({ "client": "ghost" })),
    );
    assert_eq!(status, 404);
    let (status, _) = s.call(
        "POST",
        "/api/tokens",
        ADMIN_T,
        Some(json!({ "expires_in_secs": 0 })),
    );
    assert_eq!(status, 422);

    // The command line lists and revokes too.
    let qm = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_qm"))
            .args(args)
            .arg("--db")
            .arg(&f.db)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, _) = qm(&["token", "list", "--json"]);
    assert!(ok);
    let tokens: Value = serde_json::from_str(&out).unwrap();
    let b_id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["client"] == "b")
        .unwrap()["id"]
        .to_string();
    let (ok, out, _) = qm(&["token", "revoke", &b_id]);
    assert!(ok, "{out}");
    let (status, _) = s.call("GET", "/api/quotas", Some(&f.b), None);
    assert_eq!(status, 401);
    let (ok, _, err) = qm(&["token", "revoke", "12345"]);
    assert!(!ok && err.contains("unknown token 12345"), "{err}");
}

#[test]
fn top_ups_transfers_consumption_and_removals_survive_a_restart() {
    let f = fleet();
    let s = &f.server;
    s.ok(
        "POST",
        "/api/clients",
        ADMIN_T,
        Some(json!({ "id": "c", "tier": "basic", "credits": 10 })),
    );
    s.ok(
        "POST",
        "/api/clients/a/credit",
        ADMIN_T,
        Some(json!({ "amount": 12.34 })),
    );
    s.ok(
        "POST",
        "/api/credit/transfer",
        ADMIN_T,
        Some(json!({ "from": "a", "to": "b", "amount": 100 })),
    );
    s.ok(
        "POST",
        "/internal/consume",
        Some(&f.b),
        Some(json!({ "type": "api_calls", "amount": 3, "cost": 1.5 })),
    );
    s.ok("DELETE", "/api/quotas/a-calls", ADMIN_T, None);
    s.ok("DELETE", "/api/resources/srv", ADMIN_T, None);
    s.ok("DELETE", "/api/clients/c", ADMIN_T, None);
    let accounts = |s: &Server| {
        ["a", "b"].map(|c| {
            s.ok("GET", &format!("/api/usage/{c}/current"), ADMIN_T, None)["account"].clone()
        })
    };
    let before = accounts(s);
    assert_eq!(before[0]["available"], 9912.34);
    assert_eq!(
        (before[1]["available"].clone(), before[1]["spent"].clone()),
        (json!(10098.5), json!(1.5))
    );
    let db = f.db.clone();
    let b_token = f.b.clone();
    drop(f.server);
    let s = Server::start(&db);
    assert_eq!(accounts(&s), before);
    assert!(
        s.ok("GET", "/api/quotas", ADMIN_T, None)
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["id"] != "a-calls")
    );
    let (status, _) = s.call("GET", "/api/resources/srv", ADMIN_T, None);
    assert_eq!(status, 404);
    let (status, _) = s.call("GET", "/api/usage/c/current", ADMIN_T, None);
    assert_eq!(status, 404);
    s.ok("GET", "/api/quotas", Some(&b_token), None);
    let _ = token_for(&db, "b");
    drop(f._dir);
}
