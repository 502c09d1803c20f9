//! `spindle node list|decommission|recommission`, `spindle app list|status|kill`.

use clap::Subcommand;
use common::protocol::{ApplicationReport, ErrorCode, YarnApplicationState};
use common::{ApplicationId, NodeId};

#[derive(Subcommand)]
pub(crate) enum NodeCommand {
    /// List nodes with their state, capacity and use.
    List,
    /// Decommission a node gracefully (YARN's): nothing new is placed there, the
    /// applications with containers there are told, and once its containers (and the
    /// applications that ran containers there) are done, or the timeout passed, it is
    /// DECOMMISSIONED and its node manager shuts down. Needs the RM's admin-acl.
    Decommission {
        /// The node's id (HOST:PORT, as `spindle node list` shows it), or its host when
        /// the host has one node.
        node: String,
        /// How long to wait before what still runs there is killed (e.g. 30s, 10m; default:
        /// the RM's graceful-decommission-timeout, 1h unless configured).
        #[arg(long, value_parser = common::duration::parse_duration)]
        timeout: Option<std::time::Duration>,
    },
    /// Take a DECOMMISSIONING node back into service, or let a DECOMMISSIONED node's
    /// node manager register again. Needs the RM's admin-acl.
    Recommission {
        /// The node's id (HOST:PORT), or its host when the host has one node.
        node: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum QueueCommand {
    /// List the scheduler's queues: capacity, maximum, use, pending and applications.
    List,
}

pub(crate) async fn queue(cmd: QueueCommand) -> anyhow::Result<()> {
    let QueueCommand::List = cmd;
    let (rm, _) = crate::rm_client()?;
    let queues = rm.queues().await?;
    println!(
        "{:<24} {:>9} {:>9} {:>9} {:>9} {:>16} {:>16} {:>5} {:>8}  State",
        "Queue", "Capacity", "Max", "AbsCap", "Used%", "Used", "Pending", "Apps", "Waiting"
    );
    for q in queues {
        let name = format!("{}{}", "  ".repeat(q.depth as usize), q.path);
        println!(
            "{:<24} {:>8.1}% {:>8.1}% {:>8.1}% {:>8.1}% {:>16} {:>16} {:>5} {:>8}  {}",
            name,
            q.capacity,
            q.maximum_capacity,
            q.absolute_capacity,
            q.used_capacity,
            format!("{}MB/{}vc", q.used.memory_mb, q.used.vcores),
            format!("{}MB/{}vc", q.pending.memory_mb, q.pending.vcores),
            q.num_applications,
            q.num_pending_applications,
            q.state
        );
    }
    Ok(())
}

#[derive(Subcommand)]
pub(crate) enum AppCommand {
    /// List applications (optionally only those in the given states, e.g. RUNNING,FINISHED).
    List {
        /// Only applications in these states (comma-separated or repeated: NEW, SUBMITTED,
        /// ACCEPTED, RUNNING, FINISHED, FAILED, KILLED).
        #[arg(long, value_delimiter = ',')]
        states: Vec<String>,
        /// Only applications in this queue (its short name or full path).
        #[arg(long)]
        queue: Option<String>,
    },
    /// Show one application's report.
    Status {
        /// The application's id (application_<cluster timestamp>_<n>).
        id: String,
    },
    /// Kill an application.
    Kill {
        /// The application's id (application_<cluster timestamp>_<n>).
        id: String,
    },
}

/// The RM's own message for a refusal (it names the right and who has it), else the error.
fn refusal(what: &str, e: common::transport::TransportError) -> anyhow::Error {
    let why = e
        .remote()
        .map_or_else(|| e.to_string(), |w| w.message.clone());
    anyhow::anyhow!("{what}: {why}")
}

pub(crate) async fn node(cmd: NodeCommand) -> anyhow::Result<()> {
    let (rm, _) = crate::rm_client()?;
    match cmd {
        NodeCommand::List => {}
        NodeCommand::Decommission { node, timeout } => {
            let timeout_ms = timeout.map(|t| t.as_millis() as u64);
            rm.decommission(NodeId(node.clone()), timeout_ms)
                .await
                .map_err(|e| refusal(&format!("cannot decommission {node}"), e))?;
            let after = timeout.map_or_else(
                || "the RM's graceful-decommission-timeout".to_string(),
                common::duration::format_duration,
            );
            println!("Decommissioning node {node}: no new containers; what runs there has {after} to finish (`spindle node list` shows DECOMMISSIONING, then DECOMMISSIONED)");
            return Ok(());
        }
        NodeCommand::Recommission { node } => {
            rm.recommission(NodeId(node.clone()))
                .await
                .map_err(|e| refusal(&format!("cannot recommission {node}"), e))?;
            println!("Recommissioned node {node}");
            return Ok(());
        }
    }
    let nodes = rm.nodes().await?;
    println!("Total Nodes:{}", nodes.len());
    println!(
        "{:<24} {:<15} {:<24} {:>10} {:>16} {:>16}  Isolation",
        "Node-Id", "Node-State", "Node-Address", "Containers", "Memory-Used/MB", "VCores-Used"
    );
    for n in nodes {
        // Isolation: cgroups-v2, cgroups-v1 or rss-polling; ",as-user" when containers run as
        // their application's user.
        println!(
            "{:<24} {:<15} {:<24} {:>10} {:>16} {:>16}  {}",
            n.node_id.0,
            n.state.to_string(),
            n.address,
            n.num_containers,
            format!("{}/{}", n.used.memory_mb, n.capability.memory_mb),
            format!("{}/{}", n.used.vcores, n.capability.vcores),
            n.isolation,
        );
        if !n.health_report.is_empty() {
            // Why it is UNHEALTHY (e.g. a full local-dir), or its NM's message when it
            // shut down.
            println!("  Health-Report: {}", n.health_report);
        }
        if let Some(s) = n.decommissioning_timeout_s {
            println!("  Decommissioning-Timeout: {s}s");
        }
    }
    Ok(())
}

fn parse_id(id: &str) -> anyhow::Result<ApplicationId> {
    id.parse()
        .map_err(|e| anyhow::anyhow!("{e} (expected application_<clusterTs>_<seq>)"))
}

pub(crate) async fn app(cmd: AppCommand) -> anyhow::Result<()> {
    let (rm, _) = crate::rm_client()?;
    match cmd {
        AppCommand::List { states, queue } => {
            let states = states
                .iter()
                .map(|s| {
                    s.parse::<YarnApplicationState>()
                        .map_err(anyhow::Error::msg)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut apps = rm.list(states).await?;
            if let Some(q) = &queue {
                apps.retain(|a| a.queue == *q || a.queue_path == *q);
            }
            println!("Total number of applications:{}", apps.len());
            println!(
                "{:<32} {:<24} {:<10} {:<10} {:<10} {:<12} {:>8}  Tracking-URL",
                "Application-Id",
                "Application-Name",
                "User",
                "Queue",
                "State",
                "Final-State",
                "Progress"
            );
            for a in apps {
                println!(
                    "{:<32} {:<24} {:<10} {:<10} {:<10} {:<12} {:>7.0}%  {}",
                    a.id.to_string(),
                    a.name,
                    a.user,
                    a.queue,
                    a.state.to_string(),
                    a.final_status.to_string(),
                    a.progress * 100.0,
                    a.tracking_url
                );
            }
        }
        AppCommand::Status { id } => print_report(&rm.report(parse_id(&id)?).await?),
        AppCommand::Kill { id } => {
            let id = parse_id(&id)?;
            // As YARN's `application -kill`: an ended app is not killed again.
            let before = rm.report(id).await?;
            if before.state.is_terminal() {
                println!(
                    "Application {id} has already finished: {} (final status {})",
                    before.state, before.final_status
                );
                return Ok(());
            }
            match rm.kill(id).await {
                // The RM's message names the right that is missing and who has it.
                Err(e) if e.code() == Some(ErrorCode::Unauthorized) => {
                    return Err(refusal(&format!("refused to kill {id}"), e))
                }
                other => other?,
            }
            println!("Killed application {id}");
        }
    }
    Ok(())
}

pub(crate) fn print_report(r: &ApplicationReport) {
    println!("Application Report :");
    println!("\tApplication-Id : {}", r.id);
    println!("\tApplication-Name : {}", r.name);
    println!("\tApplication-Type : {}", r.app_type);
    println!("\tUser : {}", r.user);
    println!("\tQueue : {}", r.queue);
    println!("\tStart-Time : {}", r.start_time);
    println!("\tFinish-Time : {}", r.finish_time);
    println!("\tProgress : {:.0}%", r.progress * 100.0);
    println!("\tState : {}", r.state);
    println!("\tFinal-State : {}", r.final_status);
    println!("\tTracking-URL : {}", r.tracking_url);
    println!("\tAM Host : {}", r.am_host);
    println!(
        "\tAggregate Resource Allocation : {} MB-seconds, {} vcore-seconds",
        r.memory_seconds, r.vcore_seconds
    );
    println!("\tRunning Containers : {}", r.running_containers);
    println!("\tAttempts : {}", r.attempts.len());
    println!("\tDiagnostics : {}", r.diagnostics);
}
