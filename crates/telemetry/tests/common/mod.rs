//! A real OTLP receiver for the export tests: `rotel`, an OpenTelemetry collector
//! shipped on PyPI, listening for gRPC and HTTP on free 127.0.0.1 ports and printing
//! every span and metric it receives.
//!
//! On a fresh machine the receiver is installed with pip into the build's `tools`
//! folder (next to `target/tmp`), at a pinned version, so `make test` needs only
//! `python3` with pip.

use std::collections::BTreeSet;
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use backfill_policy::Channel;
use backfill_telemetry::metrics::{DeferralReason, ItemKind, ThrottleSource, WaitReason};
use backfill_telemetry::{
    LogFormat, Protocol, REDACTED, TelemetryConfig, metrics, set_parent_from, spans,
};

const ROTEL_VERSION: &str = "0.0.1a15";

/// A token-shaped value logged on purpose inside a span: it must never reach the
/// receiver (B4).
const PLANTED_TOKEN: &str = "EAAGplantedTokenValue0123456789";

/// How long to wait for the receiver to start and for data to show up in its output.
const PATIENCE: Duration = Duration::from_secs(20);

pub struct Receiver {
    child: Child,
    output: PathBuf,
    grpc: SocketAddr,
    http: SocketAddr,
    dir: PathBuf,
}

impl Receiver {
    pub fn start() -> Self {
        let agent = rotel_agent();
        let dir = scratch_dir();
        let (grpc, http) = (free_port(), free_port());
        let output = dir.join("received.txt");
        let child = Command::new(&agent)
            .arg("start")
            .args(["--exporter", "blackhole"])
            .args(["--debug-log", "traces", "--debug-log", "metrics"])
            .args(["--debug-log-verbosity", "detailed"])
            // Print each request as it arrives rather than batching for 200 ms.
            .arg("--disable-batching")
            .args(["--otlp-grpc-endpoint", &grpc.to_string()])
            .args(["--otlp-http-endpoint", &http.to_string()])
            .arg("--pid-file")
            .arg(dir.join("rotel.pid"))
            .arg("--log-file")
            .arg(dir.join("rotel.log"))
            .stdin(Stdio::null())
            .stdout(fs::File::create(&output).expect("create the receiver's output file"))
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", agent.display()));
        let receiver = Self {
            child,
            output,
            grpc,
            http,
            dir,
        };
        receiver.wait_until_listening();
        receiver
    }

