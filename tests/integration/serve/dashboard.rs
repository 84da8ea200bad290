//! The dashboard's page and the read-only endpoints it draws: served by the real binary,
//! with a client token limited to its own client.

use super::*;

#[test]
fn the_page_and_its_assets_are_served_from_the_binary_under_a_strict_policy() {
    let f = fleet();
    let page = f
        .server
        .agent
        .get(&format!("{}/", f.server.base))
        .call()
        .unwrap();
    assert_eq!(page.content_type(), "text/html");
    let policy = page.header("Content-Security-Policy").unwrap().to_owned();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    let html = page.into_string().unwrap();
    assert!(html.contains("/dashboard/app.js"));
    for asset in [
        "app.js",
        "app.css",
        "vendor/uPlot.iife.min.js",
        "vendor/uPlot.min.css",
    ] {
        let response = f
            .server
            .agent
            .get(&format!("{}/dashboard/{asset}", f.server.base))
            .call()
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
    }
    let (status, body) = f
        .server
        .call("GET", "/dashboard/../../etc/passwd", None, None);
    assert_eq!(status, 404, "{body}");
}

#[test]
fn whoami_names_the_tokens_role() {
    let f = fleet();
    let admin = f.server.ok("GET", "/api/whoami", Some(ADMIN), None);
    assert_eq!(admin, json!({ "role": "admin" }));
    let a = f.server.ok("GET", "/api/whoami", Some(&f.a), None);
    assert_eq!(a, json!({ "role": "client", "client": "a" }));
    assert_eq!(f.server.call("GET", "/api/whoami", None, None).0, 401);
}

#[test]
fn fleet_pools_show_size_utilisation_and_price_now() {
    let f = fleet();
    let started = f.server.ok(
        "POST",
        "/api/queue/enqueue",
        Some(&f.a),
        Some(json!({ "needs": [{ "pool": "gpu", "amount": 1 }], "estimated_cost": 1.0 })),
    );
    assert_eq!(started["state"], "running", "{started}");
    let pools = f.server.ok("GET", "/api/fleet/pools", Some(&f.b), None);
    let gpu = &pools[0];
    assert_eq!(gpu["id"], "gpu");
    assert_eq!(gpu["kind"], "slot");
    assert_eq!(gpu["size"], 1.0);
    assert_eq!(gpu["utilisation"], 1.0);
    assert_eq!(gpu["available"], 0.0);
    assert_eq!(gpu["price"], 2);
    assert_eq!(gpu["price_per"], "hour");
    assert!(gpu["scaling"].is_array());
}

#[test]
fn fleet_queue_gives_depth_and_waits_per_class_a_client_only_its_own() {
    let f = fleet();
    let body = json!({ "class": "fast", "needs": [{ "pool": "gpu", "amount": 1 }], "estimated_cost": 1.0 });
    f.server
        .ok("POST", "/api/queue/enqueue", Some(&f.a), Some(body.clone()));
    // b's request waits behind a's, which holds the only slot.
    f.server
        .ok("POST", "/api/queue/enqueue", Some(&f.b), Some(body));
    let all = f.server.ok("GET", "/api/fleet/queue", Some(ADMIN), None);
    assert_eq!(all["queued"]["fast"], 1, "{all}");
    assert_eq!(all["running"], 1);
    assert_eq!(all["waits"]["fast"]["started"], 1);
    for key in ["p50", "p90", "p99", "max", "mean"] {
        assert!(all["waits"]["fast"][key].is_number(), "{key}: {all}");
    }
    let b = f.server.ok("GET", "/api/fleet/queue", Some(&f.b), None);
    assert_eq!(b["waits"]["fast"]["started"], 0, "{b}");
    let (status, body) = f
        .server
        .call("GET", "/api/fleet/queue?client=a", Some(&f.b), None);
    assert_eq!(status, 403, "{body}");
    let (status, body) = f
        .server
        .call("GET", "/api/fleet/queue?client=nobody", Some(ADMIN), None);
    assert_eq!(status, 404, "{body}");
}

