//! The command line (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::http::DEFAULT_ADDRESS;

#[derive(Debug, Parser)]
#[command(
    name = "ctr",
    version,
    about = "ctr: the command-line client of ctrd",
    propagate_version = true,
    disable_help_subcommand = false
)]
pub struct Cli {
    /// The daemon's address: unix:///path/to.sock or tcp://host:port
    #[arg(long, global = true, env = "CTRD_ADDRESS", default_value = DEFAULT_ADDRESS, value_name = "ADDRESS")]
    pub address: String,
    /// Machine-readable JSON output
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage containers
    #[command(subcommand, visible_alias = "c")]
    Containers(Containers),
    /// Manage a container's checkpoints (CRIU)
    #[command(subcommand, visible_alias = "ckpt")]
    Checkpoints(Checkpoints),
    /// Every container and the machine
    State,
    /// The client's and the daemon's versions
    Version,
    /// Stream the daemon's events
    Events {
        /// Only the events of this container
        #[arg(long)]
        id: Option<String>,
    },
    /// Make OCI bundles
    #[command(subcommand)]
    Bundle(Bundle),
    /// Print a shell completion script
    Completion {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Start, exec into, and remove many containers; print latency statistics
    Bench(BenchArgs),
}

#[derive(Debug, Subcommand)]
pub enum Containers {
    /// List containers
    #[command(visible_alias = "ls")]
    List,
    /// Create and start a container from a bundle
    Start {
        /// Restore from this checkpoint
        #[arg(long, value_name = "NAME")]
        checkpoint: Option<String>,
        /// The container whose checkpoint to restore from (default: this one)
        #[arg(long, value_name = "ID", requires = "checkpoint")]
        from: Option<String>,
        /// File for the container's stdout
        #[arg(long, value_name = "FILE")]
        stdout: Option<PathBuf>,
        /// File for the container's stderr
        #[arg(long, value_name = "FILE")]
        stderr: Option<PathBuf>,
        id: String,
        /// The bundle (optional with --checkpoint: the checkpointed bundle by default)
        #[arg(required_unless_present = "checkpoint")]
        bundle: Option<PathBuf>,
    },
    /// Send a signal to a container (its init) or to one of its processes
    Kill {
        /// Signal this process instead of the container's init
        #[arg(long)]
        pid: Option<i32>,
        /// Signal number or name (TERM, SIGKILL, 9, ...)
        #[arg(short, long, default_value = "15", value_parser = parse_signal)]
        signal: i64,
        id: String,
    },
    /// Run a new process in a running container
    Exec {
        /// Allocate a terminal and attach to it
        #[arg(short = 't', long)]
        tty: bool,
        /// UID[:GID] to run as (GID defaults to 0)
        #[arg(short, long, value_parser = parse_user, value_name = "UID[:GID]")]
        user: Option<(u32, u32)>,
        /// Environment variable K=V (repeatable)
        #[arg(short, long, value_name = "K=V", value_parser = parse_env)]
        env: Vec<String>,
        /// Working directory inside the container
        #[arg(long, short = 'w', value_name = "DIR")]
        cwd: Option<String>,
        /// Print the pid and return at once, without waiting for the process
        #[arg(short, long, conflicts_with = "tty")]
        detach: bool,
        id: String,
        /// The command and its arguments (after --)
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "CMD"
        )]
        cmd: Vec<String>,
    },
    /// Freeze all processes of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// Remove containers
    #[command(visible_alias = "rm")]
    Delete {
        /// Kill running containers first
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// A container's full state as JSON
    Inspect { id: String },
    /// Resource usage (cgroup statistics)
    Stats {
        /// Keep printing as new figures arrive
        #[arg(long)]
        stream: bool,
        id: String,
    },
    /// A container's output
    Logs {
        /// Keep following the output
        #[arg(short, long)]
        follow: bool,
        /// stderr instead of stdout
        #[arg(long)]
        stderr: bool,
        /// Only the last N lines
        #[arg(long, value_name = "N")]
        tail: Option<u64>,
        id: String,
    },
    /// Wait for a container to exit; exit with its status
    Wait { id: String },
    /// Change a container's resource limits
    Update {
        id: String,
        /// Memory limit in bytes (suffixes K, M, G, T accepted)
        #[arg(long, value_parser = parse_bytes, value_name = "BYTES")]
        memory: Option<i64>,
        #[arg(long, value_name = "N")]
        cpu_shares: Option<u64>,
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        cpu_quota: Option<i64>,
        #[arg(long, value_name = "N")]
        cpu_period: Option<u64>,
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        pids_limit: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Checkpoints {
    /// A container's checkpoints
    #[command(visible_alias = "ls")]
    List { id: String },
    /// Checkpoint a container
    Create {
        /// Stop the container after checkpointing
        #[arg(long)]
        exit: bool,
        /// Checkpoint established TCP connections
        #[arg(long)]
        tcp: bool,
        /// Checkpoint external unix sockets
        #[arg(long)]
        unix_sockets: bool,
        /// Checkpoint shell jobs
        #[arg(long)]
        shell: bool,
        /// Pre-dump memory only (for an iterative migration)
        #[arg(long)]
        pre_dump: bool,
        /// The pre-dump this checkpoint builds on
        #[arg(long, value_name = "NAME")]
        parent: Option<String>,
        id: String,
        name: String,
    },
    /// Remove a checkpoint
    #[command(visible_alias = "rm")]
    Delete { id: String, name: String },
    /// Write a checkpoint as an archive to FILE ("-" for stdout)
    Export {
        /// Compress the archive (zstd)
        #[arg(long, value_name = "ALGO", value_parser = ["zstd"])]
        compress: Option<String>,
        /// Leave the container's rootfs changes out
        #[arg(long)]
        no_rootfs: bool,
        id: String,
        name: String,
        file: PathBuf,
    },
    /// Upload a checkpoint archive from FILE
    Import { id: String, name: String, file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum Bundle {
    /// Write an OCI bundle: DIR/rootfs (busybox) and DIR/config.json
    Init {
        /// The static busybox binary to copy into the rootfs
        #[arg(long, default_value = "/bin/busybox", value_name = "PATH")]
        rootfs_from: PathBuf,
        /// Only write config.json
        #[arg(long)]
        config_only: bool,
        dir: PathBuf,
        /// The command the container runs (default: sleep infinity)
        #[arg(last = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// How many containers to start
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub count: usize,
    /// How many requests in flight at once
    #[arg(short = 'c', long, default_value_t = 100)]
    pub concurrency: usize,
    /// The bundle to start every container from
    #[arg(long, default_value = "/var/lib/ctrd/bundles/busybox", value_name = "PATH")]
    pub bundle: PathBuf,
    /// Also exec one process (`true`) in each container and measure it
    #[arg(long)]
    pub exec: bool,
    /// Leave the containers running at the end
    #[arg(long)]
    pub keep: bool,
}

pub fn parse_signal(s: &str) -> Result<i64, String> {
    if let Ok(n) = s.parse::<i64>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(format!("signal {n} is out of range (1-64)"));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    name.parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as i64)
        .map_err(|_| format!("unknown signal {s:?}"))
}

pub fn parse_user(s: &str) -> Result<(u32, u32), String> {
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = u
        .parse::<u32>()
        .map_err(|_| format!("bad uid {u:?}: give numbers, UID[:GID]"))?;
    let gid = match g {
        Some(g) => g
            .parse::<u32>()
            .map_err(|_| format!("bad gid {g:?}: give numbers, UID[:GID]"))?,
        None => 0,
    };
    Ok((uid, gid))
}

pub fn parse_env(s: &str) -> Result<String, String> {
    match s.split_once('=') {
        Some((k, _)) if !k.is_empty() => Ok(s.to_string()),
        _ => Err(format!("{s:?} is not K=V")),
    }
}

/// Bytes with an optional binary suffix: 512M, 1g, 64KiB, 1024.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let lower = t.to_ascii_lowercase();
    let digits_end = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let n: i64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    let mult: i64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("bad size {s:?}: use a number with K, M, G or T")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("size {s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ctr").chain(args.iter().copied()))
    }

    #[test]
    fn command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn globals_and_defaults() {
        std::env::remove_var("CTRD_ADDRESS");
        let c = parse(&["state"]).unwrap();
        assert_eq!(c.address, DEFAULT_ADDRESS);
        assert!(!c.json);
        let c = parse(&["containers", "ls", "--json", "--address", "tcp://127.0.0.1:8888"]).unwrap();
        assert!(c.json);
        assert_eq!(c.address, "tcp://127.0.0.1:8888");
        assert!(matches!(c.command, Command::Containers(Containers::List)));
    }

    #[test]
    fn start_and_kill() {
        let c = parse(&[
            "containers",
            "start",
            "--checkpoint",
            "cp1",
            "--from",
            "old",
            "web",
            "b",
        ])
        .unwrap();
        match c.command {
            Command::Containers(Containers::Start {
                checkpoint,
                from,
                id,
                bundle,
                ..
            }) => {
                assert_eq!(checkpoint.as_deref(), Some("cp1"));
                assert_eq!(from.as_deref(), Some("old"));
                assert_eq!(id, "web");
                assert_eq!(bundle, Some(PathBuf::from("b")));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["containers", "start", "--from", "old", "web", "b"]).is_err());
        for (sig, n) in [("9", 9), ("KILL", 9), ("SIGKILL", 9), ("term", 15), ("sigusr1", 10)] {
            match parse(&["c", "kill", "--signal", sig, "x"]).unwrap().command {
                Command::Containers(Containers::Kill { signal, pid, .. }) => {
                    assert_eq!(signal, n);
                    assert_eq!(pid, None);
                }
                other => panic!("{other:?}"),
            }
        }
        match parse(&["c", "kill", "--pid", "42", "x"]).unwrap().command {
            Command::Containers(Containers::Kill { signal, pid, .. }) => {
                assert_eq!(signal, 15);
                assert_eq!(pid, Some(42));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["c", "kill", "--signal", "NOPE", "x"]).is_err());
        assert!(parse(&["c", "kill", "--signal", "0", "x"]).is_err());
    }

    #[test]
    fn exec_args() {
        let c = parse(&[
            "containers",
            "exec",
            "-t",
            "--user",
            "1000:100",
            "--env",
            "A=1",
            "-e",
            "B=2",
            "--cwd",
            "/tmp",
            "web",
            "--",
            "sh",
            "-c",
            "echo hi",
        ])
        .unwrap();
        match c.command {
            Command::Containers(Containers::Exec {
                tty,
                user,
                env,
                cwd,
                detach,
                id,
                cmd,
            }) => {
                assert!(tty && !detach);
                assert_eq!(user, Some((1000, 100)));
                assert_eq!(env, ["A=1", "B=2"]);
                assert_eq!(cwd.as_deref(), Some("/tmp"));
                assert_eq!(id, "web");
                assert_eq!(cmd, ["sh", "-c", "echo hi"]);
            }
            other => panic!("{other:?}"),
        }
        // Without "--", and with flags of the command itself.
        match parse(&["c", "exec", "-d", "web", "ls", "-la"]).unwrap().command {
            Command::Containers(Containers::Exec { detach, cmd, user, .. }) => {
                assert!(detach);
                assert_eq!(cmd, ["ls", "-la"]);
                assert_eq!(user, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["c", "exec", "web"]).is_err());
        assert!(parse(&["c", "exec", "-t", "-d", "web", "sh"]).is_err());
        assert!(parse(&["c", "exec", "--env", "NOEQ", "web", "sh"]).is_err());
        assert_eq!(parse_user("65534"), Ok((65534, 0)));
        assert!(parse_user("root").is_err());
    }

    #[test]
    fn delete_update_logs_stats() {
        match parse(&["c", "rm", "-f", "a", "b"]).unwrap().command {
            Command::Containers(Containers::Delete { force, ids }) => {
                assert!(force);
                assert_eq!(ids, ["a", "b"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["c", "delete"]).is_err());
        match parse(&[
            "c",
            "update",
            "x",
            "--memory",
            "512M",
            "--cpu-quota",
            "-1",
            "--pids-limit",
            "100",
        ])
        .unwrap()
        .command
        {
            Command::Containers(Containers::Update {
                memory,
                cpu_quota,
                pids_limit,
                cpu_shares,
                ..
            }) => {
                assert_eq!(memory, Some(512 << 20));
                assert_eq!(cpu_quota, Some(-1));
                assert_eq!(pids_limit, Some(100));
                assert_eq!(cpu_shares, None);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["c", "logs", "-f", "--stderr", "--tail", "10", "x"])
            .unwrap()
            .command
        {
            Command::Containers(Containers::Logs {
                follow,
                stderr,
                tail,
                id,
            }) => {
                assert!(follow && stderr);
                assert_eq!(tail, Some(10));
                assert_eq!(id, "x");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["c", "stats", "--stream", "x"]).unwrap().command,
            Command::Containers(Containers::Stats { stream: true, .. })
        ));
    }

    #[test]
    fn checkpoints_bundle_bench_completion() {
        match parse(&[
            "checkpoints",
            "create",
            "--exit",
            "--tcp",
            "--parent",
            "p0",
            "web",
            "cp1",
        ])
        .unwrap()
        .command
        {
            Command::Checkpoints(Checkpoints::Create {
                exit,
                tcp,
                shell,
                parent,
                id,
                name,
                ..
            }) => {
                assert!(exit && tcp && !shell);
                assert_eq!(parent.as_deref(), Some("p0"));
                assert_eq!((id.as_str(), name.as_str()), ("web", "cp1"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["checkpoints", "export", "--compress", "gzip", "a", "b", "f"]).is_err());
        assert!(parse(&[
            "checkpoints",
            "export",
            "--compress",
            "zstd",
            "--no-rootfs",
            "a",
            "b",
            "f"
        ])
        .is_ok());
        match parse(&["bundle", "init", "/tmp/b", "--", "sh", "-c", "true"])
            .unwrap()
            .command
        {
            Command::Bundle(Bundle::Init {
                dir, cmd, rootfs_from, ..
            }) => {
                assert_eq!(dir, PathBuf::from("/tmp/b"));
                assert_eq!(cmd, ["sh", "-c", "true"]);
                assert_eq!(rootfs_from, PathBuf::from("/bin/busybox"));
            }
            other => panic!("{other:?}"),
        }
        match parse(&["bench", "--count", "10", "--concurrency", "2", "--exec", "--json"]).unwrap() {
            Cli {
                json: true,
                command: Command::Bench(b),
                ..
            } => {
                assert_eq!((b.count, b.concurrency), (10, 2));
                assert!(b.exec && !b.keep);
                assert_eq!(b.bundle, PathBuf::from("/var/lib/ctrd/bundles/busybox"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["completion", "bash"]).is_ok());
        assert!(parse(&["completion", "tcsh"]).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("512M"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_bytes("64KiB"), Ok(64 << 10));
        assert_eq!(parse_bytes("-1"), Ok(-1));
        assert!(parse_bytes("12X").is_err());
        assert!(parse_bytes("M").is_err());
    }
}
