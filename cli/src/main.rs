//! `roam`: the command line, and (with `roam node run`) the node itself.
//! A thin layer: it parses arguments, talks to the node through
//! `roam_node::api`, and prints.

#![allow(clippy::print_stdout)] // printing is this binary's job

mod args;
mod attach;
mod connect;
mod host_term;
mod keyboard;
mod render;

use std::io::Write;

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser};
use roam_node::api::{Down, Request, Response, Target};
use roam_node::client::{Client, ClientError};
use roam_node::config::Config;
use roam_node::paths::Paths;

use args::{AgentCommand, Cli, Command, HostCommand, MeshCommand, NodeCommand};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // A terminal is a handful of tasks handing each other every keystroke:
    // on one thread each hand-over is a function call, not a wake-up of
    // another thread. Everything else (the node above all) gets the cores.
    let mut builder = match cli.command {
        Command::Attach { .. } => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("roam: cannot start runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roam: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let paths = Paths::from_env();
    match cli.command {
        Command::Node(NodeCommand::Run { name, no_mdns }) => run_node(paths, name, no_mdns).await,
        Command::Node(NodeCommand::Id) => {
            let Response::Status(status) = connect::connect(&paths)
                .await?
                .request(Request::Status)
                .await?
            else {
                bail!("unexpected answer to status");
            };
            println!("{}", status.peer_id);
            Ok(())
        }
        Command::Node(NodeCommand::Status { json }) => {
            let mut client = Client::connect(&paths).await?;
            let Response::Status(status) = client.request(Request::Status).await? else {
                bail!("unexpected answer to status");
            };
            if json {
                print_json(&status)
            } else {
                print!("{}", render::status(&status));
                Ok(())
            }
        }
        Command::Up { name } => {
            if let Some(pid) = connect::running_pid(&paths).await {
                println!("node already running (pid {pid})");
                return Ok(());
            }
            let pid = connect::start_background(&paths, name.as_deref()).await?;
            println!(
                "node started (pid {pid}), data dir {}",
                paths.home.display()
            );
            Ok(())
        }
        Command::Down { keep_agents } => {
            let mut client = match Client::connect(&paths).await {
                Ok(c) => c,
                Err(ClientError::NotRunning { home }) => {
                    println!("no node is running with data dir {home}");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            let pid = match client.ping().await {
                Ok(pid) => {
                    client.request(Request::Shutdown { keep_agents }).await?;
                    pid
                }
                // A node of another protocol (this roam was just upgraded):
                // a signal says the same to any release.
                Err(ClientError::Node { .. }) => connect::signal_stop(&paths, keep_agents)?,
                Err(e) => return Err(e.into()),
            };
            connect::wait_stopped(&paths, pid).await?;
            println!("node stopped");
            Ok(())
        }
        Command::New {
            name,
            repo,
            base,
            agent,
            prompt,
            on,
            json,
        } => {
            let repo = match repo {
                Some(r) => std::path::absolute(&r).with_context(|| format!("bad repo path {r}"))?,
                None => std::env::current_dir().context("cannot read the current directory")?,
            };
            let request = Request::New {
                name,
                repo: repo.to_string_lossy().into_owned(),
                base,
                profile: agent,
                prompt,
                on,
            };
            let Response::Workspace(ws) = connect::connect(&paths).await?.request(request).await?
            else {
                bail!("unexpected answer to new");
            };
            if json {
                return print_json(&ws);
            }
            let agents: Vec<_> = ws.agents.iter().map(|a| a.name.as_str()).collect();
            println!(
                "created workspace {} on branch {} at {} (agents: {})",
                ws.name,
                ws.branch,
                ws.path,
                agents.join(", ")
            );
            Ok(())
        }
        Command::Ls { json } => {
            let Response::Workspaces(list) = connect::connect(&paths)
                .await?
                .request(Request::List)
                .await?
            else {
                bail!("unexpected answer to ls");
            };
            if json {
                return print_json(&list);
            }
            print!("{}", render::workspaces(&list));
            Ok(())
        }
        Command::Rm {
            name,
            force,
            superseded,
        } => {
            let request = Request::Remove {
                name: name.clone(),
                // A superseded copy's work is always kept in a snapshot ref.
                force: force || superseded,
                superseded,
            };
            let Response::Removed { snapshot_ref } =
                connect::connect(&paths).await?.request(request).await?
            else {
                bail!("unexpected answer to rm");
            };
            match snapshot_ref {
                Some(r) => println!("removed workspace {name}; its unsaved work is kept at {r}"),
                None => println!("removed workspace {name}"),
            }
            Ok(())
        }
        Command::Stop { name } => {
            connect::connect(&paths)
                .await?
                .request(Request::Stop { name: name.clone() })
                .await?;
            println!("stopped workspace {name}");
            Ok(())
        }
        Command::Start { name } => {
            connect::connect(&paths)
                .await?
                .request(Request::Start { name: name.clone() })
                .await?;
            println!("started workspace {name}");
            Ok(())
        }
        Command::Agent(AgentCommand::Add(add)) => {
            let request = Request::AddAgent {
                workspace: add.workspace.clone(),
                profile: add.agent,
                prompt: add.prompt,
            };
            let Response::Agent(agent) = connect::connect(&paths).await?.request(request).await?
            else {
                bail!("unexpected answer to agent add");
            };
            if add.json {
                return print_json(&agent);
            }
            println!(
                "started agent {}:{} ({})",
                add.workspace, agent.name, agent.profile
            );
            Ok(())
        }
        Command::Attach { target } => {
            let config = Config::load(&paths.config())?;
            let detach = config.detach_byte().with_context(|| {
                format!("bad detach_key '{}' in config", config.terminal.detach_key)
            })?;
            let client = connect::connect(&paths).await?;
            attach::run(client, &target, detach).await
        }
        Command::Send {
            target,
            text,
            no_enter,
        } => {
            let mut data = text.into_bytes();
            if !no_enter {
                data.push(b'\r');
            }
            let request = Request::Send {
                target: Target::parse(&target),
                data,
            };
            connect::connect(&paths).await?.request(request).await?;
            Ok(())
        }
        Command::Logs { target, follow } => {
            let request = Request::Logs {
                target: Target::parse(&target),
                follow,
            };
            let mut client = connect::connect(&paths).await?;
            let Response::Streaming = client.request(request).await? else {
                bail!("unexpected answer to logs");
            };
            let (mut down, _up) = client.into_stream();
            let mut stdout = std::io::stdout().lock();
            loop {
                match down.recv().await? {
                    Some(Down::Output(bytes)) => {
                        stdout.write_all(&bytes)?;
                        stdout.flush()?;
                    }
                    Some(Down::Exited { code }) => {
                        eprintln!("[roam] agent exited with code {code}");
                        return Ok(());
                    }
                    Some(Down::Closed { .. }) | None => return Ok(()),
                    Some(Down::InputAck { .. }) => {}
                }
            }
        }
        Command::Pair => {
            let Response::PairCode {
                code,
                addrs,
                expires_secs,
            } = connect::connect(&paths)
                .await?
                .request(Request::PairOpen)
                .await?
            else {
                bail!("unexpected answer to pair");
            };
            println!("pairing code: {code}  (single use, expires in {expires_secs}s)");
            println!("on the other machine run one of:");
            for addr in addrs {
                println!("  roam join {code} {addr}");
            }
            Ok(())
        }
        Command::Join { code, addr } => {
            let Response::Joined { name } = connect::connect(&paths)
                .await?
                .request(Request::Join { code, addr })
                .await?
            else {
                bail!("unexpected answer to join");
            };
            println!("joined the mesh of node {name}");
            Ok(())
        }
        Command::Unpair { node } => {
            let answer = connect::connect(&paths)
                .await?
                .request(Request::Unpair { name: node.clone() })
                .await?;
            let Response::Unpaired { also } = answer else {
                bail!("unexpected answer: {answer:?}");
            };
            println!("removed node {node} from the mesh");
            if !also.is_empty() {
                println!(
                    "also removed {}: only {node} vouched for them (pair them again with `roam pair` if they are yours)",
                    also.join(", ")
                );
            }
            Ok(())
        }
        Command::Nodes { json } => {
            let Response::Nodes(nodes) = connect::connect(&paths)
                .await?
                .request(Request::Nodes)
                .await?
            else {
                bail!("unexpected answer to nodes");
            };
            if json {
                return print_json(&nodes);
            }
            print!("{}", render::nodes(&nodes));
            Ok(())
        }
        Command::Mesh(MeshCommand::Dial { addr }) => {
            let Response::Dialed { peer_id } = connect::connect(&paths)
                .await?
                .request(Request::Dial { addr })
                .await?
            else {
                bail!("unexpected answer to dial");
            };
            println!("connected to {peer_id}");
            Ok(())
        }
        Command::Host(command) => host(&paths, command).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "roam", &mut std::io::stdout());
            Ok(())
        }
    }
}

async fn host(paths: &Paths, command: HostCommand) -> anyhow::Result<()> {
    let mut client = connect::connect(paths).await?;
    let (request, json) = match command {
        HostCommand::Add {
            host,
            accept_new,
            json,
        } => (
            Request::HostAdd {
                alias: host,
                accept_new,
            },
            json,
        ),
        HostCommand::Check { host, json } => (Request::HostCheck { alias: host }, json),
        HostCommand::Ls { json } => (Request::HostList, json),
        HostCommand::Pipe { host, command } => {
            let command = roam_node::remote::quote_argv(&command);
            return host_term::pipe(client, host, command).await;
        }
        HostCommand::Tmux {
            host,
            session,
            cwd,
            create,
            argv,
        } => {
            let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
            let request = Request::HostTmux(roam_node::api::HostTerminal {
                alias: host,
                session,
                cwd,
                argv,
                rows,
                cols,
                create,
            });
            std::process::exit(host_term::tmux(client, request).await);
        }
        HostCommand::Rm { host } => {
            client
                .request(Request::HostRemove {
                    alias: host.clone(),
                })
                .await?;
            println!("removed host {host}");
            return Ok(());
        }
    };
    match client.request(request).await? {
        Response::HostReport(report) if json => print_json(&report),
        Response::HostReport(report) => {
            print!("{}", render::host_report(&report));
            Ok(())
        }
        Response::Hosts(hosts) if json => print_json(&hosts),
        Response::Hosts(hosts) => {
            print!("{}", render::hosts(&hosts));
            Ok(())
        }
        other => bail!("unexpected answer: {other:?}"),
    }
}

/// The node in the foreground, logging to a daily-rotated file in the data
/// dir (and to stderr).
async fn run_node(paths: Paths, name: Option<String>, no_mdns: bool) -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // Private and the user's own before the first log line is written.
    roam_node::data_dir::prepare(&paths)?;
    let config = Config::load(&paths.config())?;
    let file = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("roam")
        .filename_suffix("log")
        .max_log_files(config.node.log_files.max(1))
        .build(paths.logs())
        .with_context(|| format!("cannot open log files in {}", paths.logs().display()))?;
    let (file, _guard) = tracing_appender::non_blocking(file);
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("ROAM_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(file),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr),
        )
        .init();
    roam_node::daemon::run(roam_node::daemon::NodeOptions {
        paths,
        name,
        mdns: no_mdns.then_some(false),
        holder_exe: None,
    })
    .await?;
    Ok(())
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}
