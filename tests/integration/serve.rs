//! `qm serve`: the real binary on 127.0.0.1, a free port, a real database file; driven over
//! HTTP and a WebSocket with bearer tokens.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

// The API agents call (issue 21): seed-shaped bodies, budgets, credit, removals, tokens.
mod api;
mod dashboard;
mod ops;

pub const VAULT_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
pub const ADMIN: &str = "admin-token-from-the-environment";

/// A running `qm serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    pub agent: ureq::Agent,
}

impl Server {
    pub fn start(db: &Path) -> Server {
        Server::start_with(db, &[])
    }

    /// A server started with more arguments (`--config FILE`).
    pub fn start_with(db: &Path, extra: &[&std::ffi::OsStr]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_qm"))
            .args(["serve", "--bind", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(extra)
            .env("QM_ENCRYPTION_KEY", VAULT_KEY)
            .env("QM_ADMIN_TOKEN", ADMIN)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        Server { child, base, agent }
    }

    /// Sends `body` (JSON, or raw text when a string is wanted verbatim) and answers the
    /// status and the parsed JSON answer (`null` when empty).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let raw = body.map(|b| b.to_string());
        self.raw(method, path, token, raw.as_deref())
    }

    fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self.agent.request(method, &format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let result = match body {
            Some(body) => request
                .set("Content-Type", "application/json")
                .send_string(body),
            None => request.call(),
        };
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let text = response.into_string().unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub fn ok(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, token, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn token_for(db: &Path, client: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["token", "create", "--client", client, "--db"])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

struct Fleet {
    _dir: tempfile::TempDir,
    db: PathBuf,
    server: Server,
    a: String,
    b: String,
}

/// A server with clients `a` and `b` (each with a token), a one-slot pool `gpu`, a
/// bookable server `srv`, and a daily call quota for `a`.
fn fleet() -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fleet.db");
    let server = Server::start(&db);
    let admin = Some(ADMIN);
    for id in ["a", "b"] {
        server.ok(
            "POST",
            "/api/clients",
            admin,
            Some(json!({ "id": id, "tier": "standard" })),
        );
    }
    server.ok(
        "POST",
        "/api/pools",
        admin,
        Some(json!({ "id": "gpu", "kind": { "slot": { "slots": 1, "cost_per_hour": 2.0 } } })),
    );
    server.ok(
        "POST",
        "/api/resources",
        admin,
        Some(
            json!({ "id": "srv", "name": "Build server", "kind": "server", "cost_per_hour": 3.0 }),
        ),
    );
    server.ok(
        "POST",
        "/api/quotas",
        admin,
        Some(
            json!({ "id": "a-calls", "scope": { "client": "a" }, "metric": "api_calls",
                     "limit": 10, "period": "daily" }),
        ),
    );
    let a = token_for(&db, "a");
    let b = token_for(&db, "b");
    Fleet {
        _dir: dir,
        db,
        server,
        a,
        b,
    }
}

fn booking(agent: Option<&str>, start: &str, end: &str) -> Value {
    let mut body = json!({ "resource_id": "srv", "start_time": start, "end_time": end,
                           "purpose": "nightly build" });
    if let Some(agent) = agent {
        body["agent_id"] = json!(agent);
    }
    body
}

#[test]
fn health_status_metrics_and_the_document_need_no_token() {
    let f = fleet();
    assert_eq!(f.server.ok("GET", "/health", None, None)["status"], "ok");
    let status = f.server.ok("GET", "/status", None, None);
    assert_eq!(status["clients"], 2);
    assert_eq!(status["resources"], 1);
    let (code, metrics) = f.server.call("GET", "/metrics", None, None);
    assert_eq!(code, 200);
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(metrics.contains("# TYPE qm_queue_depth gauge"), "{metrics}");
    assert!(
        metrics.contains("qm_queue_depth{class=\"normal\"} 0.0"),
        "{metrics}"
    );
    let doc = f.server.ok("GET", "/openapi.json", None, None);
    assert_eq!(doc["openapi"], "3.0.3");
    // Every documented operation reaches a handler, never the router's "no route" answer.
    for (path, operations) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "999").replace("{client_id}", "nobody");
        for method in operations.as_object().unwrap().keys() {
            let (_, body) = f
                .server
                .call(&method.to_uppercase(), &concrete, Some(ADMIN), None);
            let error = body["error"].as_str().unwrap_or("");
            assert!(!error.starts_with("no route"), "{method} {path}: {error}");
        }
    }
    let (code, body) = f.server.call("GET", "/api/nothing", Some(ADMIN), None);
    assert_eq!(code, 404);
    assert!(body["error"].as_str().unwrap().starts_with("no route"));
}

#[test]
fn credentials_metadata_for_all_values_only_for_owner_or_admin() {
    let f = fleet();
    let s = &f.server;
    let created = s.ok(
        "POST",
        "/api/credentials",
        Some(&f.a),
        Some(
            json!({ "name": "openai", "type": "api_key", "service": "openai", "value": "sk-a-1" }),
        ),
    );
    assert_eq!(created["owner"], "a");
    assert!(created.get("value").is_none());
    let id = created["id"].as_str().unwrap().to_owned();
    // An admin stores one for b.
    s.ok(
        "POST",
        "/api/credentials",
        Some(ADMIN),
        Some(json!({ "name": "gh", "type": "token", "service": "github", "owner": "b", "value": "ghp-b" })),
    );
    let listed = s.ok("GET", "/api/credentials", Some(&f.a), None);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert!(listed[0].get("value").is_none());
    assert_eq!(
        s.ok("GET", "/api/credentials", Some(ADMIN), None)
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let path = format!("/api/credentials/{id}?includeValue=true");
    assert_eq!(s.ok("GET", &path, Some(&f.a), None)["value"], "sk-a-1");
    let by_admin = s.ok("GET", &path, Some(ADMIN), None);
    assert_eq!(by_admin["value"], "sk-a-1");
    assert_eq!(by_admin["usage_count"], 2);
    assert!(
        s.ok("GET", &format!("/api/credentials/{id}"), Some(&f.a), None)
            .get("value")
            .is_none()
    );
    assert_eq!(s.call("GET", &path, Some(&f.b), None).0, 403);
    assert_eq!(s.call("GET", &path, None, None).0, 401);
    assert_eq!(
        s.call("GET", "/api/credentials?owner=a", Some(&f.b), None)
            .0,
        403
    );
    let (code, body) = s.call(
        "POST",
        "/api/credentials",
        Some(&f.b),
        Some(json!({ "name": "x", "type": "token", "service": "s", "owner": "a", "value": "v" })),
    );
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        s.call(
            "DELETE",
            &format!("/api/credentials/{id}"),
            Some(&f.b),
            None
        )
        .0,
        403
    );
    assert_eq!(
        s.call(
            "DELETE",
            &format!("/api/credentials/{id}"),
            Some(&f.a),
            None
        )
        .0,
        204
    );
    assert_eq!(
        s.call(
            "DELETE",
            &format!("/api/credentials/{id}"),
            Some(&f.a),
            None
        )
        .0,
        404
    );
    assert_eq!(
        s.call("GET", "/api/credentials/cred-99", Some(ADMIN), None)
            .0,
        404
    );
    let (code, body) = s.call(
        "POST",
        "/api/credentials",
        Some(&f.a),
        Some(json!({ "name": "x", "type": "telepathy", "service": "s", "value": "v" })),
    );
    assert_eq!(code, 422, "{body}");
}

#[test]
fn resources_and_bookings_with_filters_conflicts_and_cancellation() {
    let f = fleet();
    let s = &f.server;
    assert_eq!(
        s.ok("GET", "/api/resources", Some(&f.a), None)[0]["id"],
        "srv"
    );
    assert_eq!(
        s.ok("GET", "/api/resources/srv", Some(&f.b), None)["cost_per_hour"],
        3.0
    );
    assert_eq!(
        s.call("GET", "/api/resources/nope", Some(&f.a), None).0,
        404
    );
    let (code, _) = s.call(
        "POST",
        "/api/resources",
        Some(&f.a),
        Some(json!({ "id": "r2", "name": "R2", "kind": "gpu", "cost_per_hour": 1.0 })),
    );
    assert_eq!(code, 403);
    let (code, body) = s.call(
        "POST",
        "/api/resources",
        Some(ADMIN),
        Some(json!({ "id": "r2", "name": "R2", "kind": "gpu", "cost_per_hour": 1.0, "max_booking_hours": 0 })),
    );
    assert_eq!(
        (code, body["field"].as_str()),
        (422, Some("resource[r2].max_booking_hours"))
    );

    let first = s.ok(
        "POST",
        "/api/bookings",
        Some(&f.a),
        Some(booking(
            None,
            "2031-01-01T00:00:00Z",
            "2031-01-01T02:00:00Z",
        )),
    );
    assert_eq!(first["client"], "a");
    assert_eq!(first["estimated_cost"], 6.0);
    let (code, body) = s.call(
        "POST",
        "/api/bookings",
        Some(&f.b),
        Some(booking(
            None,
            "2031-01-01T01:00:00Z",
            "2031-01-01T03:00:00Z",
        )),
    );
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["conflict"]["id"], first["id"]);
    s.ok(
        "POST",
        "/api/bookings",
        Some(ADMIN),
        Some(booking(
            Some("b"),
            "2031-01-02T00:00:00Z",
            "2031-01-02T01:00:00Z",
        )),
    );
    assert_eq!(
        s.call(
            "POST",
            "/api/bookings",
            Some(ADMIN),
            Some(booking(
                None,
                "2031-01-03T00:00:00Z",
                "2031-01-03T01:00:00Z"
            ))
        )
        .0,
        422
    );
    assert_eq!(
        s.call(
            "POST",
            "/api/bookings",
            Some(&f.a),
            Some(booking(
                Some("b"),
                "2031-01-03T00:00:00Z",
                "2031-01-03T01:00:00Z"
            ))
        )
        .0,
        403
    );
    let (code, body) = s.call(
        "POST",
        "/api/bookings",
        Some(&f.a),
        Some(booking(
            None,
            "2031-01-04T02:00:00Z",
            "2031-01-04T01:00:00Z",
        )),
    );
    assert_eq!((code, body["field"].as_str()), (422, Some("end")));

