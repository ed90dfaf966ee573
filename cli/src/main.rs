//! ctr: the command-line client of ctrd. It talks HTTP to the daemon and nothing else.

/// `print!` that ends the program quietly when stdout is closed (`ctr state | head -1`).
macro_rules! out {
    ($($t:tt)*) => { $crate::write_stdout(format_args!($($t)*), false) };
}

/// `println!` that ends the program quietly when stdout is closed.
macro_rules! outln {
    ($($t:tt)*) => { $crate::write_stdout(format_args!($($t)*), true) };
}

mod bench;
mod bundle;
mod cli;
mod commands;
mod exec;
mod http;
mod stats;
mod table;

use std::fmt;
use std::io::{self, Write};

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::http::{Address, Client, Error};

/// What every command gets.
pub struct Ctx {
    pub client: Client,
    pub json: bool,
}

pub fn write_stdout(args: fmt::Arguments<'_>, newline: bool) {
    let mut o = io::stdout().lock();
    let r = o
        .write_fmt(args)
        .and_then(|_| if newline { o.write_all(b"\n") } else { Ok(()) })
        .and_then(|_| o.flush());
    if let Err(e) = r {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("ctr: writing to stdout: {e}");
        }
        std::process::exit(1);
    }
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ctr: {e}");
            1
        }
    };
    let _ = io::stdout().flush();
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<i32, Error> {
    // Commands that need no daemon first.
    match &cli.command {
        Command::Completion { shell } => {
            let mut cmd = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "ctr", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            return Ok(0);
        }
        Command::Bundle(b) => return commands::bundle(b, cli.json),
        _ => {}
    }
    let address = Address::parse(&cli.address)?;
    let ctx = Ctx {
        client: Client::new(address),
        json: cli.json,
    };
    match cli.command {
        Command::Containers(c) => commands::containers(&ctx, c),
        Command::Checkpoints(c) => commands::checkpoints(&ctx, c),
        Command::State => commands::state(&ctx),
        Command::Version => commands::version(&ctx),
        Command::Events { id } => commands::events(&ctx, id.as_deref()),
        Command::Bench(b) => bench::run(&ctx, &b),
        Command::Completion { .. } | Command::Bundle(_) => unreachable!("handled above"),
    }
}
