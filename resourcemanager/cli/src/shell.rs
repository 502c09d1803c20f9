//! `spindle run-shell`: YARN's DistributedShell. The client stages this very
//! binary and submits it as the AM (`spindle shell-am`), which runs the
//! command in N containers and reports how many failed.

use clap::Args;
use common::client::{AmEnv, AmRmClient, NmClient};
use common::protocol::{
    AmEvent, AppSubmission, FinalApplicationStatus, LaunchSpec, ResourceAsk, YarnApplicationState,
};
use common::tls::TlsIdentity;
use common::Resource;
use std::collections::HashSet;
use std::time::Duration;

#[derive(Args)]
pub(crate) struct RunShellArgs {
    /// How many containers run the command.
    #[arg(long)]
    num_containers: u32,
    /// Memory per container, MB.
    #[arg(long, default_value_t = 128)]
    container_memory: u64,
    /// Virtual cores per container.
    #[arg(long, default_value_t = 1)]
    container_vcores: u32,
    /// Memory for the AM container, MB.
    #[arg(long, default_value_t = 128)]
    am_memory: u64,
    /// The application's name.
    #[arg(long, default_value = "run-shell")]
    name: String,
    /// The queue to submit to.
    #[arg(long, default_value = "default")]
    queue: String,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// Where the command's output went: each container's stdout and stderr stay on its
/// node (YARN keeps them likewise), and the AM's log says which container ran where.
async fn print_log_places(
    rm: &common::client::RmClient,
    conf: &common::clientconf::ClientConf,
    report: &common::protocol::ApplicationReport,
    user: &str,
) {
    let id = report.id;
    println!(
        "Logs: each container's stdout and stderr are on its node, in the node manager's \
         log-dir under {id}/<container id>/, and on the node's web UI at \
         /node/containerlogs/<container id>/{user}/."
    );
    let (Some(am), Some(node)) = (report.am_container(), report.am_node()) else {
        return;
    };
    // The NMs' web servers use the RM's scheme (HTTPS unless both are on loopback).
    let scheme = if conf.rm_web_address.starts_with("http://") {
        "http"
    } else {
        "https"
    };
    let http = rm.nodes().await.ok().and_then(|nodes| {
        nodes
            .into_iter()
            .find(|n| &n.node_id == node)
            .map(|n| n.http_address)
    });
    match http {
        Some(h) if !h.is_empty() => println!(
            "The application master's log lists the containers, where each ran and how it \
             ended: {scheme}://{h}/node/containerlogs/{am}/{user}/stdout"
        ),
        _ => println!("The application master ran in {am} on {node}."),
    }
}

#[derive(Args)]
pub(crate) struct ShellAmArgs {
    /// How many containers run the command.
    #[arg(long)]
    num_containers: u32,
    /// Memory per container, MB.
    #[arg(long)]
    container_memory: u64,
    /// Virtual cores per container.
    #[arg(long)]
    container_vcores: u32,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

pub(crate) async fn run_shell(args: RunShellArgs) -> anyhow::Result<i32> {
    if args.num_containers == 0 {
        anyhow::bail!("--num-containers must be at least 1");
    }
    let (rm, conf) = crate::rm_client()?;
    let user = crate::client_user(&conf)?;
    let me = std::env::current_exe()?;
    let staged = rm.stage_file(&me, "spindle", true).await?;
    let mut command = vec![
        "spindle".to_string(),
        "shell-am".into(),
        "--num-containers".into(),
        args.num_containers.to_string(),
        "--container-memory".into(),
        args.container_memory.to_string(),
        "--container-vcores".into(),
        args.container_vcores.to_string(),
        "--".into(),
    ];
    command.extend(args.command.iter().cloned());
    let sub = AppSubmission {
        name: args.name,
        queue: args.queue,
        user: user.clone(),
        app_type: "SHELL".into(),
        am_resource: Resource::new(args.am_memory, 1),
        am_launch: LaunchSpec {
            command,
            env: Default::default(),
            local_resources: vec![staged],
            ..Default::default()
        },
        max_attempts: Some(1),
        acls: Default::default(),
    };
    let id = rm.submit(sub).await?;
    println!("Submitted application {id}");
    let mut last = None;
    let report = loop {
        let r = rm.report(id).await?;
        if last != Some(r.state) {
            println!("Application {id} state: {}", r.state);
            last = Some(r.state);
        }
        if r.state.is_terminal() {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "Application {id} finished: state {} final status {}; {}",
        report.state, report.final_status, report.diagnostics
    );
    print_log_places(&rm, &conf, &report, &user).await;
    if report.state == YarnApplicationState::FINISHED
        && report.final_status == FinalApplicationStatus::SUCCEEDED
    {
        return Ok(0);
    }
    // The AM says "K of N containers failed"; anything else is one failure.
    let failed = report
        .diagnostics
        .split_whitespace()
        .next()
        .and_then(|k| k.parse::<i32>().ok())
        .filter(|k| *k > 0)
        .unwrap_or(1);
    Ok(failed)
}

pub(crate) async fn shell_am(args: ShellAmArgs) -> anyhow::Result<i32> {
    let env = AmEnv::from_env().map_err(anyhow::Error::msg)?;
    let identity = TlsIdentity::load(&env.tls)?;
    let rm = AmRmClient::new(&identity, &env.rm_addresses, env.attempt, env.token.clone())?;
    let nm = std::sync::Arc::new(NmClient::new(&identity)?);
    rm.register(&env.nm_host, "").await?;
    let mut events = rm.subscribe().await?;
    let n = args.num_containers;
    rm.allocate(
        vec![ResourceAsk {
            key: "shell".into(),
            count: n,
            resource: Resource::new(args.container_memory, args.container_vcores),
            nodes: vec![],
            relax_locality: true,
        }],
        vec![],
        0.0,
    )
    .await?;
    let (fail_tx, mut fail_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut ours = HashSet::new();
    let (mut completed, mut failed) = (0u32, 0u32);
    let mut failures = Vec::new();
    while completed < n {
        tokio::select! {
            ev = events.recv() => match ev {
                None => anyhow::bail!("the resource manager closed the allocation stream"),
                Some(AmEvent::Allocated(cs)) => {
                    for c in cs {
                        if ours.len() as u32 >= n {
                            rm.allocate(vec![], vec![c.id], 0.0).await?;
                            continue;
                        }
                        ours.insert(c.id);
                        let launch = LaunchSpec { command: args.command.clone(), ..Default::default() };
                        let nm = nm.clone();
                        let tx = fail_tx.clone();
                        tokio::spawn(async move {
                            match nm.start(&c, launch).await {
                                Ok(pid) => println!("{} started on {} (pid {pid})", c.id, c.node_id),
                                Err(e) => { let _ = tx.send((c.id, e.to_string())); }
                            }
                        });
                    }
                }
                Some(AmEvent::Completed(statuses)) => {
                    for s in statuses {
                        if !ours.contains(&s.container_id) { continue; }
                        completed += 1;
                        if s.exit_status != 0 {
                            failed += 1;
                            failures.push(format!("{} exit status {}: {}", s.container_id, s.exit_status, s.diagnostics));
                        }
                        println!("{} completed with exit status {} {}", s.container_id, s.exit_status, s.diagnostics);
                    }
                    rm.allocate(vec![], vec![], completed as f32 / n as f32).await.ok();
                }
                Some(AmEvent::NodesLost(nodes)) => println!("nodes lost: {nodes:?}"),
                Some(AmEvent::NodesUpdated(nodes)) => println!("nodes updated: {nodes:?}"),
                // The client presents the new token from now on.
                Some(AmEvent::AmrmToken { .. }) => {}
                Some(AmEvent::Preempting(cs)) => println!("containers to be preempted: {cs:?}"),
                Some(AmEvent::Shutdown { reason }) => {
                    println!("shutting down: {reason}");
                    return Ok(1);
                }
            },
            Some((id, e)) = fail_rx.recv() => {
                println!("{id} failed to start: {e}");
                completed += 1;
                failed += 1;
                failures.push(format!("{id} failed to start: {e}"));
            }
        }
    }
    let mut diag = format!("{failed} of {n} containers failed");
    if !failures.is_empty() {
        diag = format!("{diag}: {}", failures.join("; "));
    }
    let status = if failed == 0 {
        FinalApplicationStatus::SUCCEEDED
    } else {
        FinalApplicationStatus::FAILED
    };
    println!("{diag}");
    rm.finish(status, &diag, "").await?;
    Ok(0)
}
