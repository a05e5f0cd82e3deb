//! Every metric Backfill emits: names, units, attribute keys and values, in one place.
//!
//! The names follow OpenTelemetry's dotted style. The collector's Prometheus exporter
//! turns them into Prometheus names by one fixed rule ([`prometheus_names`]), and the
//! Grafana dashboard in `deploy/grafana/` queries exactly those; a test reads the
//! dashboard and fails when a panel names a metric this module does not define, or
//! when a metric here has no panel (B5).
//!
//! Recording goes through [`Metrics`], whose methods take closed enums or
//! `&'static str` for every attribute value. Nothing read at run time (a token, a
//! cursor, an error body) can become a label by accident (B4), and the number of time
//! series stays bounded by the code, not by the data.

use std::sync::OnceLock;
use std::time::Duration;

use backfill_policy::Channel;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter};

/// The instrumentation scope every instrument belongs to.
pub const METER_NAME: &str = "backfill";

/// Steps finished, by channel, step kind and outcome.
pub const STEPS: &str = "backfill.steps";
/// Channel API calls, by channel and outcome.
pub const CHANNEL_CALLS: &str = "backfill.channel.calls";
/// Channel API call latency in seconds, by channel.
pub const CHANNEL_LATENCY: &str = "backfill.channel.latency";
/// Throttle signals, by channel and source (the channel's answer or its usage headers).
pub const THROTTLES: &str = "backfill.throttles";
/// Steps that waited for a rate-limit token, by channel and reason.
pub const RATELIMIT_WAITS: &str = "backfill.ratelimit.waits";
/// Steps deferred to a later time, by channel and reason.
pub const DEFERRALS: &str = "backfill.deferrals";
/// Steps scheduled again after a transient failure, by channel.
pub const RETRIES: &str = "backfill.retries";
/// Tasks in the Redis queue, by state (scheduled or active).
pub const QUEUE_DEPTH: &str = "backfill.queue.depth";
/// Run durations in seconds, from connect to completion or failure, by channel and status.
pub const RUN_DURATION: &str = "backfill.run.duration";
/// Time to slice in seconds: from connect until the priority slice is stored (S4).
pub const SLICE_LATENCY: &str = "backfill.slice.latency";
/// Items stored, by channel and item kind.
pub const ITEMS_STORED: &str = "backfill.items.stored";

/// Every metric name defined here, for cross-checks such as the dashboard test.
pub const ALL_METRIC_NAMES: &[&str] = &[
    STEPS,
    CHANNEL_CALLS,
    CHANNEL_LATENCY,
    THROTTLES,
    RATELIMIT_WAITS,
    DEFERRALS,
    RETRIES,
    QUEUE_DEPTH,
    RUN_DURATION,
    SLICE_LATENCY,
    ITEMS_STORED,
];

/// Attribute keys. Values come from closed sets: see the enums below and the
/// `&'static str` parameters of [`Metrics`].
pub mod attr {
    pub const CHANNEL: &str = "channel";
    pub const KIND: &str = "kind";
    pub const OUTCOME: &str = "outcome";
    pub const SOURCE: &str = "source";
    pub const REASON: &str = "reason";
    pub const STATE: &str = "state";
    pub const STATUS: &str = "status";
    pub const ITEM: &str = "item";
}

/// What sort of instrument a metric is; decides its Prometheus series names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstrumentKind {
    /// Monotonic sum: `<name>_total` in Prometheus.
    Counter,
    /// Last value: `<name>` in Prometheus.
    Gauge,
    /// Explicit-bucket histogram: `<name>_bucket`, `_sum` and `_count`.
    Histogram,
}

/// The shape of one metric: what the dashboard and the docs may rely on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricSpec {
    pub name: &'static str,
    pub kind: InstrumentKind,
    /// UCUM unit. Curly-brace annotations such as `{step}` are dropped by the
    /// Prometheus translation; `s` becomes the `_seconds` suffix.
    pub unit: &'static str,
    pub description: &'static str,
    /// The attribute keys this metric is recorded with, and no others.
    pub attributes: &'static [&'static str],
    /// Bucket upper bounds of a histogram, in its unit; empty for other kinds.
    pub buckets: &'static [f64],
}

