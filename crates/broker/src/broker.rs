//! The broker: owns the store and the flusher, and turns request frames into replies
//! ([`Service`]). Decoding, dispatch by API key and encoding live here; each API's logic lives
//! in `handler/`.

use crate::config::{Config, FlushPolicy};
use crate::flusher::Flusher;
use crate::handler::{self, Handled};
use crate::metrics::Metrics;
use crate::producer_ids::ProducerIds;
use crate::server::{Close, Reply, Service};
use crate::store::Store;
use bytes::Bytes;
use semel_wire::messages::{
    ApiKey, RequestBody, ResponseBody, api_versions_response::ApiVersion,
    api_versions_response::ApiVersionsResponse, decode_request_header, encode_response,
};
use semel_wire::{Decoder, encode_frame};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, warn};

/// The node id of this (single) broker.
pub const NODE_ID: i32 = 1;

/// The APIs and versions served, as advertised in ApiVersions. Each range lies within the
/// schema's valid versions; see NOTES.md F.4 for why these.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 6),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::FindCoordinator, 0, 3),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 8),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::EndTxn, 0, 3),
    (ApiKey::TxnOffsetCommit, 0, 3),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
    (ApiKey::DescribeProducers, 0, 0),
];

/// The served version range of `api`, if it is served.
pub fn supported_versions(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(a, _, _)| *a == api)
        .map(|&(_, min, max)| (min, max))
}

/// The broker's shared state.
#[derive(Debug)]
pub struct Broker {
    /// Configuration it was started with.
    pub config: Config,
    /// Topics and partitions.
    pub store: Store,
    /// Group commit of partition logs.
    pub flusher: Flusher,
    /// Producer-id allocation.
    pub producer_ids: ProducerIds,
    /// Consumer groups and their committed offsets.
    pub groups: Arc<crate::groups::Groups>,
    /// The transaction coordinator.
    pub transactions: Arc<crate::transactions::Transactions>,
    /// Exported metrics.
    pub metrics: Arc<Metrics>,
    /// The cluster id reported in Metadata.
    pub cluster_id: String,
}

impl Broker {
    /// Opens the store and starts the flusher.
    ///
    /// # Errors
    /// The topics or the producer-id log cannot be opened.
    pub fn open(config: Config, metrics: Arc<Metrics>) -> Result<Arc<Self>, OpenError> {
        let store = Store::open(&config)?;
        let producer_ids = ProducerIds::open(&config.data_dir)?;
        let seed = u64::from_be_bytes(
            crate::store::random_uuid().0[..8]
                .try_into()
                .unwrap_or([0; 8]),
        );
        let groups = crate::groups::Groups::open(&config.data_dir, crate::now_ms(), seed)?;
        let (transactions, txn_queues) = crate::transactions::Transactions::open(
            &config.data_dir,
            semel_txn::CoordinatorConfig {
                transaction_max_timeout_ms: config.transaction_max_timeout_ms,
                ..semel_txn::CoordinatorConfig::default()
            },
        )?;
        let cluster_id = load_cluster_id(&config.data_dir);
        let flusher = Flusher::start(Arc::clone(&metrics));
        let broker = Arc::new(Self {
            config,
            store,
            flusher,
            producer_ids,
            groups,
            transactions,
            metrics,
            cluster_id,
        });
        crate::transactions::Transactions::start(&broker, txn_queues);
        crate::flusher::start_housekeeping(
            Arc::downgrade(&broker),
            std::time::Duration::from_secs(30),
        );
        if let FlushPolicy::IntervalMs(ms) = broker.config.flush {
            Flusher::start_interval(Arc::downgrade(&broker), ms);
        }
        Ok(broker)
    }

    /// Flushes every partition and writes its producer-state snapshot (clean shutdown).
    pub fn flush_all(&self) {
        for topic in self.store.all() {
            for partition in &topic.partitions {
                if let Err(e) = partition.sync() {
                    warn!(topic = %topic.name, error = %e, "flush at shutdown failed");
                }
                if let Err(e) = partition.write_snapshot() {
                    warn!(topic = %topic.name, error = %e, "producer snapshot at shutdown failed");
                }
            }
        }
    }

    fn respond(
        &self,
        api: ApiKey,
        correlation_id: i32,
        version: i16,
        body: &ResponseBody,
    ) -> Result<Vec<Bytes>, Close> {
        let encoded = encode_response(correlation_id, version, body).map_err(|e| {
            Close(format!(
                "cannot encode {} v{version} response: {e}",
                api.name()
            ))
        })?;
        encode_frame(encoded).map_err(|e| Close(format!("cannot frame response: {e}")))
    }
}