    /// The endpoint `init` should export to for `protocol`.
    pub fn endpoint(&self, protocol: Protocol) -> String {
        match protocol {
            Protocol::Grpc => format!("http://{}", self.grpc),
            Protocol::HttpProtobuf => format!("http://{}", self.http),
        }
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + PATIENCE;
        for address in [self.grpc, self.http] {
            while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "the OTLP receiver did not listen on {address}"
                );
                thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Waits until the receiver has printed everything `expected` asks for, and
    /// returns what it received.
    pub fn wait_for(&self, expected: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let received = Received::parse(&fs::read_to_string(&self.output).unwrap_or_default());
            if expected(&received) || Instant::now() >= deadline {
                return received;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// One span as the receiver printed it.
#[derive(Debug, Default, Clone)]
pub struct ReceivedSpan {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_id: String,
    /// `key=value` for every attribute of the span and of its events.
    pub attributes: BTreeSet<String>,
}

/// What the receiver printed, parsed from its `detailed` debug format.
#[derive(Debug, Default)]
pub struct Received {
    pub spans: Vec<ReceivedSpan>,
    pub metric_names: BTreeSet<String>,
    pub raw: String,
}

impl Received {
    fn parse(raw: &str) -> Self {
        let mut received = Received {
            raw: raw.to_owned(),
            ..Received::default()
        };
        let mut span: Option<ReceivedSpan> = None;
        let mut in_descriptor = false;
        for line in raw.lines().map(str::trim) {
            let new_block = line.starts_with("Resource") && line.contains(" #");
            if line.starts_with("Span #") || new_block {
                received.spans.extend(span.take());
                if line.starts_with("Span #") {
                    span = Some(ReceivedSpan::default());
                }
                continue;
            }
            if line == "Descriptor:" {
                in_descriptor = true;
                continue;
            }
            if let Some(name) = line.strip_prefix("-> Name: ").filter(|_| in_descriptor) {
                received.metric_names.insert(name.to_owned());
                in_descriptor = false;
                continue;
            }
            let Some(span) = span.as_mut() else { continue };
            if let Some((key, value)) = line.split_once(" : ") {
                let value = value.trim().to_owned();
                match key.trim() {
                    "Trace ID" => span.trace_id = value,
                    "Parent ID" => span.parent_id = value,
                    "ID" => span.span_id = value,
                    "Name" => span.name = value,
                    _ => {}
                }
            } else if let Some((key, value)) = line
                .strip_prefix("-> ")
                .and_then(|attribute| attribute.split_once(": Str("))
            {
                let value = value.strip_suffix(')').unwrap_or(value);
                span.attributes.insert(format!("{key}={value}"));
            }
        }
        received.spans.extend(span);
        received
    }

    pub fn span(&self, name: &str) -> Option<&ReceivedSpan> {
        self.spans.iter().find(|span| span.name == name)
    }

    pub fn has_every_span_and_metric(&self) -> bool {
        spans::ALL_SPAN_NAMES
            .iter()
            .all(|name| self.span(name).is_some())
            && backfill_telemetry::metrics::ALL_METRIC_NAMES
                .iter()
                .all(|name| self.metric_names.contains(*name))
    }
}

/// What a producer and a worker do for one step, in one process: an API request
/// that dispatches a step, whose `traceparent` the worker's `step` span adopts, with
/// the step's channel call and store commit inside it; and one recording of every
/// metric.
pub fn emit_one_step_trace_and_every_metric() {
    let traceparent = {
        let request = tracing::info_span!(spans::API_REQUEST, route = "/connect");
        let _request = request.enter();
        let dispatch = tracing::info_span!(spans::DISPATCH);
        let _dispatch = dispatch.enter();
        backfill_telemetry::current_traceparent().expect("a dispatched step carries a trace")
    };

    let step = spans::step(
        &"tenant-1",
        Channel::Facebook,
        &"page-1",
        &"run-1",
        "fetch_messages",
    );
    set_parent_from(&step, Some(&traceparent));
    step.in_scope(|| {
        tracing::info_span!(spans::CHANNEL_CALL).in_scope(|| {
            // The mistake B4 guards against: a token in a log line inside a span.
            tracing::info!(access_token = PLANTED_TOKEN, "calling the channel");
        });
        tracing::info_span!(spans::STORE_COMMIT).in_scope(|| {});
    });
    spans::record_outcome(&step, "done", false);
    drop(step);

    let metrics = metrics();
    metrics.step_finished(Channel::Facebook, "fetch_messages", "done");
    metrics.channel_call(Channel::Facebook, "page", Duration::from_millis(120));
    metrics.throttled(Channel::Facebook, ThrottleSource::Usage);
    metrics.ratelimit_wait(Channel::Facebook, WaitReason::Budget);
    metrics.deferred(Channel::Facebook, DeferralReason::Peak);
    metrics.retried(Channel::Facebook);
    metrics.queue_depth(42, 7);
    metrics.run_finished(Channel::Facebook, "completed", Duration::from_secs(95));
    metrics.slice_ready(Channel::Facebook, Duration::from_secs(12));
    metrics.items_stored(Channel::Facebook, ItemKind::Message, 25);
}

/// Asserts that the trace arrived whole, joined across the queue, with its
/// attributes, every metric, and no token.
pub fn assert_received_step_trace_and_every_metric(received: &Received) {
    assert!(
        received.has_every_span_and_metric(),
        "missing spans or metrics; the receiver printed:\n{}",
        received.raw
    );
    let span = |name| received.span(name).unwrap();
    let (request, dispatch, step) = (
        span(spans::API_REQUEST),
        span(spans::DISPATCH),
        span(spans::STEP),
    );
    assert_eq!(dispatch.parent_id, request.span_id);
    assert_eq!(
        step.trace_id, request.trace_id,
        "the step joins the request's trace"
    );
    assert_eq!(
        step.parent_id, dispatch.span_id,
        "through the carried traceparent"
    );
    for child in [spans::CHANNEL_CALL, spans::STORE_COMMIT] {
        assert_eq!(
            span(child).parent_id,
            step.span_id,
            "{child} is inside the step"
        );
    }
    for attribute in [
        "tenant=tenant-1",
        "channel=facebook",
        "account=page-1",
        "run=run-1",
        "step.kind=fetch_messages",
        "outcome=done",
    ] {
        assert!(
            step.attributes.contains(attribute),
            "step lacks {attribute}: {:?}",
            step.attributes
        );
    }

    assert!(
        !received.raw.contains(PLANTED_TOKEN),
        "a token reached the trace backend"
    );
    let redacted = format!("access_token={REDACTED}");
    assert!(
        span(spans::CHANNEL_CALL).attributes.contains(&redacted),
        "the planted token's event is still there, redacted"
    );
}

pub fn config(receiver: &Receiver, protocol: Protocol) -> TelemetryConfig {
    TelemetryConfig {
        service_name: "backfill-telemetry-test".to_owned(),
        otlp_endpoint: Some(receiver.endpoint(protocol)),
        protocol,
        log_format: LogFormat::Json,
        log_filter: "info".to_owned(),
    }
}

/// The `rotel-agent` binary, installed with pip into the tools folder if absent.
fn rotel_agent() -> PathBuf {
    let site = tools_dir().join(format!("rotel-{ROTEL_VERSION}"));
    let agent = site.join("rotel").join("rotel-agent");
    if agent.exists() {
        return agent;
    }
    // Install next to the final folder and rename: tests in parallel processes may
    // both get here, and a rename is atomic, so neither sees a half-installed tree.
    let staging = tools_dir().join(format!("rotel-{ROTEL_VERSION}.{}", std::process::id()));
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .args(["--no-warn-script-location", "--target"])
        .arg(&staging)
        .arg(format!("rotel=={ROTEL_VERSION}"))
        .status()
        .expect("python3 with pip is needed to install the OTLP receiver (rotel)");
    assert!(
        status.success(),
        "pip install rotel=={ROTEL_VERSION} failed"
    );
    if fs::rename(&staging, &site).is_err() {
        // Another process won the race; its copy is complete.
        let _ = fs::remove_dir_all(&staging);
    }
    assert!(
        agent.exists(),
        "pip installed rotel without {}",
        agent.display()
    );
    agent
}

/// `<target>/tools`, shared with scripts/helm-check.sh, found from `target/tmp` so it
/// follows `CARGO_TARGET_DIR`.
fn tools_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target folder");
    let tools = target.join("tools");
    fs::create_dir_all(&tools).expect("create the tools folder");
    tools
}

fn scratch_dir() -> PathBuf {
    // One receiver per test process, and each test file is its own process.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("otlp-receiver-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("create the receiver's scratch folder");
    dir
}

fn free_port() -> SocketAddr {
    // The port is free when we look; the receiver binds it a moment later. Another
    // process could take it in between, which would fail the start loudly, not
    // silently pass.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port on 127.0.0.1")
}
