//! Harness for end-to-end tests: start and kill a real `semel` process on a free loopback port
//! with a temporary data directory, run real Kafka clients against it, and speak raw protocol
//! when a test needs bytes no client would send.
//!
//! The `semel` binary is taken from the target directory the tests were built in
//! (`cargo xtask test` builds it first); Python clients come from virtual environments this
//! harness creates under the target directory with pinned kafka-python releases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The target directory holding this test binary (`target/debug`).
fn target_profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/e2e-<hash>
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("test binary lives in <target>/<profile>/deps")
}

static SEMEL_BIN: OnceLock<PathBuf> = OnceLock::new();

/// Uses `path` as the `semel` binary (a benchmark points at the release build).
pub fn set_semel_bin(path: PathBuf) {
    let _ = SEMEL_BIN.set(path);
}

/// Path of the `semel` binary under test: [`set_semel_bin`], else `$SEMEL_BIN`, else the one
/// in the target directory the tests were built in.
pub fn semel_bin() -> PathBuf {
    if let Some(path) = SEMEL_BIN.get() {
        return path.clone();
    }
    if let Ok(path) = std::env::var("SEMEL_BIN") {
        return PathBuf::from(path);
    }
    let path = target_profile_dir().join("semel");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p semel-broker --bin semel` (cargo xtask test does)",
        path.display()
    );
    path
}

/// A running broker process with its own data directory.
pub struct Broker {
    child: Option<Child>,
    /// Where clients connect.
    pub addr: SocketAddr,
    data_dir: tempfile::TempDir,
    extra_args: Vec<String>,
    log_path: PathBuf,
}

impl Broker {
    /// Starts a broker with default flags plus `args`.
    pub fn start(args: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let log_path = data_dir.path().with_extension("log");
        let mut broker = Self {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            extra_args: args.iter().map(|s| (*s).to_owned()).collect(),
            log_path,
        };
        broker.spawn("127.0.0.1:0");
        broker
    }

    fn spawn(&mut self, listen: &str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("broker log file");
        let mut child = Command::new(semel_bin())
            .arg("serve")
            .arg("--listen")
            .arg(listen)
            .arg("--data-dir")
            .arg(self.data_dir.path().join("data"))
            .args(&self.extra_args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start semel");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the broker never blocks on a full pipe.
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("semel did not start; log:\n{}", self.log()));
        let addr = line
            .strip_prefix("semel listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from semel: {line}"));
        self.addr = addr;
        self.child = Some(child);
    }

    /// `host:port` for clients.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// The broker's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Kills the process with SIGKILL (no chance to flush) and waits for it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts on the same port and data directory (after [`Broker::kill9`] or a stop).
    pub fn restart(&mut self) {
        self.kill9();
        let listen = self.addr.to_string();
        // The port may take a moment to be free again.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::net::TcpListener::bind(self.addr).is_ok() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.spawn(&listen);
    }

    /// Sends SIGTERM and returns the exit status (graceful shutdown).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("broker is running");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("semel did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The broker's process id (for /proc statistics).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The data directory (for a second process trying to lock it).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.path().join("data")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A kafka-python release installed in its own virtual environment under the target dir.
pub fn kafka_python(version: &str) -> PathBuf {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    let _guard = LOCK
        .get_or_init(|| Mutex::new(()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let venv = target_profile_dir()
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join(format!("e2e-venv-kafka-python-{version}"));
    let python = venv.join("bin").join("python");
    let marker = venv.join(".installed");
    if marker.exists() {
        return python;
    }
    let python3 = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let status = Command::new(&python3)
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .expect("python3 -m venv");
    assert!(status.success(), "creating {} failed", venv.display());
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(format!("kafka-python=={version}"))
        .status()
        .expect("pip install");
    assert!(
        status.success(),
        "pip install kafka-python=={version} failed"
    );
    std::fs::write(&marker, version).expect("venv marker");
    python
}

/// Runs `tests/python/<script>` with `args`; returns stdout, panicking with both streams on
/// failure.
pub fn run_python(python: &Path, script: &str, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let output = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{} {:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        script.display(),
        args,
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A blocking raw-protocol connection, for requests no client would send.
pub struct RawConnection {
    stream: TcpStream,
}

impl RawConnection {
    /// Connects with short timeouts.
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Self { stream }
    }

    /// Writes raw bytes (errors ignored: the broker may have closed already).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Writes one size-prefixed frame.
    pub fn send_frame(&mut self, body: &[u8]) {
        let mut frame = (i32::try_from(body.len()).expect("frame size"))
            .to_be_bytes()
            .to_vec();
        frame.extend_from_slice(body);
        self.send_raw(&frame);
    }

    /// Reads one response frame body; `None` if the broker closed the connection.
    pub fn read_frame(&mut self) -> Option<Vec<u8>> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).ok()?;
        let size = usize::try_from(i32::from_be_bytes(size)).ok()?;
        let mut body = vec![0; size];
        self.stream.read_exact(&mut body).ok()?;
        Some(body)
    }

    /// Whether the broker closed the connection (reads EOF or reset within the timeout).
    pub fn is_closed_by_peer(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.stream.read(&mut buf), Ok(0) | Err(_))
    }
}

/// A minimal protocol client built on semel-wire, for tests that need exact control (kill -9
/// between a request and its answer, malformed input next to well-formed requests).
pub mod raw {
    use super::RawConnection;
    use bytes::Bytes;
    use semel_wire::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
    use semel_wire::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
    use semel_wire::messages::produce_request::{
        PartitionProduceData, ProduceRequest, TopicProduceData,
    };
    use semel_wire::messages::{
        ApiKey, RequestBody, RequestHeader, ResponseBody, decode_response, encode_request,
    };
    use semel_wire::{RecordBatch, RecordBatchBuilder};

    /// Sends `body` at `version` and returns the decoded response (`None` if the connection
    /// closed, e.g. because the broker was killed).
    pub fn call(
        conn: &mut RawConnection,
        body: RequestBody,
        version: i16,
        correlation_id: i32,
    ) -> Option<ResponseBody> {
        let api: ApiKey = body.api_key();
        conn.send_frame(&encode(&body, version, correlation_id));
        read_response(conn, api, version, correlation_id)
    }

    /// One encoded request frame (without the size prefix), to send later or together with
    /// others (pipelined).
    pub fn encode(body: &RequestBody, version: i16, correlation_id: i32) -> Vec<u8> {
        let header = RequestHeader {
            request_api_key: body.api_key().key(),
            request_api_version: version,
            correlation_id,
            client_id: Some("semel-e2e".into()),
            ..RequestHeader::default()
        };
        encode_request(&header, body)
            .expect("encodable request")
            .into_bytes()
            .to_vec()
    }

    /// Reads the next response, which must answer `api` at `version` with `correlation_id`.
    pub fn read_response(
        conn: &mut RawConnection,
        api: ApiKey,
        version: i16,
        correlation_id: i32,
    ) -> Option<ResponseBody> {
        let response = conn.read_frame()?;
        let (header, body) = decode_response(Bytes::from(response), api, version).ok()?;
        assert_eq!(
            header.correlation_id, correlation_id,
            "answers come in request order"
        );
        Some(body)
    }

    /// Creates a topic; returns the error code.
    pub fn create_topic(conn: &mut RawConnection, name: &str, partitions: i32) -> i16 {
        let body = RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: name.into(),
                num_partitions: partitions,
                replication_factor: 1,
                ..CreatableTopic::default()
            }],
            timeout_ms: 10_000,
            ..CreateTopicsRequest::default()
        });
        match call(conn, body, 7, 1) {
            Some(ResponseBody::CreateTopics(r)) => r.topics.first().map_or(-1, |t| t.error_code),
            other => panic!("unexpected CreateTopics answer: {other:?}"),
        }
    }

    /// One batch holding `values` (null keys), as a producer would send it.
    pub fn batch(values: &[Vec<u8>]) -> Bytes {
        let mut builder = RecordBatchBuilder::new();
        for value in values {
            builder
                .append(
                    1_700_000_000_000,
                    None,
                    Some(Bytes::copy_from_slice(value)),
                    Vec::new(),
                )
                .expect("record");
        }
        builder.build().expect("batch")
    }

    /// A Produce v9 request of one batch to one partition.
    pub fn produce_request(topic: &str, partition: i32, acks: i16, records: Bytes) -> RequestBody {
        RequestBody::Produce(ProduceRequest {
            acks,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: topic.into(),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(records.into()),
                    ..PartitionProduceData::default()
                }],
                ..TopicProduceData::default()
            }],
            ..ProduceRequest::default()
        })
    }

    /// Produces one batch with acks=all; `Some((error_code, base_offset))`, or `None` if the
    /// connection broke before the answer.
    pub fn produce(
        conn: &mut RawConnection,
        topic: &str,
        partition: i32,
        values: &[Vec<u8>],
        correlation_id: i32,
    ) -> Option<(i16, i64)> {
        match call(
            conn,
            produce_request(topic, partition, -1, batch(values)),
            9,
            correlation_id,
        )? {
            ResponseBody::Produce(r) => {
                let p = r.responses.first()?.partition_responses.first()?;
                Some((p.error_code, p.base_offset))
            }
            other => panic!("unexpected Produce answer: {other:?}"),
        }
    }

    /// Reads a whole partition from offset 0 with Fetch v12; returns `(offset, value)` pairs.
    pub fn fetch_all(conn: &mut RawConnection, topic: &str, partition: i32) -> Vec<(i64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut offset = 0i64;
        for correlation_id in 1000.. {
            let body = RequestBody::Fetch(FetchRequest {
                replica_id: -1,
                max_wait_ms: 0,
                min_bytes: 1,
                max_bytes: 1 << 20,
                isolation_level: 0,
                topics: vec![FetchTopic {
                    topic: topic.into(),
                    partitions: vec![FetchPartition {
                        partition,
                        fetch_offset: offset,
                        partition_max_bytes: 1 << 20,
                        ..FetchPartition::default()
                    }],
                    ..FetchTopic::default()
                }],
                ..FetchRequest::default()
            });
            let Some(ResponseBody::Fetch(response)) = call(conn, body, 12, correlation_id) else {
                panic!("fetch failed");
            };
            let data = &response.responses[0].partitions[0];
            assert_eq!(data.error_code, 0, "fetch error");
            let records = data
                .records
                .as_ref()
                .map(semel_wire::RecordSet::to_bytes)
                .unwrap_or_default();
            if records.is_empty() {
                break;
            }
            for batch in RecordBatch::split(records) {
                let batch = batch.expect("whole batch");
                batch.validate().expect("stored batches keep their CRC");
                for record in batch.records().expect("plain records") {
                    let record = record.expect("record");
                    let at = batch.base_offset() + i64::from(record.offset_delta);
                    if at >= offset {
                        out.push((at, record.value.map(|v| v.to_vec()).unwrap_or_default()));
                    }
                }
                offset = batch.last_offset() + 1;
            }
        }
        out
    }
}

/// A TCP proxy between clients and the broker that loses Produce answers: every `cut_every`-th
/// Produce response is dropped and both sides of that connection are closed, as if the network
/// failed after the broker wrote the batch. Point the broker's `--advertised-addr` at the proxy
/// so that clients keep going through it.
pub struct FaultyProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    target: std::sync::Arc<Mutex<Option<SocketAddr>>>,
    /// Produce answers dropped so far.
    pub dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Set on drop: the listener thread stops accepting and exits.
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        // Wake the blocked `accept` so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

impl FaultyProxy {
    /// Starts listening; connections wait until [`FaultyProxy::set_target`] is called.
    pub fn start(cut_every: u64) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let addr = listener.local_addr().expect("proxy addr");
        let target: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let dropped = Arc::new(AtomicU64::new(0));
        let produce_answers = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (t, d, s) = (Arc::clone(&target), Arc::clone(&dropped), Arc::clone(&stop));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::Acquire) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Some(broker) = *t.lock().unwrap_or_else(|e| e.into_inner()) else {
                    continue;
                };
                let Ok(server) = TcpStream::connect(broker) else {
                    continue;
                };
                let produce_ids = Arc::new(Mutex::new(std::collections::HashSet::<i32>::new()));
                // Client → broker: forward frames, remembering which correlation ids are Produce.
                let (mut c_in, mut s_out) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let ids = Arc::clone(&produce_ids);
                std::thread::spawn(move || {
                    while let Some(frame) = read_frame_from(&mut c_in) {
                        if frame.len() >= 8 && frame[0..2] == [0, 0] {
                            let correlation =
                                i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                            ids.lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(correlation);
                        }
                        let size = (frame.len() as i32).to_be_bytes();
                        if s_out
                            .write_all(&size)
                            .and_then(|()| s_out.write_all(&frame))
                            .is_err()
                        {
                            break;
                        }
                    }
                    let _ = s_out.shutdown(std::net::Shutdown::Both);
                });
                // Broker → client: forward frames, but lose every cut_every-th Produce answer.
                let (mut s_in, mut c_out) = (server, client);
                let (counter, dropped) = (Arc::clone(&produce_answers), Arc::clone(&d));
                std::thread::spawn(move || {
                    while let Some(frame) = read_frame_from(&mut s_in) {
                        let correlation = frame
                            .get(0..4)
                            .map_or(-1, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                        let is_produce = produce_ids
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&correlation);
                        if is_produce
                            && (counter.fetch_add(1, Ordering::Relaxed) + 1) % cut_every == 0
                        {
                            dropped.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        let size = (frame.len() as i32).to_be_bytes();
                        if c_out
                            .write_all(&size)
                            .and_then(|()| c_out.write_all(&frame))
                            .is_err()
                        {
                            break;
                        }
                    }
                    let _ = c_out.shutdown(std::net::Shutdown::Both);
                    let _ = s_in.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Self {
            addr,
            target,
            dropped,
            stop,
        }
    }

    /// Where connections go.
    pub fn set_target(&self, broker: SocketAddr) {
        *self.target.lock().unwrap_or_else(|e| e.into_inner()) = Some(broker);
    }
}

fn read_frame_from(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).ok()?;
    // The broker's own limit: a larger announced size ends the connection, never allocates.
    let size = usize::try_from(i32::from_be_bytes(size))
        .ok()
        .filter(|&n| n <= semel_wire::DEFAULT_MAX_FRAME_BYTES)?;
    let mut body = vec![0; size];
    stream.read_exact(&mut body).ok()?;
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_proxy_stops_listening() {
        let proxy = FaultyProxy::start(10);
        let addr = proxy.addr;
        assert!(TcpStream::connect(addr).is_ok(), "listening while alive");
        drop(proxy);
        // The listener thread sees the stop flag at its next accept and closes the socket.
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(addr).is_ok() {
            assert!(
                Instant::now() < deadline,
                "the proxy still accepts after being dropped"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