/// Every metric with its kind, unit and attribute keys, in [`ALL_METRIC_NAMES`] order.
pub const SPECS: &[MetricSpec] = &[
    MetricSpec {
        name: STEPS,
        kind: InstrumentKind::Counter,
        unit: "{step}",
        description: "Steps finished, by channel, step kind and outcome.",
        attributes: &[attr::CHANNEL, attr::KIND, attr::OUTCOME],
        buckets: &[],
    },
    MetricSpec {
        name: CHANNEL_CALLS,
        kind: InstrumentKind::Counter,
        unit: "{call}",
        description: "Channel API calls, by channel and outcome.",
        attributes: &[attr::CHANNEL, attr::OUTCOME],
        buckets: &[],
    },
    MetricSpec {
        name: CHANNEL_LATENCY,
        kind: InstrumentKind::Histogram,
        unit: "s",
        description: "Channel API call latency.",
        attributes: &[attr::CHANNEL],
        buckets: buckets::CHANNEL_LATENCY,
    },
    MetricSpec {
        name: THROTTLES,
        kind: InstrumentKind::Counter,
        unit: "{signal}",
        description: "Throttle signals: a throttling answer or usage headers past the slow-down mark.",
        attributes: &[attr::CHANNEL, attr::SOURCE],
        buckets: &[],
    },
    MetricSpec {
        name: RATELIMIT_WAITS,
        kind: InstrumentKind::Counter,
        unit: "{step}",
        description: "Steps rescheduled because no rate-limit token was available.",
        attributes: &[attr::CHANNEL, attr::REASON],
        buckets: &[],
    },
    MetricSpec {
        name: DEFERRALS,
        kind: InstrumentKind::Counter,
        unit: "{step}",
        description: "Steps deferred to a later time, e.g. out of peak hours.",
        attributes: &[attr::CHANNEL, attr::REASON],
        buckets: &[],
    },
    MetricSpec {
        name: RETRIES,
        kind: InstrumentKind::Counter,
        unit: "{step}",
        description: "Steps scheduled again after a transient failure.",
        attributes: &[attr::CHANNEL],
        buckets: &[],
    },
    MetricSpec {
        name: QUEUE_DEPTH,
        kind: InstrumentKind::Gauge,
        unit: "{task}",
        description: "Tasks in the Redis queue: scheduled (ZSET) and active (LIST).",
        attributes: &[attr::STATE],
        buckets: &[],
    },
    MetricSpec {
        name: RUN_DURATION,
        kind: InstrumentKind::Histogram,
        unit: "s",
        description: "Run duration from connect to completion or failure.",
        attributes: &[attr::CHANNEL, attr::STATUS],
        buckets: buckets::RUN_DURATION,
    },
    MetricSpec {
        name: SLICE_LATENCY,
        kind: InstrumentKind::Histogram,
        unit: "s",
        description: "Time from connect until the priority slice is stored.",
        attributes: &[attr::CHANNEL],
        buckets: buckets::SLICE_LATENCY,
    },
    MetricSpec {
        name: ITEMS_STORED,
        kind: InstrumentKind::Counter,
        unit: "{item}",
        description: "Conversations, messages, comments and posts stored.",
        attributes: &[attr::CHANNEL, attr::ITEM],
        buckets: &[],
    },
];

/// Bucket bounds, in seconds, sized for what each histogram answers.
mod buckets {
    /// A channel API call: tens of milliseconds when healthy, up to the client timeout.
    pub const CHANNEL_LATENCY: &[f64] =
        &[0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
    /// Time to slice: the goal is under a minute (S4), so the resolution is there.
    pub const SLICE_LATENCY: &[f64] = &[
        1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 300.0, 900.0, 3600.0,
    ];
    /// A whole run: seconds for a small account, up to days when backlog waits for
    /// off-peak hours (S3).
    pub const RUN_DURATION: &[f64] = &[
        10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0, 86400.0, 259200.0,
    ];
}

/// The Prometheus series names one metric becomes behind the collector's Prometheus
/// exporter with `translation_strategy: UnderscoreEscapingWithSuffixes`, the OTel
/// default (deploy/otel-collector.yaml):
///
/// 1. dots become underscores: `backfill.channel.latency` → `backfill_channel_latency`;
/// 2. the unit `s` appends `_seconds`; annotations like `{step}` append nothing;
/// 3. counters append `_total`; histograms expose `_bucket`, `_sum` and `_count`;
///    gauges keep the bare name.
pub fn prometheus_names(spec: &MetricSpec) -> Vec<String> {
    let mut base = spec.name.replace('.', "_");
    if spec.unit == "s" {
        base.push_str("_seconds");
    }
    match spec.kind {
        InstrumentKind::Counter => vec![format!("{base}_total")],
        InstrumentKind::Gauge => vec![base],
        InstrumentKind::Histogram => ["_bucket", "_sum", "_count"]
            .iter()
            .map(|suffix| format!("{base}{suffix}"))
            .collect(),
    }
}

/// Where a throttle signal came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleSource {
    /// The channel answered with a throttling error (e.g. Meta code 613).
    Channel,
    /// Usage headers crossed the slow-down mark before any error (B2).
    Usage,
}

impl ThrottleSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Channel => "channel",
            Self::Usage => "usage",
        }
    }
}

