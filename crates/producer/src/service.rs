//! The producer process: the HTTP API, the dispatcher and the event relay over one store
//! and one queue, started together and stopped together.
//!
//! [`Producer::build`] binds the listener before anything runs, so a caller (a test, or
//! `backfill producer`) learns the address — port 0 picks a free one — and then drives the
//! same code with [`Producer::run_until`].

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use backfill_store::Store;
use backfill_worker::clock::Clock;
use backfill_worker::queue::StepQueue;
use redis::aio::ConnectionManager;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiSettings, AppState};
use crate::dispatch::{DispatchSettings, Dispatcher};
use crate::events::{EventRelay, EventSettings};
use crate::health::Readiness;

/// How the producer runs.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    pub listen: SocketAddr,
    pub api: ApiSettings,
    pub dispatch: DispatchSettings,
    pub events: EventSettings,
}

/// What the producer works on.
#[derive(Debug, Clone)]
pub struct Dependencies {
    pub store: Store,
    /// The queue the dispatcher fills; its reachability is part of readiness.
    pub queue: StepQueue,
    /// Redis for event pub/sub and the relay's leader lease; `None` in embedded use.
    pub redis: Option<ConnectionManager>,
    pub clock: Clock,
}

/// A producer bound to its address, not yet running.
#[derive(Debug)]
pub struct Producer {
    listener: TcpListener,
    router: Router,
    dispatcher: Dispatcher,
    relay: EventRelay,
}

impl Producer {
    pub async fn build(settings: ProducerSettings, deps: Dependencies) -> std::io::Result<Self> {
        let listener = TcpListener::bind(settings.listen).await?;
        let readiness = Readiness {
            store: deps.store.clone(),
            queue: deps.queue.clone(),
        };
        let state = AppState::new(deps.store.clone(), deps.clock.clone());
        let router = api::router(state, readiness, &settings.api);
        let dispatcher = Dispatcher::new(
            deps.store.clone(),
            deps.queue,
            deps.clock.clone(),
            settings.dispatch,
        );
        let relay = EventRelay::new(deps.store, deps.redis, deps.clock, settings.events);
        Ok(Self {
            listener,
            router,
            dispatcher,
            relay,
        })
    }

    /// Where the API listens.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves: then the API stops accepting and finishes the
    /// requests under way, the dispatcher stops between rounds and the relay after its
    /// pass. Steps already in the queue are the workers' business.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stop = CancellationToken::new();
        let dispatcher = tokio::spawn(self.dispatcher.run(stop.clone().cancelled_owned()));
        let relay = tokio::spawn(self.relay.run(stop.clone().cancelled_owned()));
        tracing::info!(addr = %self.listener.local_addr()?, "producer serving");
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        stop.cancel();
        for task in [dispatcher, relay] {
            if let Err(error) = task.await {
                tracing::error!(error = %error, "a producer task ended abnormally");
            }
        }
        tracing::info!("producer stopped");
        served
    }
}
