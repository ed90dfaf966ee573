//! ctrd: a container runtime daemon. Containers are created in-process through libcontainer (from
//! a fork server forked before any thread exists), one reaper thread collects every exit, and a
//! REST API is served by hyper on a unix socket (and loopback TCP when asked).

mod access;
mod api;
mod body;
mod error;
mod listen;
mod router;
mod server;

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use tokio::sync::Semaphore;

use listen::Bound;

/// The version of the REST API.
pub const API_VERSION: &str = "1";

#[derive(Debug, Parser)]
#[command(name = "ctrd", version, about = "container runtime daemon")]
struct Args {
    /// Hot state: container records, logs, libcontainer state.
    #[arg(long, default_value = "/run/ctrd")]
    state_dir: PathBuf,
    /// Keep the state dir on a tmpfs (mounted there if it is not one already). Default: on for
    /// the default --state-dir, off otherwise. State on a tmpfs survives daemon restarts, not
    /// reboots (as /run).
    #[arg(long)]
    state_tmpfs: Option<bool>,
    /// Durable data (checkpoints).
    #[arg(long, default_value = "/var/lib/ctrd")]
    root: PathBuf,
    /// Where to serve the API: unix:///PATH or tcp://HOST:PORT (repeatable).
    #[arg(long = "listen")]
    listen: Vec<String>,
    /// Allow a TCP listener on a non-loopback address.
    #[arg(long)]
    insecure_tcp: bool,
    /// Members of this group may use the API too (unix socket mode 0660).
    #[arg(long)]
    group: Option<String>,
    /// This machine's id in /state (default: the hostname).
    #[arg(long)]
    id: Option<String>,
    /// How many container creates/execs run at once (default: one per CPU plus one: starts are
    /// mostly CPU-bound, more in flight only adds latency; see docs/performance.md).
    #[arg(long)]
    concurrency: Option<usize>,
    /// The criu binary for checkpoint/restore (default: found on PATH).
    #[arg(long)]
    criu: Option<PathBuf>,
    /// Debug logging.
    #[arg(long)]
    debug: bool,
}

fn main() {
    let args = Args::parse();
    // libcgroups warns about every v1 controller this host lacks, on every call.
    let default_level = if args.debug { "debug" } else { "info,libcgroups=error" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CTRD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(args) {
        tracing::error!("{e}");
        eprintln!("ctrd: {e}");
        std::process::exit(1);
    }
    std::process::exit(0);
}

fn run(args: Args) -> Result<(), String> {
    let listen = if args.listen.is_empty() {
        vec!["unix:///run/ctrd/ctrd.sock".to_owned()]
    } else {
        args.listen.clone()
    };
    let listeners: Vec<listen::Listen> = listen
        .iter()
        .map(|l| listen::parse(l, args.insecure_tcp))
        .collect::<Result<_, _>>()?;
    let group = match &args.group {
        None => None,
        Some(name) => Some(
            nix::unistd::Group::from_name(name)
                .map_err(|e| format!("--group {name}: {e}"))?
                .ok_or_else(|| format!("--group {name}: no such group"))?
                .gid,
        ),
    };
    let policy = access::Policy { group };

    let default_state = args.state_dir == std::path::Path::new("/run/ctrd");
    if args.state_tmpfs.unwrap_or(default_state) {
        ensure_tmpfs(&args.state_dir)?;
    }

    // One slot per CPU plus one: a start spends part of its time blocked (waiting for its own
    // child processes, kernel locks, an expedited RCU grace period when it detaches the old
    // root), and the extra slot keeps the CPUs busy meanwhile (docs/performance.md).
    let cpus = runtime::Runtime::machine().cpus;
    let slots = args.concurrency.unwrap_or(cpus + 1).max(2);

    // The fork server must be forked while this process has a single thread. It keeps one
    // worker per slot.
    let worker_logs = if args.debug { "debug" } else { "error" };
    let spawner = runtime::Spawner::start(worker_logs, slots).map_err(|e| format!("starting the fork server: {e}"))?;
    let bound: Vec<Bound> = listeners
        .iter()
        .map(|l| listen::bind(l, group))
        .collect::<Result<_, _>>()?;

    let cfg = runtime::Config {
        state_dir: args.state_dir.clone(),
        root_dir: args.root.clone(),
        criu_path: args.criu.clone(),
    };
    let rt = runtime::Runtime::new(cfg, spawner).map_err(|e| format!("starting the runtime: {e}"))?;
    let rt_criu_version = rt.criu_version();
    let machine_id = args.id.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "ctrd".into())
    });
    let ctx = Arc::new(api::Ctx {
        runtime: rt,
        machine_id,
        spawn_slots: Semaphore::new(slots),
        spawn_slots_total: slots,
        metrics: api::metrics::Metrics::default(),
        criu_version: rt_criu_version,
    });

    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ctrd-io")
        .build()
        .map_err(|e| format!("starting tokio: {e}"))?;
    let result = tokio_rt.block_on(serve(ctx, bound, listeners.clone(), policy));
    for l in &listeners {
        if let listen::Listen::Unix(path) = l {
            let _ = std::fs::remove_file(path);
        }
    }
    result
}