/// Why the broker could not start on its data directory.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Topics could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreOpenError),
    /// The producer-id log could not be opened.
    #[error("producer ids: {0}")]
    ProducerIds(#[from] crate::producer_ids::ProducerIdError),
    /// The consumer-group log could not be opened.
    #[error("consumer groups: {0}")]
    Groups(#[from] crate::groups::GroupsOpenError),
    /// The transaction-state log could not be opened.
    #[error("transactions: {0}")]
    Transactions(#[from] crate::transactions::TransactionsOpenError),
}

/// The cluster id: made once, kept in the data directory.
fn load_cluster_id(dir: &std::path::Path) -> String {
    let path = dir.join("cluster-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return id.to_owned();
        }
    }
    let raw = crate::store::random_uuid().0;
    let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    if let Err(e) = std::fs::write(&path, &id) {
        warn!(error = %e, "cannot persist the cluster id");
    }
    id
}

/// The response to an ApiVersions request of a version we do not serve: header v0 and a v0
/// body with UNSUPPORTED_VERSION and our ApiVersions range (NOTES.md A.5).
fn api_versions_unsupported(correlation_id: i32) -> Result<Vec<Bytes>, Close> {
    let (min, max) = supported_versions(ApiKey::ApiVersions).unwrap_or((0, 0));
    let body = ResponseBody::ApiVersions(ApiVersionsResponse {
        error_code: 35,
        api_keys: vec![ApiVersion {
            api_key: ApiKey::ApiVersions.key(),
            min_version: min,
            max_version: max,
            ..ApiVersion::default()
        }],
        ..ApiVersionsResponse::default()
    });
    let encoded = encode_response(correlation_id, 0, &body).map_err(|e| Close(e.to_string()))?;
    encode_frame(encoded).map_err(|e| Close(e.to_string()))
}

/// The service a connection talks to. Holds the broker behind an `Arc` so replies that finish
/// later can keep it alive.
#[derive(Debug, Clone)]
pub struct BrokerService(pub Arc<Broker>);

impl Service for BrokerService {
    fn call(&self, peer: SocketAddr, frame: Bytes) -> Result<Reply, Close> {
        let broker = &self.0;
        let started = Instant::now();
        let mut d = Decoder::new(frame);
        let header = decode_request_header(&mut d)
            .map_err(|e| Close(format!("malformed request header: {e}")))?;
        let version = header.request_api_version;
        let correlation_id = header.correlation_id;
        let api = ApiKey::from_i16(header.request_api_key);
        let served = api.and_then(|a| supported_versions(a).map(|r| (a, r)));
        let (api, (min, max)) = match (api, served) {
            (Some(ApiKey::ApiVersions), Some((_, (min, max))))
                if version < min || version > max =>
            {
                return api_versions_unsupported(correlation_id).map(Reply::Now);
            }
            (_, Some(served)) => served,
            _ => {
                return Err(Close(format!(
                    "api key {} is not served",
                    header.request_api_key
                )));
            }
        };
        if version < min || version > max {
            // Kafka closes the connection on a version it did not advertise.
            return Err(Close(format!(
                "{} v{version} is not served ({min}-{max})",
                api.name()
            )));
        }
        let stats = broker.metrics.api(api.name());
        if let Some(stats) = stats {
            stats
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let body = RequestBody::decode(api, &mut d, version);
        if body.is_ok() && !d.is_empty() {
            // Kafka's parser ignores bytes after the body, and librdkafka 2.12 sends a few
            // zero bytes after Metadata v12 bodies: tolerate them, as Kafka does.
            debug!(%peer, api = api.name(), version, trailing = d.remaining(), "ignoring bytes after the request body");
        }
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                if let Some(stats) = stats {
                    stats
                        .errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                warn!(%peer, api = api.name(), version, error = %e, "malformed request; closing the connection");
                return Err(Close(format!("malformed {} v{version}: {e}", api.name())));
            }
        };
        debug!(%peer, api = api.name(), version, correlation_id, "request");
        let handled = handler::handle(broker, &header, body, version);
        let observe = {
            let metrics = Arc::clone(&broker.metrics);
            move || {
                if let Some(stats) = metrics.api(api.name()) {
                    stats.latency.observe(started.elapsed());
                }
            }
        };
        match handled {
            Handled::NoResponse => {
                observe();
                Ok(Reply::None)
            }
            Handled::Close(reason) => Err(Close(reason)),
            Handled::Now(body) => {
                let frame = broker.respond(api, correlation_id, version, &body)?;
                observe();
                Ok(Reply::Now(frame))
            }
            Handled::Later(future) => {
                let broker = Arc::clone(broker);
                Ok(Reply::Later(Box::pin(async move {
                    let body = future.await;
                    observe();
                    broker.respond(api, correlation_id, version, &body)
                })))
            }
        }
    }

    fn connections_changed(&self, delta: i64) {
        self.0
            .metrics
            .connections
            .fetch_add(delta, std::sync::atomic::Ordering::Relaxed);
    }
}