    let mine = s.ok("GET", "/api/bookings", Some(&f.a), None);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(
        s.ok("GET", "/api/bookings", Some(ADMIN), None)
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let filtered = s.ok("GET", "/api/bookings?agent_id=b&resource_id=srv&status=confirmed&from_date=2031-01-01T12:00:00Z&to_date=2031-01-05T00:00:00Z", Some(ADMIN), None);
    assert_eq!(filtered.as_array().unwrap().len(), 1, "{filtered}");
    assert_eq!(filtered[0]["client"], "b");
    assert_eq!(
        s.call("GET", "/api/bookings?agent_id=b", Some(&f.a), None)
            .0,
        403
    );
    assert_eq!(
        s.call("GET", "/api/bookings?status=maybe", Some(ADMIN), None)
            .0,
        400
    );
    assert_eq!(
        s.call(
            "GET",
            "/api/bookings?from_date=yesterday",
            Some(ADMIN),
            None
        )
        .0,
        400
    );

    let availability = s.ok("GET", "/api/resources/availability?resource_id=srv&from_date=2031-01-01T01:00:00Z&to_date=2031-01-01T05:00:00Z", Some(&f.b), None);
    assert_eq!(availability["available"], false);
    assert_eq!(availability["bookings"][0]["id"], first["id"]);
    let free = s.ok("GET", "/api/resources/availability?resource_id=srv&from_date=2031-02-01T00:00:00Z&to_date=2031-02-02T00:00:00Z", Some(&f.b), None);
    assert_eq!(free["available"], true);
    assert_eq!(
        s.call(
            "GET",
            "/api/resources/availability?resource_id=srv",
            Some(&f.b),
            None
        )
        .0,
        400
    );

    let id = first["id"].as_u64().unwrap();
    assert_eq!(
        s.call("DELETE", &format!("/api/bookings/{id}"), Some(&f.b), None)
            .0,
        403
    );
    assert_eq!(
        s.call("DELETE", &format!("/api/bookings/{id}"), None, None)
            .0,
        401
    );
    assert_eq!(
        s.ok("DELETE", &format!("/api/bookings/{id}"), Some(&f.a), None)["status"],
        "cancelled"
    );
    assert_eq!(
        s.call("DELETE", &format!("/api/bookings/{id}"), Some(&f.a), None)
            .0,
        409
    );
    assert_eq!(
        s.call("DELETE", "/api/bookings/4242", Some(ADMIN), None).0,
        404
    );
    assert_eq!(
        s.call("DELETE", "/api/bookings/abc", Some(ADMIN), None).0,
        404
    );
    let metrics = s.ok("GET", "/api/resources/metrics", Some(&f.a), None);
    assert_eq!(
        (
            metrics[0]["confirmed"].as_u64(),
            metrics[0]["cancelled"].as_u64()
        ),
        (Some(1), Some(1))
    );
}

#[test]
fn costs_are_recorded_summarised_and_scoped_to_their_client() {
    let f = fleet();
    let s = &f.server;
    s.ok(
        "POST",
        "/api/costs",
        Some(&f.a),
        Some(json!({ "type": "api_usage", "category": "openai", "amount": 1.25 })),
    );
    s.ok("POST", "/api/costs", Some(&f.a), Some(json!({ "type": "hosting", "category": "vm", "amount": 2.0, "metadata": { "region": "eu" } })));
    s.ok(
        "POST",
        "/api/costs",
        Some(ADMIN),
        Some(json!({ "agent_id": "b", "type": "api_usage", "category": "openai", "amount": 0.5 })),
    );
    // Our name for the party that spends, `client`, is accepted beside the seed's.
    s.ok(
        "POST",
        "/api/costs",
        Some(ADMIN),
        Some(json!({ "client": "b", "type": "api_usage", "category": "openai", "amount": 0.25 })),
    );
    let all = s.ok("GET", "/api/costs", Some(ADMIN), None);
    assert_eq!(all["total"], 4.0);
    assert_eq!(all["by_client"]["b"], 0.75);
    assert_eq!(all["by_agent"], all["by_client"], "the seed's name too");
    assert_eq!(all["by_type"]["api_usage"], 2.0);
    assert_eq!(all["by_category"]["vm"], 2.0);
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    let mine = s.ok("GET", "/api/costs", Some(&f.a), None);
    assert_eq!(mine["total"], 3.25);
    assert_eq!(
        s.ok("GET", "/api/costs?type=hosting", Some(&f.a), None)["total"],
        2.0
    );
    assert_eq!(
        s.ok(
            "GET",
            "/api/costs?from_date=2000-01-01T00:00:00Z&to_date=2001-01-01T00:00:00Z",
            Some(ADMIN),
            None
        )["total"],
        0.0
    );
    assert_eq!(
        s.call("GET", "/api/costs?agent_id=b", Some(&f.a), None).0,
        403
    );
    assert_eq!(
        s.call("GET", "/api/costs?type=bribes", Some(&f.a), None).0,
        400
    );
    assert_eq!(
        s.call(
            "POST",
            "/api/costs",
            Some(&f.a),
            Some(json!({ "agent_id": "b", "type": "other", "category": "x", "amount": 1 }))
        )
        .0,
        403
    );
    let (code, body) = s.call(
        "POST",
        "/api/costs",
        Some(&f.a),
        Some(json!({ "type": "other", "category": "x", "amount": -1 })),
    );
    assert_eq!(code, 422, "{body}");
    let (code, body) = s.call(
        "POST",
        "/api/costs",
        Some(&f.a),
        Some(json!({ "type": "other", "category": "x" })),
    );
    assert_eq!((code, body["field"].as_str()), (422, Some("amount")));
    // Nothing refused was recorded.
    assert_eq!(s.ok("GET", "/api/costs", Some(ADMIN), None)["total"], 4.0);
}

#[test]
fn quotas_are_set_checked_counted_and_reset() {
    let f = fleet();
    let s = &f.server;
    let check = |token: &str, query: &str| {
        s.ok(
            "GET",
            &format!("/api/quotas/check?{query}"),
            Some(token),
            None,
        )
    };
    assert_eq!(check(&f.a, "type=api_calls&amount=3")["usage_ratio"], 0.3);
    assert_eq!(check(&f.a, "type=api_calls&amount=11")["allowed"], false);
    assert_eq!(
        check(ADMIN, "agent_id=a&type=api_calls&amount=8")["allowed"],
        true
    );
    assert_eq!(
        s.call(
            "GET",
            "/api/quotas/check?agent_id=a&type=api_calls",
            Some(&f.b),
            None
        )
        .0,
        403
    );
    assert_eq!(
        s.call(
            "GET",
            "/api/quotas/check?agent_id=ghost&type=api_calls",
            Some(ADMIN),
            None
        )
        .0,
        404
    );
    assert_eq!(
        s.call(
            "GET",
            "/api/quotas/check?agent_id=a&type=api_calls&amount=lots",
            Some(ADMIN),
            None
        )
        .0,
        400
    );

    assert_eq!(
        s.ok(
            "PUT",
            "/api/quotas/a-calls/usage",
            Some(&f.a),
            Some(json!({ "used": 9 }))
        )["used"],
        9
    );
    assert_eq!(check(&f.a, "type=api_calls&amount=2")["allowed"], false);
    assert_eq!(
        s.call(
            "PUT",
            "/api/quotas/a-calls/usage",
            Some(&f.b),
            Some(json!({ "used": 0 }))
        )
        .0,
        403
    );
    assert_eq!(
        s.call(
            "PUT",
            "/api/quotas/a-calls/usage",
            None,
            Some(json!({ "used": 0 }))
        )
        .0,
        401
    );
    assert_eq!(
        s.call(
            "PUT",
            "/api/quotas/nope/usage",
            Some(ADMIN),
            Some(json!({ "used": 0 }))
        )
        .0,
        404
    );
    let (code, body) = s.call(
        "PUT",
        "/api/quotas/a-calls/usage",
        Some(ADMIN),
        Some(json!({ "used": "nine" })),
    );
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        s.call("POST", "/api/quotas/a-calls/reset", Some(&f.b), None)
            .0,
        403
    );
    s.ok("POST", "/api/quotas/a-calls/reset", Some(&f.a), None);
    assert_eq!(check(&f.a, "type=api_calls&amount=2")["allowed"], true);

