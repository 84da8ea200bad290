//! `qm`: the Quartermaster command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use quartermaster::live::server::{self, TokenStore};
use quartermaster::live::vault::{KEY_VARIABLE, Vault, VaultKey};
use quartermaster::live::{self, LiveConfig, LiveEngine};
use quartermaster::model::{ClientId, Timestamp};
use quartermaster::sim::{self, RunOptions};
use zeroize::Zeroizing;

/// Quartermaster: scheduling and resource management for fleets of AI agents.
#[derive(Debug, Parser)]
#[command(name = "qm", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a workload scenario on a virtual clock and report what happened.
    Run {
        /// The scenario file (RON).
        scenario: PathBuf,
        /// Seed of the run's random draws (overrides the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Write the whole report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write the time series (utilisation, queue depth, spend) as CSV into this folder.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Draw the time series (utilisation, queue depth, spend) as an SVG to this file.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Run even if the estimate (see `qm check`) exceeds the limits below.
        #[arg(long)]
        force: bool,
        /// Refuse a run expected to see more requests than this.
        #[arg(long, value_name = "N", default_value_t = 50_000_000)]
        limit_requests: u64,
        /// Refuse a run expected to need more memory than this (MiB).
        #[arg(long, value_name = "MIB", default_value_t = 4096)]
        limit_memory_mb: u64,
    },
    /// Validate a scenario and report every problem with its line and column.
    Check {
        /// The scenario file (RON).
        scenario: PathBuf,
    },
    /// Benchmark the simulator and the live engine against a bare heap loop, SimPy and
    /// governor. Runs `qm-bench`, built beside `qm` by
    /// `cargo build --release -p quartermaster-bench`.
    Bench {
        /// Fewer customers and runs: under two minutes.
        #[arg(long)]
        quick: bool,
        /// Where report.md, report.json and scaling.svg go.
        #[arg(long, default_value = "bench-report")]
        out: PathBuf,
    },
    /// Operate on the credentials vault of a live database. Keys come only from the
    /// environment: QM_ENCRYPTION_KEY (64 hex characters; MC_ENCRYPTION_KEY, the seed's name,
    /// when unset) holds the current one.
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// Serve the live engine over HTTP and a WebSocket (see /openapi.json). Callers present
    /// bearer tokens: QM_ADMIN_TOKEN, or ones made by `qm token create`.
    Serve {
        /// The live engine's SQLite database (created if missing).
        #[arg(long)]
        db: PathBuf,
        /// Address to listen on; port 0 picks a free port (printed on start).
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// Scheduler and monitor settings (RON as in a scenario, or JSON if it ends in
        /// .json): `(scheduler: (...), monitor: (...))`.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Inspect or compact a live database.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Manage the API's bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Recorded live traffic as a scenario.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
    /// Replay recorded traffic as it was, then with changes, and compare the two.
    Replay {
        /// A live database (its journal and trace archive) or a trace scenario (.ron).
        source: PathBuf,
        /// The changes (RON): scheduler weights, quota limits, pool sizes and prices,
        /// tier budgets, autoscale bounds, downgrade on or off.
        #[arg(long = "with")]
        with: Option<PathBuf>,
        /// Write both reports as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Draw the baseline's time series to this SVG, the changed one's beside it
        /// (`NAME.changed.svg`).
        #[arg(long)]
        plot: Option<PathBuf>,
        /// From a database: the window's start (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// From a database: the window's end (RFC 3339).
        #[arg(long)]
        to: Option<String>,
        /// From a database: the settings it was served with (as `qm serve --config`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum TraceCommand {
    /// Turn a live database's journal and trace archive into a scenario whose workload is
    /// the recorded traffic.
    Export {
        /// The live engine's SQLite database.
        db: PathBuf,
        /// The window's start (RFC 3339; default: the first command).
        #[arg(long)]
        from: Option<String>,
        /// The window's end (RFC 3339; default: the last command).
        #[arg(long)]
        to: Option<String>,
        /// Where the scenario goes (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The settings the database was served with (as `qm serve --config`): the export
        /// replays the journal with them to learn each request's fate.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it once; only its hash is stored.
    Create {
        /// The live engine's SQLite database.
        #[arg(long)]
        db: PathBuf,
        /// A token that may do everything.
        #[arg(long, conflicts_with = "client", required_unless_present = "client")]
        admin: bool,
        /// A token that acts for this client only.
        #[arg(long)]
        client: Option<String>,
        /// Seconds until the token stops working (it never expires without this).
        #[arg(long)]
        expires_in: Option<u64>,
    },
    /// List the stored tokens (id, role, client, times, first characters; never the secret).
    List {
        /// The live engine's SQLite database.
        #[arg(long)]
        db: PathBuf,
        /// Only this client's tokens.
        #[arg(long)]
        client: Option<String>,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (from `qm token list`): refused from its next request on.
    Revoke {
        /// The live engine's SQLite database.
        #[arg(long)]
        db: PathBuf,
        /// The token's id.
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Schema version, snapshots (position, age, size), journal length, archive size.
    /// Reads only; a foreign or corrupt file is refused.
    Info {
        /// The live engine's SQLite database.
        db: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Snapshot now, move the journal the snapshots cover to the trace archive, and
    /// vacuum. The database must not be open in a running `qm serve`.
    Compact {
        /// The live engine's SQLite database.
        db: PathBuf,
        /// The settings the database is served with (as `qm serve --config`): a replay
        /// decides with them.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum VaultCommand {
    /// List the stored credentials' metadata; values are never decrypted.
    List {
        /// The live engine's SQLite database.
        #[arg(long)]
        db: PathBuf,
    },
    /// Re-encrypt every credential under a new key, all or nothing.
    RotateKey {
        /// The live engine's SQLite database.
        #[arg(long)]
        db: PathBuf,
        /// The environment variable holding the new key (64 hex characters).
        #[arg(long, default_value = "QM_NEW_ENCRYPTION_KEY")]
        new_key_env: String,
    },
}

fn main() -> ExitCode {
    // Warnings (a development vault key, a refused resize) show unless RUST_LOG says otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve { db, bind, config } => {
            let config = match config.as_deref().map(LiveConfig::load).transpose() {
                Ok(config) => config.unwrap_or_default(),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let served =
                actix_web::rt::System::new().block_on(server::serve(&db, bind, config, |addr| {
                    // Scripts and tests read the address from the first line.
                    println!("listening on http://{addr}");
                }));
            match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Db { command } => match db(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Trace {
            command:
                TraceCommand::Export {
                    db,
                    from,
                    to,
                    out,
                    config,
                },
        } => match trace_export(&db, from, to, out.as_deref(), config.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Replay {
            source,
            with,
            json,
            plot,
            from,
            to,
            config,
        } => {
            let window = Window { from, to, config };
            match replay(
                &source,
                with.as_deref(),
                json.as_deref(),
                plot.as_deref(),
                window,
            ) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("error: {message}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Token { command } => match token(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Bench { quick, out } => match bench(quick, &out) {
            Ok(code) => code,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Vault { command } => match vault(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Check { scenario } => match sim::load_file(&scenario) {
            Ok(s) => {
                println!(
                    "{}: ok ({} pools, {} clients, {} workloads)",
                    scenario.display(),
                    s.pools.len(),
                    s.clients.len(),
                    s.workloads.len()
                );
                let estimate = sim::RunEstimate::of(&s);
                println!("estimate: {estimate}");
                for excess in estimate.excesses(&sim::RunLimits::default()) {
                    println!("warning: {excess}; `qm run` refuses it without --force");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Run {
            scenario,
            seed,
            json,
            csv,
            plot,
            force,
            limit_requests,
            limit_memory_mb,
        } => {
            let loaded = match sim::load_file(&scenario) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let limits = sim::RunLimits {
                requests: limit_requests as f64,
                memory_bytes: limit_memory_mb as f64 * 1024.0 * 1024.0,
            };
            let excesses = sim::RunEstimate::of(&loaded).excesses(&limits);
            if !excesses.is_empty() && !force {
                for excess in excesses {
                    eprintln!("error: {excess}");
                }
                eprintln!("(--force runs it anyway; `qm check` shows the estimate)");
                return ExitCode::from(2);
            }
            let options = RunOptions {
                seed,
                progress: true,
            };
            let report = match sim::run(&loaded, &options) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            print!("{}", report.render());
            if let Some(path) = json
                && let Err(e) = std::fs::write(&path, report.to_json())
            {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            if let Some(dir) = csv
                && let Err(e) = report.write_csv(&dir)
            {
                eprintln!("error: cannot write CSV into {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
            if let Some(path) = plot
                && let Err(e) = sim::write_svg(&report, &path)
            {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
    }
}

/// Which part of a database to trace, with which settings.
struct Window {
    from: Option<String>,
    to: Option<String>,
    config: Option<PathBuf>,
}

impl Window {
    fn options(&self) -> Result<live::trace::TraceOptions, String> {
        let instant = |flag: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| Timestamp::parse(t).map_err(|e| format!("{flag}: {e}")))
                .transpose()
        };
        let config = match self.config.as_deref().map(LiveConfig::load).transpose() {
            Ok(config) => config.unwrap_or_default(),
            Err(e) => return Err(e.to_string()),
        };
        Ok(live::trace::TraceOptions {
            from: instant("--from", &self.from)?,
            to: instant("--to", &self.to)?,
            config,
        })
    }
}

fn export_trace(db: &Path, window: &Window) -> Result<live::trace::Exported, String> {
    let options = window.options()?;
    let started = std::time::Instant::now();
    let exported =
        live::trace::export(db, &options).map_err(|e| format!("{}: {e}", db.display()))?;
    let trace = exported
        .scenario
        .trace
        .as_ref()
        .map_or(0, |t| t.arrivals.len());
    eprintln!(
        "traced {trace} requests from {} commands of {} in {:.2}s",
        exported.commands,
        db.display(),
        started.elapsed().as_secs_f64()
    );
    if !exported.skipped.is_empty() {
        let skipped: Vec<String> = exported
            .skipped
            .iter()
            .map(|(op, n)| format!("{n} {op}"))
            .collect();
        eprintln!(
            "not replayed (a scenario has no place for them): {}",
            skipped.join(", ")
        );
    }
    Ok(exported)
}

fn trace_export(
    db: &Path,
    from: Option<String>,
    to: Option<String>,
    out: Option<&Path>,
    config: Option<&Path>,
) -> Result<(), String> {
    let window = Window {
        from,
        to,
        config: config.map(Path::to_owned),
    };
    let exported = export_trace(db, &window)?;
    let text = sim::trace::to_ron(&exported.scenario).map_err(|e| e.to_string())?;
    match out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

fn replay(
    source: &Path,
    with: Option<&Path>,
    json: Option<&Path>,
    plot: Option<&Path>,
    window: Window,
) -> Result<(), String> {
    let is_scenario = source.extension().is_some_and(|e| e == "ron");
    let scenario = if is_scenario {
        if window.from.is_some() || window.to.is_some() || window.config.is_some() {
            return Err(
                "--from, --to and --config apply to a database; a trace file is replayed whole"
                    .into(),
            );
        }
        let started = std::time::Instant::now();
        let scenario = sim::load_file(source).map_err(|e| e.to_string())?;
        eprintln!(
            "loaded {} in {:.2}s",
            source.display(),
            started.elapsed().as_secs_f64()
        );
        scenario
    } else {
        export_trace(source, &window)?.scenario
    };
    if scenario.trace.is_none() {
        return Err(format!(
            "{}: not a trace (it has no `trace`); `qm run` replays a generated workload",
            source.display()
        ));
    }
    let changes = with
        .map(sim::Changes::load)
        .transpose()
        .map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let comparison =
        sim::replay(&scenario, changes.as_ref(), &RunOptions::default()).map_err(|e| {
            match (&e, with) {
                (sim::ReplayError::Invalid { error, .. }, Some(path)) => {
                    format!("{}: {error}", path.display())
                }
                _ => e.to_string(),
            }
        })?;
    eprintln!(
        "replayed in {:.2}s (baseline {:.2}s{})",
        started.elapsed().as_secs_f64(),
        comparison.baseline.wall.as_secs_f64(),
        comparison
            .changed
            .as_ref()
            .map(|c| format!(", changed {:.2}s", c.wall.as_secs_f64()))
            .unwrap_or_default()
    );
    print!("{}", comparison.render());
    if let Some(path) = json {
        std::fs::write(path, comparison.to_json())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = plot {
        sim::write_svg(&comparison.baseline, path).map_err(|e| e.to_string())?;
        if let Some(changed) = &comparison.changed {
            let stem = path
                .file_stem()
                .map_or_else(|| "replay".into(), |s| s.to_string_lossy().into_owned());
            let other = path.with_file_name(format!("{stem}.changed.svg"));
            sim::write_svg(changed, &other).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Runs a vault command; its error is printed as is.
fn vault(command: VaultCommand) -> Result<(), Box<dyn std::error::Error>> {
    let current_key = VaultKey::from_env()?;
    match command {
        VaultCommand::List { db } => {
            let vault = Vault::open_existing(&db, current_key)?;
            let credentials = vault.list(None)?;
            if credentials.is_empty() {
                println!("no credentials in {}", db.display());
            }
            for meta in credentials {
                let last_used = meta
                    .last_used
                    .map_or_else(|| "never".to_owned(), |at| at.to_string());
                println!(
                    "{}  {:?}  type={}  service={:?}  owner={}  permissions=[{}]  created={}  \
                     uses={}  last_used={last_used}",
                    meta.id,
                    meta.name,
                    meta.kind.as_str(),
                    meta.service,
                    meta.owner,
                    meta.permissions.join(", "),
                    meta.created_at,
                    meta.usage_count,
                );
            }
            Ok(())
        }
        VaultCommand::RotateKey { db, new_key_env } => {
            let new_text = std::env::var(&new_key_env)
                .map(Zeroizing::new)
                .map_err(|_| {
                    format!(
                        "{new_key_env} is not set (or not Unicode): expected the new key as 64 \
                         hexadecimal characters, in the environment and never on the command \
                         line"
                    )
                })?;
            let new_key = VaultKey::from_hex(&new_key_env, &new_text)?;
            let mut vault = Vault::open_existing(&db, current_key)?;
            let count = vault.rotate_key(new_key)?;
            let plural = if count == 1 { "" } else { "s" };
            println!(
                "re-encrypted {count} credential{plural} in {} under the key from {new_key_env}; \
                 set {KEY_VARIABLE} to that key before the live engine next opens the vault",
                db.display()
            );
            Ok(())
        }
    }
}

/// Runs the harness binary next to this one. It lives in the bench crate so the engine
/// does not depend on SimPy's scripts, governor or the bench code.
fn bench(quick: bool, out: &Path) -> Result<ExitCode, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find qm itself: {e}"))?;
    let harness = exe.with_file_name(format!("qm-bench{}", std::env::consts::EXE_SUFFIX));
    if !harness.is_file() {
        return Err(format!(
            "{} not found: build it with `cargo build --release -p quartermaster-bench`, \
             or run `cargo run --release -p quartermaster-bench --bin qm-bench -- --quick`",
            harness.display()
        ));
    }
    let mut command = std::process::Command::new(&harness);
    command.arg("--out").arg(out);
    if quick {
        command.arg("--quick");
    }
    let status = command
        .status()
        .map_err(|e| format!("{} did not start: {e}", harness.display()))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

fn db(command: DbCommand) -> Result<(), String> {
    match command {
        DbCommand::Info { db, json } => {
            let info = live::info(&db).map_err(|e| e.to_string())?;
            if json {
                let text = serde_json::to_string_pretty(&info).map_err(|e| e.to_string())?;
                println!("{text}");
            } else {
                print!("{}", db_info_text(&info));
            }
            Ok(())
        }
        DbCommand::Compact { db, config } => {
            let config = config
                .as_deref()
                .map(LiveConfig::load)
                .transpose()
                .map_err(|e| e.to_string())?
                .unwrap_or_default();
            let before = live::info(&db).map_err(|e| e.to_string())?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let compaction = runtime
                .block_on(async {
                    let engine = LiveEngine::open(&db, config).await?;
                    let compaction = engine.compact().await?;
                    drop(engine);
                    Ok::<_, live::LiveError>(compaction)
                })
                .map_err(|e| e.to_string())?;
            live::vacuum(&db).map_err(|e| e.to_string())?;
            let after = live::info(&db).map_err(|e| e.to_string())?;
            println!(
                "snapshot at command {} ({}); {} commands moved out of the journal{}",
                compaction.covers,
                bytes(compaction.snapshot_bytes as u64),
                compaction.moved,
                if after.archive.is_some() {
                    " into the archive"
                } else {
                    ""
                }
            );
            println!(
                "{}: {} -> {}; journal {} -> {} commands",
                db.display(),
                bytes(before.file_bytes),
                bytes(after.file_bytes),
                before.journal_commands,
                after.journal_commands
            );
            Ok(())
        }
    }
}

fn db_info_text(info: &live::DbInfo) -> String {
    let mut text = format!(
        "{}: schema {}, {}\n",
        info.path,
        info.schema_version,
        bytes(info.file_bytes)
    );
    match (info.first_command, info.last_command) {
        (Some(first), Some(last)) => {
            text += &format!(
                "journal: {} commands ({first} to {last})\n",
                info.journal_commands
            )
        }
        _ => text += "journal: empty\n",
    }
    if info.snapshots.is_empty() {
        text += "snapshots: none (a reopen replays the whole journal)\n";
    }
    let now = chrono::Utc::now();
    for snapshot in &info.snapshots {
        let age = (now - snapshot.at.to_datetime()).num_seconds().max(0);
        text += &format!(
            "snapshot: covers command {}, taken {} ({} ago), {}, format {} by {}\n",
            snapshot.covers,
            snapshot.at,
            span(age),
            bytes(snapshot.bytes),
            snapshot.format,
            snapshot.build
        );
    }
    match &info.archive {
        Some(archive) => {
            text += &format!(
                "archive: {}, {} commands, {}",
                archive.path,
                archive.commands,
                bytes(archive.file_bytes)
            );
            if let (Some(first), Some(last)) = (archive.first_at, archive.last_at) {
                text += &format!(" ({first} to {last})");
            }
            text += "\n";
        }
        None => text += "archive: none\n",
    }
    text
}

/// A byte count as people read it: 51.2 MB.
fn bytes(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.1} GB", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} kB", n as f64 / 1e3),
        n => format!("{n} B"),
    }
}

/// Seconds as people read them: 3h 12m.
fn span(secs: i64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3_600),
        s if s >= 3_600 => format!("{}h {}m", s / 3_600, s % 3_600 / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// `qm token create|list|revoke`.
fn token(command: TokenCommand) -> Result<(), server::TokenError> {
    match command {
        TokenCommand::Create {
            db,
            admin,
            client,
            expires_in,
        } => {
            let client = client.filter(|_| !admin).map(ClientId::new);
            let created = TokenStore::open(&db, None)?.issue(client.as_ref(), expires_in)?;
            println!("{}", created.token);
        }
        TokenCommand::List { db, client, json } => {
            let client = client.map(ClientId::new);
            let tokens = TokenStore::open(&db, None)?.list(client.as_ref())?;
            if json {
                let text = serde_json::to_string_pretty(&tokens).unwrap_or_default();
                println!("{text}");
            } else {
                println!(
                    "{:>4}  {:<7} {:<16} {:<22} {:<22} hint",
                    "id", "role", "client", "created", "expires"
                );
                for t in tokens {
                    println!(
                        "{:>4}  {:<7} {:<16} {:<22} {:<22} {}",
                        t.id,
                        t.role,
                        t.client.as_ref().map_or("-", |c| c.as_str()),
                        t.created_at,
                        t.expires_at.as_deref().unwrap_or("never"),
                        t.hint
                    );
                }
            }
        }
        TokenCommand::Revoke { db, id } => {
            let revoked = TokenStore::open(&db, None)?.revoke(id)?;
            println!("revoked token {} ({})", revoked.id, revoked.hint);
        }
    }
    Ok(())
}
