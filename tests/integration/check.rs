//! `qm check`: every bad input is reported with its line, column, field and expectation;
//! none panics.

use quartermaster::sim;

const GOOD: &str = r#"(
    name: "t",
    start: "2026-01-05T00:00:00Z",
    duration_secs: 60,
    pools: [(id: "p", kind: slot(slots: 2, cost_per_hour: 1))],
    clients: [(id: "c", tier: basic)],
    workloads: [(
        client: "c",
        arrivals: poisson(rate_per_sec: 1),
        kinds: [(name: "k", class: normal, needs: [(pool: "p", amount: constant(1))], service_secs: constant(1))],
    )],
)"#;

fn problems(text: &str) -> Vec<sim::ScenarioProblem> {
    match sim::parse(text, "test.ron") {
        Ok(_) => Vec::new(),
        Err(e) => e.problems().to_vec(),
    }
}

#[test]
fn the_good_scenario_passes() {
    assert!(problems(GOOD).is_empty());
}

#[test]
fn a_syntax_error_has_its_line_and_column() {
    let text = GOOD.replace("duration_secs: 60,", "duration_secs: 60,,");
    let found = problems(&text);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].line, 4);
}

#[test]
fn an_unknown_field_is_named() {
    let text = GOOD.replace(
        "duration_secs: 60,",
        "duration_secs: 60,\n    durration: 5,",
    );
    let found = problems(&text);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].message.contains("durration"),
        "{}",
        found[0].message
    );
    assert_eq!(found[0].line, 5);
}

#[test]
fn every_semantic_problem_is_reported_with_its_place() {
    let text = GOOD
        .replace("slots: 2", "slots: 0")
        .replace("rate_per_sec: 1", "rate_per_sec: -3")
        .replace("pool: \"p\", amount", "pool: \"q\", amount");
    let found = problems(&text);
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "pools[0].slots",
            "workloads[0].arrivals.rate_per_sec",
            "workloads[0].kinds[0].needs[0].pool"
        ]
    );
    assert_eq!((found[0].line, found[0].column), (5, 34));
    assert_eq!(found[1].line, 9);
    assert!(
        found[1].message.contains("positive finite rate"),
        "{}",
        found[1].message
    );
    assert_eq!(found[2].line, 10);
    assert!(
        found[2].message.contains("one of the pools (p)"),
        "{}",
        found[2].message
    );
}

#[test]
fn wrong_types_and_values_never_panic() {
    for (from, to) in [
        ("slots: 2", "slots: \"two\""),
        ("tier: basic", "tier: platinum"),
        ("\"2026-01-05T00:00:00Z\"", "\"yesterday\""),
        ("duration_secs: 60", "duration_secs: -1"),
        ("constant(1))]", "exponential(mean: 0))]"),
        (
            "(id: \"c\", tier: basic)",
            "(id: \"c\", tier: basic, credits: -5)",
        ),
    ] {
        let text = GOOD.replace(from, to);
        assert_ne!(text, GOOD, "{from}");
        let found = problems(&text);
        assert!(!found.is_empty(), "{to} was accepted");
        assert!(found.iter().all(|p| p.line > 0 && !p.message.is_empty()));
    }
    assert!(!problems("").is_empty());
    assert!(!problems("(((((").is_empty());
}

#[test]
fn the_shipped_scenarios_all_pass_the_check() {
    let dir = crate::root().join("scenarios");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.to_string_lossy();
        if name.ends_with(".changes.ron") {
            // Changes for `qm replay`, not a scenario.
            sim::Changes::load(&path).unwrap_or_else(|e| panic!("{e}"));
        } else if path.extension().is_some_and(|e| e == "ron") {
            sim::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