#[test]
fn fleet_series_hides_the_fleets_spend_from_a_client() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fleet.db");
    let config = dir.path().join("qm.ron");
    std::fs::write(&config, "(monitor: (sample_every_secs: 0.05))").unwrap();
    let s = Server::start_with(&db, &["--config".as_ref(), config.as_os_str()]);
    s.ok(
        "POST",
        "/api/pools",
        Some(ADMIN),
        Some(json!({ "id": "gpu", "kind": { "slot": { "slots": 2, "cost_per_hour": 1.0 } } })),
    );
    let a = token_for(&db, "a");
    let series = loop {
        let series = s.ok("GET", "/api/fleet/series?limit=5", Some(ADMIN), None);
        if series["samples"].as_array().unwrap().len() >= 2 {
            break series;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(series["pools"], json!(["gpu"]));
    let samples = series["samples"].as_array().unwrap();
    assert!(samples.len() <= 5);
    assert_eq!(samples[0]["pools"][0]["size"], 2.0);
    assert!(samples[0]["spent"].is_number());
    let theirs = s.ok("GET", "/api/fleet/series", Some(&a), None);
    assert!(
        theirs["samples"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.get("spent").is_none()),
        "{theirs}"
    );
    let (status, body) = s.call("GET", "/api/fleet/series?limit=x", Some(ADMIN), None);
    assert_eq!(status, 400, "{body}");
}

#[test]
fn cost_series_buckets_spend_and_forecasts_the_month_against_the_budget() {
    let f = fleet();
    for (client, amount) in [("a", 10.0), ("a", 2.5), ("b", 7.0)] {
        f.server.ok(
            "POST",
            "/api/costs",
            Some(ADMIN),
            Some(json!({ "client": client, "type": "api_usage", "category": "gpt-4", "amount": amount })),
        );
    }
    let all = f.server.ok("GET", "/api/costs/series", Some(ADMIN), None);
    assert_eq!(all["bucket_secs"], 86_400, "{all}");
    let total: f64 = all["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["total"].as_f64().unwrap())
        .sum();
    assert_eq!(total, 19.5);
    let forecast = &all["forecast"];
    assert_eq!(forecast["spent"], 19.5);
    assert!(
        forecast["projected"].as_f64().unwrap() >= 19.5,
        "{forecast}"
    );
    // Two standard clients: $500 a month each.
    assert_eq!(forecast["budget"], 1000);

    let a = f.server.ok("GET", "/api/costs/series", Some(&f.a), None);
    assert_eq!(a["forecast"]["spent"], 12.5, "{a}");
    assert_eq!(a["forecast"]["budget"], 500);
    let (status, _) = f
        .server
        .call("GET", "/api/costs/series?client=b", Some(&f.a), None);
    assert_eq!(status, 403);

    let (status, body) = f.server.call(
        "GET",
        "/api/costs/series?from_date=2026-01-02T00:00:00Z&to_date=2026-01-01T00:00:00Z",
        Some(ADMIN),
        None,
    );
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("from_date")),
        "{body}"
    );
    let (status, body) = f.server.call(
        "GET",
        "/api/costs/series?from_date=2026-01-01T00:00:00Z&to_date=2026-02-01T00:00:00Z&bucket_secs=1",
        Some(ADMIN),
        None,
    );
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("bucket_secs")),
        "{body}"
    );
}

#[test]
fn quotas_list_their_usage_this_period() {
    let f = fleet();
    f.server.ok(
        "PUT",
        "/api/quotas/a-calls/usage",
        Some(ADMIN),
        Some(json!({ "used": 8 })),
    );
    let quotas = f.server.ok("GET", "/api/quotas", Some(&f.a), None);
    let calls = quotas
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == "a-calls")
        .unwrap();
    assert_eq!(calls["used"], 8, "{calls}");
    assert_eq!(calls["allowance"], 10);
    assert_eq!(calls["usage_ratio"], 0.8);
    assert!(calls["period_end"].is_string());
    let b = f.server.ok("GET", "/api/quotas", Some(&f.b), None);
    assert!(
        b.as_array().unwrap().iter().all(|q| q["id"] != "a-calls"),
        "{b}"
    );
}
