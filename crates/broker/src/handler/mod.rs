//! One module per group of APIs: each turns a decoded request into a response body (now or
//! later). Handlers never touch sockets; they ask the store and encode nothing themselves.

mod admin;
mod configs;
mod fetch;
mod group;
mod list_offsets;
mod metadata;
mod produce;
mod producer;
mod txn;

use crate::broker::Broker;
use semel_wire::messages::{RequestBody, RequestHeader, ResponseBody};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Kafka error codes used by the handlers.
pub(crate) mod code {
    /// No error.
    pub(crate) const NONE: i16 = 0;
    /// Offset outside the log.
    pub(crate) const OFFSET_OUT_OF_RANGE: i16 = 1;
    /// Batch CRC mismatch.
    pub(crate) const CORRUPT_MESSAGE: i16 = 2;
    /// Topic or partition does not exist.
    pub(crate) const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    /// An acks=all produce did not become durable in time.
    pub(crate) const REQUEST_TIMED_OUT: i16 = 7;
    /// Batch larger than max.message.bytes.
    pub(crate) const MESSAGE_TOO_LARGE: i16 = 10;
    /// Acks not in {-1, 0, 1}.
    pub(crate) const INVALID_REQUIRED_ACKS: i16 = 21;
    /// A feature this part of the broker does not serve yet (transactions).
    pub(crate) const INVALID_TXN_STATE: i16 = 48;
    /// Transactional batches without a transactional id.
    pub(crate) const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
    /// Storage failure.
    pub(crate) const KAFKA_STORAGE_ERROR: i16 = 56;
    /// Batch validation failure.
    pub(crate) const INVALID_RECORD: i16 = 87;
}

/// A response body that will be ready later.
pub(crate) type BodyFuture = Pin<Box<dyn Future<Output = ResponseBody> + Send>>;

/// What a handler decided.
pub(crate) enum Handled {
    /// Answer now.
    Now(ResponseBody),
    /// Answer when the future completes (durability wait, long poll).
    Later(BodyFuture),
    /// No answer (acks=0).
    NoResponse,
    /// Close the connection (an acks=0 produce that failed).
    Close(String),
}

/// Runs `job`, which flushes files (fsync), without holding up the other tasks of this runtime
/// thread: on the multi-threaded runtime the worker hands them to another thread for the
/// duration (`block_in_place`). The connection's own later requests still wait for it, as
/// Kafka handles one request per connection at a time; so a topic exists for the next
/// request once its CreateTopics has been handled. Elsewhere (a current-thread runtime in a
/// test) `job` just runs.
pub(crate) fn blocking<T>(job: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(job),
        _ => job(),
    }
}

/// Routes a request to its handler.
pub(crate) fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    body: RequestBody,
    version: i16,
) -> Handled {
    match body {
        RequestBody::ApiVersions(_) => Handled::Now(metadata::api_versions(version)),
        RequestBody::Metadata(req) => Handled::Now(metadata::metadata(broker, &req, version)),
        RequestBody::DescribeCluster(req) => Handled::Now(metadata::describe_cluster(broker, &req)),
        RequestBody::Produce(req) => produce::produce(broker, req, version),
        RequestBody::Fetch(req) => fetch::fetch(broker, req, version),
        RequestBody::ListOffsets(req) => Handled::Now(list_offsets::list_offsets(broker, &req)),
        RequestBody::CreateTopics(req) => {
            Handled::Now(blocking(|| admin::create_topics(broker, &req, version)))
        }
        RequestBody::DeleteTopics(req) => {
            Handled::Now(blocking(|| admin::delete_topics(broker, &req)))
        }
        RequestBody::CreatePartitions(req) => {
            Handled::Now(blocking(|| admin::create_partitions(broker, &req)))
        }
        RequestBody::DeleteRecords(req) => {
            Handled::Now(blocking(|| admin::delete_records(broker, &req)))
        }
        RequestBody::DescribeConfigs(req) => Handled::Now(configs::describe_configs(broker, &req)),
        RequestBody::IncrementalAlterConfigs(req) => Handled::Now(blocking(|| {
            configs::incremental_alter_configs(broker, &req)
        })),
        RequestBody::FindCoordinator(req) => {
            Handled::Now(group::find_coordinator(broker, &req, version))
        }
        RequestBody::JoinGroup(req) => {
            group::join_group(broker, header.client_id.as_deref(), req, version)
        }
        RequestBody::SyncGroup(req) => group::sync_group(broker, req, version),
        RequestBody::Heartbeat(req) => Handled::Now(group::heartbeat(broker, req)),
        RequestBody::LeaveGroup(req) => group::leave_group(broker, req, version),
        RequestBody::OffsetCommit(req) => group::offset_commit(broker, req),
        RequestBody::OffsetFetch(req) => Handled::Now(group::offset_fetch(broker, req, version)),
        RequestBody::DescribeGroups(req) => Handled::Now(group::describe_groups(broker, &req)),
        RequestBody::ListGroups(req) => Handled::Now(group::list_groups(broker, &req)),
        RequestBody::DeleteGroups(req) => group::delete_groups(broker, req),
        RequestBody::OffsetDelete(req) => group::offset_delete(broker, req),
        RequestBody::InitProducerId(req) if req.transactional_id.is_some() => {
            txn::init_producer_id(broker, req, version)
        }
        RequestBody::InitProducerId(req) => Handled::Now(producer::init_producer_id(broker, &req)),
        RequestBody::AddPartitionsToTxn(req) => txn::add_partitions(broker, req, version),
        RequestBody::AddOffsetsToTxn(req) => txn::add_offsets(broker, req, version),
        RequestBody::EndTxn(req) => txn::end_txn(broker, req, version),
        RequestBody::TxnOffsetCommit(req) => txn::txn_offset_commit(broker, req, version),
        RequestBody::DescribeTransactions(req) => {
            Handled::Now(txn::describe_transactions(broker, &req))
        }
        RequestBody::ListTransactions(req) => Handled::Now(txn::list_transactions(broker, &req)),
        RequestBody::DescribeProducers(req) => Handled::Now(txn::describe_producers(broker, &req)),
        other => Handled::Close(format!(
            "{} from {:?} is decoded but not served",
            other.api_key().name(),
            header.client_id
        )),
    }
}