/// Why a step had to wait for a rate-limit token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// The fleet-wide budget (GCRA in Redis) was spent.
    Budget,
    /// The account is blocked until a time a throttle answer named.
    Blocked,
    /// This process's local cap (`governor`) was reached.
    Local,
    /// The call could not leave on time for its slot and took a new one.
    Late,
}

impl WaitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Budget => "budget",
            Self::Blocked => "blocked",
            Self::Local => "local",
            Self::Late => "late",
        }
    }
}

/// Why a step was deferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeferralReason {
    /// Backlog work inside the tenant's peak hours (S3).
    Peak,
}

impl DeferralReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Peak => "peak",
        }
    }
}

/// Which part of the apalis-redis queue a depth reading is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueState {
    /// `<queue>:scheduled`, a ZSET: pushed, not yet due or not yet promoted.
    Scheduled,
    /// `<queue>:active`, a LIST: due and waiting for a worker.
    Active,
}

impl QueueState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Active => "active",
        }
    }
}

/// What kind of item was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Conversation,
    Message,
    Comment,
    Post,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Conversation => "conversation",
            Self::Message => "message",
            Self::Comment => "comment",
            Self::Post => "post",
        }
    }
}

/// Typed handles on every instrument. Get the process-wide one with [`metrics()`]
/// after [`crate::init`]; build one on a private meter with [`Metrics::new`] in tests.
#[derive(Debug, Clone)]
pub struct Metrics {
    steps: Counter<u64>,
    channel_calls: Counter<u64>,
    channel_latency: Histogram<f64>,
    throttles: Counter<u64>,
    ratelimit_waits: Counter<u64>,
    deferrals: Counter<u64>,
    retries: Counter<u64>,
    queue_depth: Gauge<u64>,
    run_duration: Histogram<f64>,
    slice_latency: Histogram<f64>,
    items_stored: Counter<u64>,
}

static GLOBAL: OnceLock<Metrics> = OnceLock::new();

/// The process-wide instruments, created on first use from the global meter provider.
///
/// Instruments bind to the provider that exists when they are created, so call
/// [`crate::init`] first; `init` warns if this was already called.
pub fn metrics() -> &'static Metrics {
    GLOBAL.get_or_init(|| Metrics::new(&opentelemetry::global::meter(METER_NAME)))
}

/// Whether [`metrics()`] has created its instruments yet.
pub(crate) fn global_already_created() -> bool {
    GLOBAL.get().is_some()
}