    let global = json!({ "id": "all-tokens", "scope": "global", "metric": "tokens", "limit": 1000, "period": "monthly" });
    assert_eq!(
        s.call("POST", "/api/quotas", Some(&f.a), Some(global.clone()))
            .0,
        403
    );
    s.ok("POST", "/api/quotas", Some(ADMIN), Some(global));
    assert_eq!(
        s.call("POST", "/api/quotas/all-tokens/reset", Some(&f.a), None)
            .0,
        403
    );
    let (code, body) = s.call("POST", "/api/quotas", Some(ADMIN), Some(json!({ "id": "bad", "scope": "global", "metric": "tokens", "limit": 0, "period": "daily" })));
    assert_eq!(
        (code, body["field"].as_str()),
        (422, Some("quota[bad].limit"))
    );
    // Each standard client's $500 monthly budget is a quota of its own.
    let ids = |body: Value| -> Vec<String> {
        let mut ids: Vec<String> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(s.ok("GET", "/api/quotas", Some(ADMIN), None)),
        ["a-calls", "all-tokens", "budget:a", "budget:b"]
    );
    assert_eq!(
        ids(s.ok("GET", "/api/quotas", Some(&f.b), None)),
        ["all-tokens", "budget:b"],
        "b sees the global quota and its own budget"
    );
}

