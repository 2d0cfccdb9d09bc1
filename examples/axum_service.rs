//! A small axum service behind relayer's layer: one record per request on
//! the `logging` topic.
//!
//! ```sh
//! cargo run --example axum_service                          # embedded broker, no Kafka needed
//! KAFKA_BROKERS=localhost:9092 cargo run --example axum_service
//! RUST_LOG=relayer=debug cargo run --example axum_service   # see every message produced
//! ```
//!
//! Listens on 127.0.0.1:3000 (or `ADDR`); stops on Ctrl-C, flushing what is
//! queued. The routes are in `examples/axum_app/mod.rs`.

#[path = "axum_app/mod.rs"]
mod axum_app;

use std::error::Error;
use std::time::Duration;

use relayer::{BROKERS_ENV, Relayer};
use relayer_test::EmbeddedBroker;
use tokio::net::TcpListener;
use tracing_subscriber::{EnvFilter, prelude::*};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Logs on the console as usual (RUST_LOG), and `tracing` events of a
    // request also in the request's record.
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_filter(EnvFilter::from_default_env()))
        .with(relayer::tracing_bridge())
        .init();

    // Real brokers from KAFKA_BROKERS, else a broker inside this process.
    let (relayer, _embedded): (Relayer, Option<EmbeddedBroker>) = match std::env::var(BROKERS_ENV) {
        Ok(brokers) => {
            println!("Kafka: {brokers} (from {BROKERS_ENV})");
            (axum_app::relayer(&brokers).build()?, None)
        }
        Err(_) => {
            let broker = EmbeddedBroker::start()?;
            println!(
                "Kafka: embedded broker at {} ({BROKERS_ENV} is unset)",
                broker.bootstrap_servers()
            );
            (
                axum_app::relayer(&broker.bootstrap_servers()).build()?,
                Some(broker),
            )
        }
    };

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("listening on {base}; try:");
    println!(
        "  curl -i -X POST {base}/things -H 'content-type: application/json' -d '{{\"name\":\"chair\"}}'"
    );
    println!("  curl -i {base}/things/1");
    println!("  curl -N {base}/countdown");
    println!(
        "records go to the `{}` topic; Ctrl-C to stop",
        relayer.logging_topic()
    );

    axum_app::serve(listener, relayer.clone(), shutdown_signal()).await?;

    // The server has finished its requests: deliver what they queued, within
    // the grace period; what is left fails (or is spooled, with a spool).
    let stats =
        tokio::task::spawn_blocking(move || relayer.shutdown(Duration::from_secs(10))).await?;
    println!(
        "stopped: {} delivered, {} failed, {} dropped, {} spooled for the next start",
        stats.delivered, stats.failed, stats.dropped, stats.spooled
    );
    Ok(())
}

/// Ctrl-C, or SIGTERM as sent by container orchestrators.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
