//! The `semel` binary: parse flags, start the broker, stop cleanly on SIGTERM/SIGINT.

use clap::Parser;
use semel_broker::broker::{Broker, BrokerService, SUPPORTED};
use semel_broker::cli::{Cli, Command};
use semel_broker::datadir::DataDir;
use semel_broker::metrics::{Metrics, describe, serve_metrics};
use semel_broker::server::serve;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{error, info};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let Command::Serve(args) = cli.command;
    let config = match args.into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("semel: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("semel: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            eprintln!("semel: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: semel_broker::config::Config) -> Result<(), String> {
    let mut config = config;
    let data_dir = DataDir::open(&config.data_dir).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    // `--listen HOST:0` picks a free port: advertise the one we got (tests rely on this).
    if config.advertised_addr.1 == 0 {
        config.advertised_addr.1 = bound.port();
    }
    let metrics = Arc::new(Metrics::new(SUPPORTED.iter().map(|(api, _, _)| api.name())));
    let broker = Broker::open(config.clone(), Arc::clone(&metrics))
        .map_err(|e| format!("cannot open the data directory: {e}"))?;
    let (stop, stopped) = watch::channel(false);
    let metrics_task = match config.metrics_listen {
        Some(addr) => {
            let metrics_listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
            Some(tokio::spawn(serve_metrics(
                metrics_listener,
                Arc::clone(&metrics),
                stopped.clone(),
            )))
        }
        None => None,
    };
    // One stable line on stdout for scripts and tests: where to connect.
    println!("semel listening on {bound}");
    info!(
        listen = %bound,
        advertised = %format!("{}:{}", config.advertised_addr.0, config.advertised_addr.1),
        data_dir = %data_dir.path().display(),
        flush = %config.flush,
        metrics = %describe(config.metrics_listen),
        "semel is serving"
    );
    let stats = Arc::clone(&metrics.traffic);
    let server = tokio::spawn(serve(
        listener,
        Arc::new(BrokerService(Arc::clone(&broker))),
        config.max_request_bytes,
        Arc::clone(&stats),
        stopped,
    ));
    let signal = shutdown_signal().await;
    info!(
        signal,
        "stopping: no new connections, finishing requests in flight"
    );
    let _ = stop.send(true);
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => error!(error = %e, "server stopped with an error"),
        Err(e) => error!(error = %e, "server task failed"),
    }
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    broker.flush_all();
    info!("flushed; bye");
    drop(data_dir);
    Ok(())
}

/// Waits for SIGTERM or SIGINT and says which.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        _ => {
            // Without signal handlers, Ctrl-C still works through the default action.
            std::future::pending::<()>().await;
            "none"
        }
    }
}