#[test]
fn requests_are_enqueued_positioned_completed_and_cancelled() {
    let f = fleet();
    let s = &f.server;
    let need = json!([{ "pool": "gpu", "amount": 1 }]);
    let first = s.ok(
        "POST",
        "/api/queue/enqueue",
        Some(&f.a),
        Some(json!({ "needs": need, "estimated_cost": 1.0 })),
    );
    assert_eq!(first["state"], "running");
    let second = s.ok(
        "POST",
        "/api/queue/enqueue",
        Some(ADMIN),
        Some(json!({ "agent_id": "b", "class": "batch", "needs": need, "estimated_cost": 1.0 })),
    );
    assert_eq!(second["state"], "queued");
    let (one, two) = (
        first["request_id"].as_u64().unwrap(),
        second["request_id"].as_u64().unwrap(),
    );
    let status = s.ok("GET", "/api/queue/status", Some(&f.a), None);
    assert_eq!(
        (
            status["queued"]["batch"].as_u64(),
            status["running"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let position = s.ok(
        "GET",
        &format!("/api/queue/position/{two}"),
        Some(&f.b),
        None,
    );
    assert_eq!(
        (position["position"].as_u64(), position["state"].as_str()),
        (Some(0), Some("queued"))
    );
    assert_eq!(
        s.call(
            "GET",
            &format!("/api/queue/position/{two}"),
            Some(&f.a),
            None
        )
        .0,
        403
    );
    assert_eq!(
        s.call("GET", &format!("/api/execution/{one}"), Some(&f.b), None)
            .0,
        403
    );
    assert_eq!(
        s.ok("GET", &format!("/api/execution/{one}"), Some(&f.a), None)["agent_id"],
        "a"
    );
    assert_eq!(
        s.call(
            "POST",
            &format!("/api/execution/{one}/complete"),
            Some(&f.b),
            None
        )
        .0,
        403
    );
    assert_eq!(
        s.call(
            "POST",
            &format!("/api/execution/{two}/complete"),
            Some(ADMIN),
            None
        )
        .0,
        409
    );
    let (code, body) = s.call(
        "POST",
        &format!("/api/execution/{one}/complete"),
        Some(&f.a),
        Some(json!({ "actual_cost": -2 })),
    );
    assert_eq!(code, 422, "{body}");
    let done = s.ok(
        "POST",
        &format!("/api/execution/{one}/complete"),
        Some(&f.a),
        Some(json!({ "actual_cost": 0.75 })),
    );
    assert_eq!(done["state"], "finished");
    // What happened to it: when, how long it waited, what it cost.
    let record = s.ok("GET", &format!("/api/execution/{one}"), Some(&f.a), None);
    assert_eq!(
        (record["client"].as_str(), record["charged"].as_f64()),
        (Some("a"), Some(0.75))
    );
    assert_eq!(record["waited_secs"], 0.0);
    assert!(record["started_at"].is_string() && record["ended_at"].is_string());
    let cost = s.ok("GET", &format!("/api/cost/{one}"), Some(&f.a), None);
    assert_eq!(cost["charged"], 0.75);
    assert_eq!(
        s.call("GET", &format!("/api/cost/{one}"), Some(&f.b), None)
            .0,
        403
    );
    // The slot freed, so b's request started; a completion settled a's reservation.
    assert_eq!(
        s.ok("GET", &format!("/api/execution/{two}"), Some(&f.b), None)["state"],
        "running"
    );
    let usage = s.ok("GET", "/api/usage/a/current", Some(&f.a), None);
    assert_eq!(usage["account"]["spent"], 0.75);
    let tallies = s.ok("GET", "/api/usage/a", Some(ADMIN), None);
    assert_eq!(tallies["classes"]["normal"]["completed"], 1);
    assert_eq!(s.call("GET", "/api/usage/a", Some(&f.b), None).0, 403);
    assert_eq!(s.call("GET", "/api/usage/ghost", Some(ADMIN), None).0, 404);

    let third = s.ok(
        "POST",
        "/api/queue/enqueue",
        Some(&f.a),
        Some(json!({ "needs": need, "estimated_cost": 1.0 })),
    );
    let three = third["request_id"].as_u64().unwrap();
    assert_eq!(
        s.call("DELETE", &format!("/api/queue/{three}"), Some(&f.b), None)
            .0,
        403
    );
    assert_eq!(
        s.ok("DELETE", &format!("/api/queue/{three}"), Some(&f.a), None)["state"],
        "cancelled"
    );
    assert_eq!(
        s.call("DELETE", &format!("/api/queue/{three}"), Some(&f.a), None)
            .0,
        409
    );
    assert_eq!(
        s.ok(
            "POST",
            &format!("/api/execution/{two}/cancel"),
            Some(&f.b),
            None
        )["state"],
        "cancelled"
    );
    assert_eq!(
        s.call("GET", "/api/execution/777", Some(ADMIN), None).0,
        404
    );
    let estimate = s.ok(
        "POST",
        "/api/cost/estimate",
        Some(&f.a),
        Some(json!({ "needs": need, "duration_secs": 1800 })),
    );
    assert_eq!(
        estimate["estimated_cost"], 1.0,
        "half an hour of a $2/hour slot"
    );
    assert_eq!(estimate["by_pool"]["gpu"], 1.0);
    let (code, body) = s.call(
        "POST",
        "/api/cost/estimate",
        Some(&f.a),
        Some(json!({ "needs": [{ "pool": "tpu", "amount": 1 }] })),
    );
    assert_eq!((code, body["field"].as_str()), (404, Some("needs[0].pool")));
    assert_eq!(s.ok("GET", "/api/pools", Some(&f.b), None)[0]["id"], "gpu");
    let (code, _) = s.call(
        "POST",
        "/api/pools",
        Some(ADMIN),
        Some(json!({ "id": "gpu", "kind": { "slot": { "slots": 1, "cost_per_hour": 2.0 } } })),
    );
    assert_eq!(code, 409);

    let (code, body) = s.call(
        "POST",
        "/api/queue/enqueue",
        Some(&f.a),
        Some(json!({ "needs": [{ "pool": "tpu", "amount": 1 }] })),
    );
    assert_eq!(code, 404, "{body}");
    let (code, body) = s.call(
        "POST",
        "/api/queue/enqueue",
        Some(&f.a),
        Some(json!({ "needs": need, "urgency": 3.0 })),
    );
    assert_eq!(
        (code, body["field"].as_str()),
        (422, Some("request[3].urgency")),
        "{body}"
    );
    assert_eq!(
        s.ok("GET", "/api/queue/status", Some(&f.a), None)["total_queued"],
        0
    );
}

#[test]
fn bad_bodies_answer_with_the_status_and_a_json_error() {
    let f = fleet();
    let s = &f.server;
    let (code, body) = s.raw(
        "POST",
        "/api/costs",
        Some(&f.a),
        Some("{\"type\": \"other\","),
    );
    assert_eq!(code, 400);
    assert!(
        body["error"].as_str().unwrap().contains("invalid JSON"),
        "{body}"
    );
    let (code, body) = s.call(
        "POST",
        "/api/costs",
        Some(&f.a),
        Some(json!({ "type": "other", "category": "x", "amount": 1, "colour": "red" })),
    );
    assert_eq!((code, body["field"].as_str()), (422, Some("colour")));
    let huge = json!({ "type": "other", "category": "x".repeat(300 * 1024), "amount": 1 });
    assert_eq!(s.call("POST", "/api/costs", Some(&f.a), Some(huge)).0, 413);
    let mut request = s.agent.post(&format!("{}/api/costs", s.base));
    request = request.set("Authorization", &format!("Bearer {}", f.a));
    let code = match request.set("Content-Type", "text/plain").send_string("{}") {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(code, 415);
    assert_eq!(
        s.call("GET", "/api/costs", Some("qm_not-a-token"), None).0,
        401
    );
    assert_eq!(s.call("GET", "/api/clients", Some(&f.a), None).0, 403);
    assert_eq!(
        s.call(
            "POST",
            "/api/clients",
            Some(ADMIN),
            Some(json!({ "id": "a", "tier": "basic" }))
        )
        .0,
        409
    );
    assert_eq!(
        s.ok("GET", "/api/costs", Some(ADMIN), None)["count"],
        0,
        "nothing half-applied"
    );
}

#[test]
fn the_websocket_streams_events_caused_by_http_calls_filtered_by_client() {
    let f = fleet();
    let s = &f.server;
    let address = s.base.strip_prefix("http://").unwrap().to_owned();
    let stream = TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let url = format!("ws://{address}/ws?agent_id=a&token={}", f.a);
    let (mut socket, _) = tungstenite::client(url.as_str(), stream).unwrap();
    let mut next = || loop {
        match socket.read().unwrap() {
            tungstenite::Message::Text(text) => {
                return serde_json::from_str::<Value>(&text).unwrap();
            }
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    };
    s.ok(
        "POST",
        "/api/costs",
        Some(&f.b),
        Some(json!({ "type": "other", "category": "b-only", "amount": 1 })),
    );
    s.ok(
        "POST",
        "/api/costs",
        Some(&f.a),
        Some(json!({ "type": "other", "category": "a-own", "amount": 2 })),
    );
    let event = next();
    assert_eq!(
        (event["type"].as_str(), event["category"].as_str()),
        (Some("cost.recorded"), Some("a-own")),
        "{event}"
    );
    s.ok(
        "POST",
        "/api/bookings",
        Some(&f.a),
        Some(booking(
            None,
            "2032-01-01T00:00:00Z",
            "2032-01-01T01:00:00Z",
        )),
    );
    s.ok(
        "POST",
        "/api/bookings",
        Some(&f.b),
        Some(booking(
            None,
            "2032-01-02T00:00:00Z",
            "2032-01-02T01:00:00Z",
        )),
    );
    s.ok(
        "POST",
        "/api/credentials",
        Some(&f.a),
        Some(json!({ "name": "k", "type": "api_key", "service": "s", "value": "v" })),
    );
    // A quota's settings are about no client in particular, so every watcher sees them.
    s.ok(
        "POST",
        "/api/quotas",
        Some(ADMIN),
        Some(
            json!({ "id": "b-calls", "scope": { "client": "b" }, "metric": "api_calls",
                     "limit": 5, "period": "daily" }),
        ),
    );
    let mut seen = Vec::new();
    while seen
        .last()
        .is_none_or(|e: &Value| e["type"] != "quota.updated")
    {
        seen.push(next());
    }
    let types: Vec<&str> = seen.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "booking.created",
            "cost.recorded",
            "credential.created",
            "quota.updated"
        ],
        "{seen:?}"
    );
    for event in &seen {
        let about = event.get("client").or(event.get("owner"));
        assert!(about.is_none_or(|c| c == "a"), "{event}");
    }
    // Crossing the warning threshold (80% of 10 calls) by submitting work warns a.
    s.ok(
        "PUT",
        "/api/quotas/a-calls/usage",
        Some(ADMIN),
        Some(json!({ "used": 8 })),
    );
    s.ok(
        "POST",
        "/api/queue/enqueue",
        Some(&f.a),
        Some(json!({ "needs": [{ "pool": "gpu", "amount": 1 }], "estimated_cost": 1.0 })),
    );
    let warning = loop {
        let event = next();
        if event["type"] == "quota.warning" {
            break event;
        }
    };
    assert_eq!(
        (warning["id"].as_str(), warning["client"].as_str()),
        (Some("a-calls"), Some("a"))
    );
    let stranger = TcpStream::connect(&address).unwrap();
    let denied = tungstenite::client(
        format!("ws://{address}/ws?agent_id=a&token={}", f.b).as_str(),
        stranger,
    );
    assert!(denied.is_err(), "b may not watch a's events");
}

#[test]
fn a_restarted_server_keeps_every_record_and_token() {
    let f = fleet();
    let s = &f.server;
    s.ok(
        "POST",
        "/api/costs",
        Some(&f.a),
        Some(json!({ "type": "other", "category": "c", "amount": 1.5 })),
    );
    s.ok(
        "POST",
        "/api/bookings",
        Some(&f.a),
        Some(booking(
            None,
            "2033-01-01T00:00:00Z",
            "2033-01-01T01:00:00Z",
        )),
    );
    let cred = s.ok(
        "POST",
        "/api/credentials",
        Some(&f.a),
        Some(json!({ "name": "k", "type": "api_key", "service": "s", "value": "sk-kept" })),
    );
    s.ok(
        "PUT",
        "/api/quotas/a-calls/usage",
        Some(&f.a),
        Some(json!({ "used": 4 })),
    );
    let running = s.ok(
        "POST",
        "/api/queue/enqueue",
        Some(&f.a),
        Some(json!({ "needs": [{ "pool": "gpu", "amount": 1 }], "estimated_cost": 1.0 })),
    );
    let Fleet {
        _dir,
        db,
        server,
        a,
        b,
    } = f;
    drop(server);

    let s = Server::start(&db);
    assert_eq!(
        s.ok("GET", "/api/costs", Some(&a), None)["total"],
        1.5 + 3.0,
        "the booking's cost and the recorded one"
    );
    assert_eq!(
        s.ok("GET", "/api/bookings", Some(&a), None)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let path = format!(
        "/api/credentials/{}?includeValue=true",
        cred["id"].as_str().unwrap()
    );
    assert_eq!(s.ok("GET", &path, Some(&a), None)["value"], "sk-kept");
    assert_eq!(s.call("GET", &path, Some(&b), None).0, 403);
    assert_eq!(
        s.ok(
            "GET",
            "/api/quotas/check?type=api_calls&amount=1",
            Some(&a),
            None
        )["usage_ratio"],
        0.6,
        "4 set, 1 counted by the request, 1 asked for"
    );
    let id = running["request_id"].as_u64().unwrap();
    assert_eq!(
        s.ok("GET", &format!("/api/execution/{id}"), Some(&a), None)["state"],
        "running"
    );
    assert_eq!(
        s.ok("GET", "/api/clients", Some(ADMIN), None)
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Only hashes are stored: no token appears in the database or its log.
    for file in std::fs::read_dir(db.parent().unwrap()).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        for token in [&a, &b] {
            assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
        }
    }
}

#[test]
fn qm_token_create_makes_admin_tokens_and_needs_a_role() {
    let f = fleet();
    let out = Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["token", "create", "--admin", "--db"])
        .arg(&f.db)
        .output()
        .unwrap();
    assert!(out.status.success());
    let admin = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(admin.starts_with("qm_") && admin.len() == 67, "{admin}");
    let clients = f.server.ok("GET", "/api/clients", Some(&admin), None);
    assert_eq!(clients.as_array().unwrap().len(), 2);
    assert_eq!(
        f.server.call("GET", "/api/clients", Some(&f.a), None).0,
        403
    );
    let neither = Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["token", "create", "--db"])
        .arg(&f.db)
        .output()
        .unwrap();
    assert!(!neither.status.success());
    assert!(String::from_utf8_lossy(&neither.stderr).contains("--admin"));
}

/// Polls a request's state until it is `want`, for at most twenty seconds.
pub fn wait_for_state(s: &Server, token: &str, id: u64, want: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let state =
            s.ok("GET", &format!("/api/execution/{id}"), Some(token), None)["state"].clone();
        if state == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "request {id} still {state}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_takes_monitor_settings_from_its_config_and_autoscales_and_batches() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fleet.db");
    let config = dir.path().join("qm.ron");
    std::fs::write(
        &config,
        "(monitor: (sample_every_secs: 0.05, window: 2, horizon_secs: 0, cooldown_secs: 0, \
          stabilisation_secs: 0.2))",
    )
    .unwrap();
    let s = Server::start_with(&db, &["--config".as_ref(), config.as_os_str()]);
    s.ok(
        "POST",
        "/api/clients",
        Some(ADMIN),
        Some(json!({ "id": "a", "tier": "enterprise" })),
    );
    s.ok(
        "POST",
        "/api/pools",
        Some(ADMIN),
        Some(
            json!({ "id": "gpu", "kind": { "slot": { "slots": 1, "cost_per_hour": 2.0 } },
                     "autoscale": { "min": 1, "max": 3 } }),
        ),
    );
    let enqueue = |body: Value| s.ok("POST", "/api/queue/enqueue", Some(ADMIN), Some(body));
    let need = json!([{ "pool": "gpu", "amount": 1 }]);
    let ids: Vec<u64> = (0..3)
        .map(|_| {
            enqueue(json!({ "client": "a", "needs": need, "estimated_cost": 0.1 }))["request_id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    // One slot at first; the monitor grows the pool for the queued two.
    for id in &ids {
        wait_for_state(&s, ADMIN, *id, "running");
    }
    for id in &ids {
        s.ok(
            "POST",
            &format!("/api/execution/{id}/complete"),
            Some(ADMIN),
            None,
        );
    }
    // A batch group of two over HTTP: the first waits for the second.
    let group = json!({ "name": "nightly", "max_size": 2, "max_wait_secs": 60 });
    let first = enqueue(json!({ "agent_id": "a", "needs": need, "batch": group,
                               "estimated_cost": 0.1 }));
    assert_eq!(first["state"], "queued");
    let second = enqueue(json!({ "agent_id": "a", "needs": need, "batch": group,
                                "estimated_cost": 0.1 }));
    for answer in [first, second] {
        wait_for_state(&s, ADMIN, answer["request_id"].as_u64().unwrap(), "running");
    }
}

#[test]
fn serve_refuses_bad_settings_naming_the_field_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fleet.db");
    for (name, text, field) in [
        (
            "bad.ron",
            "(scheduler: (starvation_bound_secs: -5))",
            "scheduler.starvation_bound_secs",
        ),
        (
            "bad.json",
            r#"{"scheduler": {"off_peak": {"start_hour": 30, "end_hour": 6}}}"#,
            "scheduler.off_peak.start_hour",
        ),
        ("typo.ron", "(monitr: ())", "monitr"),
    ] {
        let config = dir.path().join(name);
        std::fs::write(&config, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_qm"))
            .args(["serve", "--bind", "127.0.0.1:0", "--db"])
            .arg(&db)
            .arg("--config")
            .arg(&config)
            .env("QM_ENCRYPTION_KEY", VAULT_KEY)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was accepted");
        assert!(stderr.contains(field), "{name}: {stderr}");
        assert!(!db.exists(), "{name}: nothing is created for bad settings");
    }
}