impl Metrics {
    /// Creates every instrument of [`SPECS`] on `meter`.
    pub fn new(meter: &Meter) -> Self {
        let spec = |name: &str| {
            SPECS
                .iter()
                .find(|spec| spec.name == name)
                .expect("every instrument has a spec")
        };
        let counter = |name: &'static str| {
            let spec = spec(name);
            meter
                .u64_counter(name)
                .with_unit(spec.unit)
                .with_description(spec.description)
                .build()
        };
        let histogram = |name: &'static str| {
            let spec = spec(name);
            meter
                .f64_histogram(name)
                .with_unit(spec.unit)
                .with_description(spec.description)
                .with_boundaries(spec.buckets.to_vec())
                .build()
        };
        let depth = spec(QUEUE_DEPTH);

        Self {
            steps: counter(STEPS),
            channel_calls: counter(CHANNEL_CALLS),
            channel_latency: histogram(CHANNEL_LATENCY),
            throttles: counter(THROTTLES),
            ratelimit_waits: counter(RATELIMIT_WAITS),
            deferrals: counter(DEFERRALS),
            retries: counter(RETRIES),
            queue_depth: meter
                .u64_gauge(QUEUE_DEPTH)
                .with_unit(depth.unit)
                .with_description(depth.description)
                .build(),
            run_duration: histogram(RUN_DURATION),
            slice_latency: histogram(SLICE_LATENCY),
            items_stored: counter(ITEMS_STORED),
        }
    }

    /// One step finished. `kind` is `StepKind::name()`; `outcome` is the worker's
    /// outcome name (`done`, `throttled`, `deferred`, `retry`, `failed`, `fenced`, …).
    pub fn step_finished(&self, channel: Channel, kind: &'static str, outcome: &'static str) {
        self.steps.add(
            1,
            &[
                channel_attr(channel),
                KeyValue::new(attr::KIND, kind),
                KeyValue::new(attr::OUTCOME, outcome),
            ],
        );
    }

    /// One channel API call returned (or timed out) after `latency`. `outcome` is the
    /// connector's classification: `page`, `throttled`, `transient`, `auth_revoked`, …
    pub fn channel_call(&self, channel: Channel, outcome: &'static str, latency: Duration) {
        self.channel_calls.add(
            1,
            &[channel_attr(channel), KeyValue::new(attr::OUTCOME, outcome)],
        );
        self.channel_latency
            .record(latency.as_secs_f64(), &[channel_attr(channel)]);
    }

    /// The channel told us to slow down, by an error or by its usage headers.
    pub fn throttled(&self, channel: Channel, source: ThrottleSource) {
        self.throttles.add(
            1,
            &[
                channel_attr(channel),
                KeyValue::new(attr::SOURCE, source.as_str()),
            ],
        );
    }

    /// A step found no rate-limit token and was rescheduled.
    pub fn ratelimit_wait(&self, channel: Channel, reason: WaitReason) {
        self.ratelimit_waits.add(
            1,
            &[
                channel_attr(channel),
                KeyValue::new(attr::REASON, reason.as_str()),
            ],
        );
    }

    /// A step was deferred to a later time.
    pub fn deferred(&self, channel: Channel, reason: DeferralReason) {
        self.deferrals.add(
            1,
            &[
                channel_attr(channel),
                KeyValue::new(attr::REASON, reason.as_str()),
            ],
        );
    }

    /// A step failed transiently and was scheduled again (C4 counts these durably;
    /// this only shows the rate).
    pub fn retried(&self, channel: Channel) {
        self.retries.add(1, &[channel_attr(channel)]);
    }

    /// The queue's depth as just read (ZCARD of `<queue>:scheduled`, LLEN of
    /// `<queue>:active`). A gauge, so report both parts every time you look.
    pub fn queue_depth(&self, scheduled: u64, active: u64) {
        for (state, depth) in [
            (QueueState::Scheduled, scheduled),
            (QueueState::Active, active),
        ] {
            self.queue_depth
                .record(depth, &[KeyValue::new(attr::STATE, state.as_str())]);
        }
    }

    /// A run ended; `status` is `completed` or `failed` (or `cancelled`).
    pub fn run_finished(&self, channel: Channel, status: &'static str, duration: Duration) {
        self.run_duration.record(
            duration.as_secs_f64(),
            &[channel_attr(channel), KeyValue::new(attr::STATUS, status)],
        );
    }

    /// A run's priority slice is fully stored, `since_connect` after the connect.
    pub fn slice_ready(&self, channel: Channel, since_connect: Duration) {
        self.slice_latency
            .record(since_connect.as_secs_f64(), &[channel_attr(channel)]);
    }

    /// `count` items of one kind were stored (newly; duplicates dropped by the
    /// store's idempotent upserts are not counted by callers).
    pub fn items_stored(&self, channel: Channel, item: ItemKind, count: u64) {
        if count == 0 {
            return;
        }
        self.items_stored.add(
            count,
            &[
                channel_attr(channel),
                KeyValue::new(attr::ITEM, item.as_str()),
            ],
        );
    }
}

fn channel_attr(channel: Channel) -> KeyValue {
    KeyValue::new(attr::CHANNEL, channel.as_str())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_name_has_exactly_one_spec_in_the_same_order() {
        let spec_names: Vec<_> = SPECS.iter().map(|spec| spec.name).collect();
        assert_eq!(spec_names, ALL_METRIC_NAMES);
        let unique: HashSet<_> = ALL_METRIC_NAMES.iter().collect();
        assert_eq!(unique.len(), ALL_METRIC_NAMES.len());
    }

    #[test]
    fn names_are_dotted_lowercase_under_the_backfill_prefix() {
        for name in ALL_METRIC_NAMES {
            assert!(name.starts_with("backfill."), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'),
                "{name}"
            );
        }
    }

    #[test]
    fn prometheus_names_follow_the_collector_rule() {
        let by_name =
            |name: &str| prometheus_names(SPECS.iter().find(|spec| spec.name == name).unwrap());
        assert_eq!(by_name(STEPS), ["backfill_steps_total"]);
        assert_eq!(by_name(QUEUE_DEPTH), ["backfill_queue_depth"]);
        assert_eq!(
            by_name(CHANNEL_LATENCY),
            [
                "backfill_channel_latency_seconds_bucket",
                "backfill_channel_latency_seconds_sum",
                "backfill_channel_latency_seconds_count",
            ]
        );
    }

    #[test]
    fn histograms_and_only_histograms_have_increasing_buckets() {
        for spec in SPECS {
            let is_histogram = spec.kind == InstrumentKind::Histogram;
            assert_eq!(!spec.buckets.is_empty(), is_histogram, "{}", spec.name);
            assert!(
                spec.buckets.windows(2).all(|pair| pair[0] < pair[1]),
                "{}",
                spec.name
            );
        }
    }

    #[test]
    fn recording_without_an_exporter_is_a_harmless_no_op() {
        let meter = opentelemetry::global::meter("test");
        let metrics = Metrics::new(&meter);
        metrics.step_finished(Channel::Facebook, "list_conversations", "done");
        metrics.channel_call(Channel::Zalo, "page", Duration::from_millis(30));
        metrics.queue_depth(3, 1);
        metrics.items_stored(Channel::Shopee, ItemKind::Message, 0);
    }
}
