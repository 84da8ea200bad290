//! `qm serve` for operators: alerts over HTTP and the WebSocket, health that checks the
//! journal writer and the database, and metrics in the OpenMetrics text format.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ADMIN, Server, token_for};

/// A WebSocket watcher of every event, as the admin.
struct Watcher {
    socket: tungstenite::WebSocket<TcpStream>,
}

impl Watcher {
    fn connect(server: &Server) -> Watcher {
        let address = server.base.strip_prefix("http://").unwrap().to_owned();
        let stream = TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let url = format!("ws://{address}/ws?token={ADMIN}");
        let (socket, _) = tungstenite::client(url.as_str(), stream).unwrap();
        Watcher { socket }
    }

    fn next(&mut self) -> Value {
        loop {
            match self.socket.read().unwrap() {
                tungstenite::Message::Text(text) => {
                    return serde_json::from_str::<Value>(&text).unwrap();
                }
                tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Reads events until one of `kind` (`alert.raised`, `alert.resolved`) about an alert
    /// of `alert_kind`; answers its alert.
    fn alert(&mut self, kind: &str, alert_kind: &str) -> Value {
        loop {
            let event = self.next();
            if event["type"] == kind && event["alert"]["kind"] == alert_kind {
                return event["alert"].clone();
            }
        }
    }
}

/// A server whose monitor samples every 0.1 s, with a queue backup past one request and a
/// starvation bound of half a second; a client `a` and a one-slot pool `gpu`.
fn watched_server(dir: &std::path::Path) -> Server {
    let db = dir.join("fleet.db");
    let config = dir.join("qm.ron");
    std::fs::write(
        &config,
        "(scheduler: (starvation_bound_secs: 0.5), \
          monitor: (sample_every_secs: 0.1, alerts: (queue_depth_above: 1)))",
    )
    .unwrap();
    let s = Server::start_with(&db, &["--config".as_ref(), config.as_os_str()]);
    s.ok(
        "POST",
        "/api/clients",
        Some(ADMIN),
        Some(json!({ "id": "a", "tier": "standard" })),
    );
    s.ok(
        "POST",
        "/api/pools",
        Some(ADMIN),
        Some(json!({ "id": "gpu", "kind": { "slot": { "slots": 1, "cost_per_hour": 2.0 } } })),
    );
    s
}

fn alerts(s: &Server, query: &str) -> Vec<Value> {
    let list = s.ok("GET", &format!("/admin/alerts{query}"), Some(ADMIN), None);
    list.as_array().unwrap().clone()
}

fn kinds(list: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = list
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_owned())
        .collect();
    kinds.sort();
    kinds
}

#[test]
fn alerts_are_streamed_listed_with_filters_and_resolved_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let s = watched_server(dir.path());
    let mut watcher = Watcher::connect(&s);
    let need = json!([{ "pool": "gpu", "amount": 1 }]);
    let ids: Vec<u64> = (0..3)
        .map(|_| {
            s.ok(
                "POST",
                "/api/queue/enqueue",
                Some(ADMIN),
                Some(json!({ "client": "a", "needs": need, "estimated_cost": 0.1 })),
            )["request_id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    // One runs and fills the pool; two wait: a backup, then two starving requests.
    let backup = watcher.alert("alert.raised", "queue.backup");
    assert_eq!(backup["level"], "critical");
    assert_eq!(backup["subject"], "queue");
    assert!(backup["resolved_at"].is_null());
    let starving = watcher.alert("alert.raised", "request.starving");
    assert_eq!(starving["subject"], format!("request:{}", ids[1]));
    assert_eq!(starving["client"], "a");
    let deadline = Instant::now() + Duration::from_secs(20);
    while kinds(&alerts(&s, "")).len() < 4 {
        assert!(Instant::now() < deadline, "{:?}", alerts(&s, ""));
        std::thread::sleep(Duration::from_millis(50));
    }

    let open = alerts(&s, "?state=open");
    assert_eq!(
        kinds(&open),
        [
            "pool.capacity_low",
            "queue.backup",
            "request.starving",
            "request.starving"
        ]
    );
    assert_eq!(kinds(&alerts(&s, "?level=critical")), ["queue.backup"]);
    assert_eq!(
        kinds(&alerts(&s, "?level=warning&subject=pool")),
        ["pool.capacity_low"]
    );
    assert_eq!(
        kinds(&alerts(&s, "?subject=pool:gpu")),
        ["pool.capacity_low"]
    );
    assert!(alerts(&s, "?subject=pool:cpu").is_empty());
    let one = alerts(&s, &format!("?subject=request:{}", ids[2]));
    assert_eq!(kinds(&one), ["request.starving"]);
    for (query, field) in [
        ("?state=closed", "state"),
        ("?level=loud", "level"),
        ("?subject=disk", "subject"),
    ] {
        let (code, body) = s.call("GET", &format!("/admin/alerts{query}"), Some(ADMIN), None);
        assert_eq!(code, 400, "{query}: {body}");
        assert_eq!(body["field"], field, "{body}");
    }
    let token = token_for(&dir.path().join("fleet.db"), "a");
    let (code, _) = s.call("GET", "/admin/alerts", Some(&token), None);
    assert_eq!(code, 403, "a client token may not list alerts");
    let (code, _) = s.call("GET", "/admin/alerts", None, None);
    assert_eq!(code, 401);

    // The work finishes: every alert resolves by itself.
    for id in &ids {
        super::wait_for_state(&s, ADMIN, *id, "running");
        s.ok(
            "POST",
            &format!("/api/execution/{id}/complete"),
            Some(ADMIN),
            None,
        );
    }
    let resolved = watcher.alert("alert.resolved", "queue.backup");
    assert_eq!(resolved["id"], backup["id"]);
    assert!(resolved["resolved_at"].as_str().unwrap() > backup["raised_at"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !alerts(&s, "").is_empty() {
        assert!(Instant::now() < deadline, "{:?}", alerts(&s, ""));
        std::thread::sleep(Duration::from_millis(50));
    }
    let all = alerts(&s, "?state=all");
    assert!(all.len() >= 4, "{all:?}");
    assert!(all.iter().all(|a| a["resolved_at"].is_string()), "{all:?}");
}

#[test]
fn a_database_that_takes_no_writes_makes_health_answer_503_until_it_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fleet.db");
    let s = Server::start(&db);
    for path in ["/health", "/health/ready", "/health/live"] {
        let body = s.ok("GET", path, None, None);
        assert_eq!(body["status"], "ok", "{path}: {body}");
    }
    let health = s.ok("GET", "/health", None, None);
    assert_eq!(health["checks"]["journal_writer"]["status"], "ok");
    assert_eq!(health["checks"]["database"]["status"], "ok");

    // Another process holds the database's write lock: the journal can commit nothing.
    let other = rusqlite::Connection::open(&db).unwrap();
    other.execute_batch("BEGIN IMMEDIATE;").unwrap();
    for path in ["/health", "/health/ready"] {
        let (code, body) = s.call("GET", path, None, None);
        assert_eq!(code, 503, "{path}: {body}");
        assert_eq!(body["status"], "failing");
        assert_eq!(body["checks"]["database"]["status"], "failing", "{body}");
        let reason = body["reason"].as_str().unwrap();
        assert!(reason.contains("database: database is locked"), "{reason}");
    }
    // The process itself is fine.
    assert_eq!(s.ok("GET", "/health/live", None, None)["status"], "ok");

    other.execute_batch("ROLLBACK;").unwrap();
    drop(other);
    assert_eq!(s.ok("GET", "/health", None, None)["status"], "ok");
}

#[test]
fn metrics_are_openmetrics_text_covering_pools_queues_clients_requests_and_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let s = watched_server(dir.path());
    let need = json!([{ "pool": "gpu", "amount": 1 }]);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let answer = s.ok(
            "POST",
            "/api/queue/enqueue",
            Some(ADMIN),
            Some(json!({ "client": "a", "needs": need, "estimated_cost": 0.1 })),
        );
        ids.push(answer["request_id"].as_u64().unwrap());
    }
    s.ok(
        "POST",
        &format!("/api/execution/{}/complete", ids[0]),
        Some(ADMIN),
        None,
    );
    // Refused at once: needs more of the pool than it has.
    let big = json!([{ "pool": "gpu", "amount": 5 }]);
    s.ok(
        "POST",
        "/api/queue/enqueue",
        Some(ADMIN),
        Some(json!({ "client": "a", "needs": big, "estimated_cost": 0.1 })),
    );
    let scrape = || {
        let response = s.agent.get(&format!("{}/metrics", s.base)).call().unwrap();
        let kind = response.content_type().to_owned();
        (kind, response.into_string().unwrap())
    };
    // Outcomes are counted from the event stream, a moment after the calls.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (kind, text) = loop {
        let (kind, text) = scrape();
        if text.contains("qm_requests_total{outcome=\"refused\",reason=\"capacity\"} 1") {
            break (kind, text);
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(kind, "application/openmetrics-text");
    for line in [
        "# TYPE qm_pool_utilisation_ratio gauge",
        "qm_pool_utilisation_ratio{pool=\"gpu\"} 1.0",
        "qm_pool_size{pool=\"gpu\"} 1.0",
        "qm_pool_available{pool=\"gpu\"} 0.0",
        "qm_queue_depth{class=\"normal\"} 0.0",
        "qm_requests_running 1.0",
        "# TYPE qm_requests counter",
        "qm_requests_total{outcome=\"started\"} 2",
        "qm_requests_total{outcome=\"finished\"} 1",
        "qm_requests_total{outcome=\"queued\"} 1",
        "# TYPE qm_request_wait_seconds histogram",
        "qm_request_wait_seconds_count 2",
        "qm_client_credit_used_ratio{client=\"a\"}",
        "qm_client_spent_dollars{client=\"a\"}",
        "qm_client_credit_available_dollars{client=\"a\"}",
        "qm_quota_usage_ratio{quota=\"budget:a\",client=\"a\"}",
        "qm_alerts_open{level=\"critical\"}",
        "# TYPE qm_journal_commit_seconds histogram",
        "qm_journal_commit_seconds_bucket{le=\"+Inf\"}",
        "qm_http_requests_total",
        "# EOF",
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
}

/// The lifecycle events of the requests in `ids`, in order, until `last` (a type and a
/// request) arrives.
fn lifecycle(watcher: &mut Watcher, ids: &[u64], last: (&str, u64)) -> Vec<(String, u64)> {
    const LIFECYCLE: [&str; 6] = [
        "request.queued",
        "request.started",
        "request.refused",
        "request.finished",
        "request.cancelled",
        "request.expired",
    ];
    let mut seen = Vec::new();
    loop {
        let event = watcher.next();
        let kind = event["type"].as_str().unwrap_or_default().to_owned();
        let Some(request) = event["request"].as_u64() else {
            continue;
        };
        if !LIFECYCLE.contains(&kind.as_str()) || !ids.contains(&request) {
            continue;
        }
        let done = (kind.as_str(), request) == last;
        seen.push((kind, request));
        if done {
            return seen;
        }
    }
}

/// Every path of a request's life over HTTP, each seen on the WebSocket: started, queued,
/// cancelled, refused with its reason, finished with its charge, and expired when its worker
/// stops heartbeating, which frees the slot for the next request in the queue.
#[test]
fn each_lifecycle_path_over_http_is_streamed_on_the_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let s = watched_server(dir.path());
    let mut watcher = Watcher::connect(&s);
    let enqueue = |slots: u32, lease_secs: f64| {
        s.ok(
            "POST",
            "/api/queue/enqueue",
            Some(ADMIN),
            Some(
                json!({ "client": "a", "needs": [{ "pool": "gpu", "amount": slots }],
                         "estimated_cost": 0.1, "lease_secs": lease_secs }),
            ),
        )
    };
    let first = enqueue(1, 1.5);
    assert_eq!(first["state"], "running");
    let first = first["request_id"].as_u64().unwrap();
    let second = enqueue(1, 0.5)["request_id"].as_u64().unwrap();
    let third = enqueue(1, 60.0)["request_id"].as_u64().unwrap();
    // Two slots of a one-slot pool can never be had.
    let refused = enqueue(2, 60.0);
    assert_eq!(refused["state"], "refused", "{refused}");
    assert_eq!(refused["reason"], "capacity", "{refused}");
    let refused = refused["request_id"].as_u64().unwrap();
    let fourth = enqueue(1, 60.0)["request_id"].as_u64().unwrap();
    s.ok("DELETE", &format!("/api/queue/{third}"), Some(ADMIN), None);

    // Heartbeats keep the first running past its 1.5 s lease.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(700));
        let beat = s.ok(
            "POST",
            &format!("/api/execution/{first}/heartbeat"),
            Some(ADMIN),
            None,
        );
        assert_eq!(beat["request_id"], first);
    }
    let execution = s.ok("GET", &format!("/api/execution/{first}"), Some(ADMIN), None);
    assert_eq!(execution["state"], "running", "{execution}");
    s.ok(
        "POST",
        &format!("/api/execution/{first}/complete"),
        Some(ADMIN),
        Some(json!({})),
    );

    // The second starts and is never heard from: it expires and the fourth starts.
    let ids = [first, second, third, refused, fourth];
    let seen = lifecycle(&mut watcher, &ids, ("request.started", fourth));
    let of = |id: u64| -> Vec<&str> {
        seen.iter()
            .filter(|(_, r)| *r == id)
            .map(|(kind, _)| kind.as_str())
            .collect()
    };
    assert_eq!(
        of(first),
        ["request.started", "request.finished"],
        "{seen:?}"
    );
    assert_eq!(
        of(second),
        ["request.queued", "request.started", "request.expired"],
        "{seen:?}"
    );
    assert_eq!(
        of(third),
        ["request.queued", "request.cancelled"],
        "{seen:?}"
    );
    assert_eq!(of(refused), ["request.refused"], "{seen:?}");
    assert_eq!(
        of(fourth),
        ["request.queued", "request.started"],
        "{seen:?}"
    );
    let position = |kind: &str, id: u64| seen.iter().position(|e| e == &(kind.to_owned(), id));
    assert!(position("request.finished", first) < position("request.started", second));
    assert!(position("request.expired", second) < position("request.started", fourth));

    let expired = s.ok(
        "GET",
        &format!("/api/execution/{second}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(expired["state"], "expired", "{expired}");
    assert!(expired["charged"].as_f64().unwrap() > 0.0, "{expired}");
    let finished = s.ok("GET", &format!("/api/execution/{first}"), Some(ADMIN), None);
    assert_eq!(finished["state"], "finished", "{finished}");
    // A heartbeat for an expired request is a conflict, not a renewal.
    let (status, _) = s.call(
        "POST",
        &format!("/api/execution/{second}/heartbeat"),
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 409);
}
