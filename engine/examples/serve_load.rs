//! A load generator for `qm serve` on loopback: sustained requests/s and p50/p99 latency of
//! quota checks, and of enqueue+complete pairs.
//!
//! ```text
//! QM_ADMIN_TOKEN=t qm serve --db /tmp/load.db --bind 127.0.0.1:8080 &
//! QM_ADMIN_TOKEN=t cargo run --release --example serve_load -- http://127.0.0.1:8080 check 8 10 200000
//! ```
//! Arguments: base URL (loopback only), `check` or `enqueue`, connections, at most that many
//! seconds, at most that many operations.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, mode, connections, seconds, max_ops] = args.as_slice() else {
        eprintln!("usage: serve_load BASE_URL check|enqueue CONNECTIONS SECONDS MAX_OPS");
        std::process::exit(2);
    };
    let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"];
    if !loopback.iter().any(|p| base.starts_with(p)) {
        eprintln!("refusing {base}: this generator only loads a server on loopback");
        std::process::exit(2);
    }
    let token = std::env::var("QM_ADMIN_TOKEN").expect("QM_ADMIN_TOKEN: the server's admin token");
    let connections: usize = connections.parse().expect("CONNECTIONS: a count");
    let deadline = Duration::from_secs(seconds.parse().expect("SECONDS: a count"));
    let max_ops: u64 = max_ops.parse().expect("MAX_OPS: a count");
    let enqueue = match mode.as_str() {
        "check" => false,
        "enqueue" => true,
        other => panic!("unknown mode {other:?}: expected check or enqueue"),
    };
    setup(base, &token);

    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (base, token, issued) = (base.clone(), token.clone(), issued.clone());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().max_idle_connections_per_host(1).build();
                let auth = format!("Bearer {token}");
                let mut latencies = Histogram::<u64>::new(3).unwrap();
                while started.elapsed() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max_ops {
                    let t0 = Instant::now();
                    if enqueue {
                        let answer: serde_json::Value = agent
                            .post(&format!("{base}/api/queue/enqueue"))
                            .set("Authorization", &auth)
                            .send_json(json!({ "agent_id": "load", "needs": [{ "pool": "load-pool", "amount": 1 }], "estimated_cost": 0.001 }))
                            .expect("enqueue")
                            .into_json()
                            .unwrap();
                        let id = answer["request_id"].as_u64().unwrap();
                        agent
                            .post(&format!("{base}/api/execution/{id}/complete"))
                            .set("Authorization", &auth)
                            .send_json(json!({ "actual_cost": 0.0005 }))
                            .expect("complete");
                    } else {
                        agent
                            .get(&format!("{base}/api/quotas/check?agent_id=load&type=api_calls&amount=1"))
                            .set("Authorization", &auth)
                            .call()
                            .expect("check");
                    }
                    latencies.record(t0.elapsed().as_micros() as u64).unwrap();
                }
                latencies
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new(3).unwrap();
    for worker in workers {
        all.add(worker.join().unwrap()).unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let unit = if enqueue {
        "enqueue+complete pairs"
    } else {
        "quota checks"
    };
    println!(
        "{} {unit} over {connections} connections in {elapsed:.2}s: {:.0}/s, p50 {} µs, p99 {} µs, max {} µs",
        all.len(),
        all.len() as f64 / elapsed,
        all.value_at_quantile(0.5),
        all.value_at_quantile(0.99),
        all.max()
    );
}

/// A client with room for every connection's request, a pool as large, and a quota to check;
/// a second run finds them there (a client answers 409, a pool 422 naming `pool.id`).
fn setup(base: &str, token: &str) {
    let auth = format!("Bearer {token}");
    let post = |path: &str, body: serde_json::Value| match ureq::post(&format!("{base}{path}"))
        .set("Authorization", &auth)
        .send_json(body)
    {
        Ok(_) | Err(ureq::Error::Status(409 | 422, _)) => {}
        Err(e) => panic!("setting up {path}: {e}"),
    };
    post(
        "/api/clients",
        json!({ "id": "load", "tier": "enterprise", "credits": 1_000_000, "max_concurrent": 10_000 }),
    );
    post(
        "/api/pools",
        json!({ "id": "load-pool", "kind": { "slot": { "slots": 10_000, "cost_per_hour": 0.01 } } }),
    );
    post(
        "/api/quotas",
        json!({ "id": "load-calls", "scope": { "client": "load" }, "metric": "api_calls", "limit": 1_000_000_000, "period": "daily" }),
    );
}