/// Per-container state files are created and removed at every start and delete: on ext4 that
/// costs inode allocation (measured ~10% of a start). Mount a tmpfs there unless it is one.
fn ensure_tmpfs(dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {dir:?}: {e}"))?;
    let st = nix::sys::statfs::statfs(dir).map_err(|e| format!("statfs {dir:?}: {e}"))?;
    if st.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC {
        return Ok(());
    }
    // Never hide the records of a previous run that lived on this disk directory.
    let has_state = std::fs::read_dir(dir)
        .map(|d| d.flatten().any(|e| e.file_name() != "ctrd.sock"))
        .unwrap_or(false);
    if has_state {
        tracing::warn!(
            ?dir,
            "the state dir is not a tmpfs but holds state: leaving it as it is"
        );
        return Ok(());
    }
    nix::mount::mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some("mode=0711"),
    )
    .map_err(|e| format!("mounting a tmpfs on {dir:?}: {e}"))?;
    tracing::info!(?dir, "mounted a tmpfs for the state dir");
    Ok(())
}

async fn serve(
    ctx: Arc<api::Ctx>,
    bound: Vec<Bound>,
    names: Vec<listen::Listen>,
    policy: access::Policy,
) -> Result<(), String> {
    let policy = Arc::new(policy);
    for (b, name) in bound.into_iter().zip(names) {
        let ctx = ctx.clone();
        let policy = policy.clone();
        tracing::info!(listener = ?name, "serving the API");
        match b {
            Bound::Unix(l) => {
                let l = tokio::net::UnixListener::from_std(l).map_err(|e| e.to_string())?;
                tokio::spawn(async move {
                    loop {
                        match l.accept().await {
                            Ok((s, _)) => {
                                let denied = match access::unix_peer_uid(&s) {
                                    Some(uid) if policy.allows(uid) => None,
                                    uid => {
                                        tracing::warn!(?uid, "refused a unix socket client that is not root");
                                        Some(format!("uid {uid:?} may not use ctrd (root or --group members only)"))
                                    }
                                };
                                server::serve_connection(ctx.clone(), s, denied)
                            }
                            Err(e) => {
                                tracing::warn!("accept on {name:?}: {e}");
                                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            }
                        }
                    }
                });
            }
            Bound::Tcp(l) => {
                let l = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
                tokio::spawn(async move {
                    loop {
                        match l.accept().await {
                            Ok((s, peer)) => {
                                let _ = s.set_nodelay(true);
                                let local = s.local_addr().ok();
                                let uid = local.and_then(|local| access::tcp_peer_uid(peer, local));
                                let denied = match uid {
                                    Some(uid) if policy.allows(uid) => None,
                                    _ => {
                                        tracing::warn!(%peer, ?uid, "refused a TCP client that is not root");
                                        Some(format!(
                                            "connection from {peer} (uid {}) refused: only root or --group members may use ctrd",
                                            uid.map(|u| u.to_string()).unwrap_or_else(|| "unknown".into())
                                        ))
                                    }
                                };
                                server::serve_connection(ctx.clone(), s, denied)
                            }
                            Err(e) => {
                                tracing::warn!("accept on {name:?}: {e}");
                                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            }
                        }
                    }
                });
            }
        }
    }
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping; containers keep running"),
        _ = int.recv() => tracing::info!("SIGINT: stopping; containers keep running"),
    }
    // Every change was written to disk before its request was answered: nothing to flush. But a
    // create or exec still in the fork server would start a process nobody records: let those
    // finish (bounded) by taking every concurrency slot.
    let slots = u32::try_from(ctx.spawn_slots_total).unwrap_or(u32::MAX);
    if tokio::time::timeout(std::time::Duration::from_secs(30), ctx.spawn_slots.acquire_many(slots))
        .await
        .is_err()
    {
        tracing::warn!("creates/execs still in flight after 30 s; exiting anyway");
    }
    Ok(())
}
