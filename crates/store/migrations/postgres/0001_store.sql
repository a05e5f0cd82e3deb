-- The message center's data and the sync workflow's durable state (PostgreSQL).
-- The SQLite twin is migrations/sqlite/0001_store.sql: keep the two in step.
--
-- Conventions
-- * Every time is bound from the application's clock (DESIGN decision 8), never now().
-- * Items carry the channel's own ids; UNIQUE (connection_id, channel_id) is what makes
--   every write idempotent (C5).
-- * Items written by the back-fill carry origin = 'backfill' so the message center raises
--   no notifications, unread counts or automations for history (DESIGN decision 9).

CREATE TABLE tenants (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    -- sha256 hex of the API key: the key itself is never stored.
    api_key_hash     TEXT NOT NULL UNIQUE,
    webhook_url      TEXT,
    -- AES-256-GCM sealed (see src/crypto.rs), like connection credentials.
    webhook_secret   BYTEA,
    policy_overrides JSONB NOT NULL DEFAULT '{}'::jsonb,
    timezone         TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE connections (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    channel        TEXT NOT NULL CHECK (channel IN ('facebook', 'instagram', 'zalo', 'shopee')),
    account_id     TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('connected', 'disconnected')),
    -- Bumped by every connect and disconnect; steps of an older generation are fenced (B3).
    generation     BIGINT NOT NULL,
    -- AES-256-GCM sealed channel credentials (B4); NULL once disconnected.
    credentials    BYTEA,
    -- The policy the current generation runs under, as JSON: a snapshot, so a change of
    -- configuration does not change a run half-way.
    policy         JSONB NOT NULL,
    timezone       TEXT NOT NULL,
    -- T of the current generation: look-back windows are measured from it.
    connected_at   TIMESTAMPTZ NOT NULL,
    -- Where the conversation listing stopped on a cap (planner::Resume), for H6.
    listing_resume JSONB,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, channel, account_id)
);

CREATE TABLE runs (
    id                 TEXT PRIMARY KEY,
    connection_id      BIGINT NOT NULL REFERENCES connections (id),
    tenant_id          TEXT NOT NULL REFERENCES tenants (id),
    generation         BIGINT NOT NULL,
    started_by         TEXT NOT NULL CHECK (started_by IN ('connect', 'load_more', 'late_arrival')),
    status             TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    reason             TEXT,
    connected_at       TIMESTAMPTZ NOT NULL,
    started_at         TIMESTAMPTZ NOT NULL,
    slice_completed_at TIMESTAMPTZ,
    finished_at        TIMESTAMPTZ,
    -- Steps pending or leased. The one counter of the workflow: it is updated in the
    -- transaction that opens or closes a step, and its row lock orders completions.
    open_steps         BIGINT NOT NULL CHECK (open_steps >= 0),
    updated_at         TIMESTAMPTZ NOT NULL
);

CREATE INDEX runs_of_connection ON runs (connection_id, started_at);
CREATE INDEX runs_running ON runs (connection_id) WHERE status = 'running';

CREATE TABLE steps (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        TEXT NOT NULL REFERENCES runs (id),
    connection_id BIGINT NOT NULL REFERENCES connections (id),
    tenant_id     TEXT NOT NULL,
    channel       TEXT NOT NULL,
    generation    BIGINT NOT NULL,
    -- StepSpec::key(): stable across re-execution, so follow-ups are inserted once.
    step_key      TEXT NOT NULL,
    kind          TEXT NOT NULL,
    -- 0 = slice, 1 = backlog: an integer so that ORDER BY puts the slice first.
    priority      BIGINT NOT NULL CHECK (priority IN (0, 1)),
    not_before    TIMESTAMPTZ NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'leased', 'done', 'cancelled', 'failed')),
    -- Transient failures spent (C4); throttling and peak deferral spend none.
    attempts      BIGINT NOT NULL DEFAULT 0,
    http_calls    BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT,
    lease_until   TIMESTAMPTZ,
    payload       JSONB NOT NULL,
    trace_context TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (run_id, step_key)
);

-- claim_due: pending steps by due time, and leases that may have expired.
CREATE INDEX steps_pending ON steps (not_before) WHERE status = 'pending';
CREATE INDEX steps_leased ON steps (lease_until) WHERE status = 'leased';
-- Fencing and cancellation: the open steps of a connection or of a run.
CREATE INDEX steps_open_of_connection ON steps (connection_id) WHERE status IN ('pending', 'leased');
CREATE INDEX steps_open_of_run ON steps (run_id, priority) WHERE status IN ('pending', 'leased');

CREATE TABLE conversations (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id BIGINT NOT NULL REFERENCES connections (id),
    channel_id    TEXT NOT NULL,
    customer_id   TEXT,
    customer_name TEXT,
    last_activity TIMESTAMPTZ NOT NULL,
    snippet       TEXT,
    unread_count  BIGINT NOT NULL DEFAULT 0,
    -- H7: every synced conversation starts open; the message center moves it on.
    state         TEXT NOT NULL DEFAULT 'open',
    origin        TEXT NOT NULL DEFAULT 'backfill',
    first_run_id  TEXT,
    -- Position in the channel's list when first kept, newest first from 0.
    list_rank     BIGINT,
    stored_at     TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (connection_id, channel_id)
);

-- The inbox: newest activity first, keyset paging on (last_activity, id) (C3, H7).
CREATE INDEX conversations_inbox ON conversations (connection_id, last_activity DESC, id DESC);

CREATE TABLE messages (
    id                      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id           BIGINT NOT NULL REFERENCES connections (id),
    channel_id              TEXT NOT NULL,
    conversation_channel_id TEXT NOT NULL,
    created_at              TIMESTAMPTZ NOT NULL,
    sender_id               TEXT,
    sender_name             TEXT,
    sender_role             TEXT CHECK (sender_role IN ('customer', 'business')),
    text                    TEXT,
    attachments             JSONB NOT NULL DEFAULT '[]'::jsonb,
    ad_referral             JSONB,
    -- Listed by the channel without details (Instagram's detail depth): id and time only.
    unavailable             BOOLEAN NOT NULL DEFAULT FALSE,
    origin                  TEXT NOT NULL DEFAULT 'backfill',
    first_run_id            TEXT,
    stored_at               TIMESTAMPTZ NOT NULL,
    UNIQUE (connection_id, channel_id)
);

-- A conversation's messages, oldest first (C3).
CREATE INDEX messages_of_conversation ON messages (connection_id, conversation_channel_id, created_at, id);

CREATE TABLE posts (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id BIGINT NOT NULL REFERENCES connections (id),
    channel_id    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    text          TEXT,
    permalink     TEXT,
    origin        TEXT NOT NULL DEFAULT 'backfill',
    first_run_id  TEXT,
    stored_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (connection_id, channel_id)
);

CREATE TABLE comments (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id     BIGINT NOT NULL REFERENCES connections (id),
    channel_id        TEXT NOT NULL,
    post_channel_id   TEXT NOT NULL,
    parent_channel_id TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    author_id         TEXT,
    author_name       TEXT,
    text              TEXT,
    origin            TEXT NOT NULL DEFAULT 'backfill',
    first_run_id      TEXT,
    stored_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (connection_id, channel_id)
);

CREATE INDEX comments_of_post ON comments (connection_id, post_channel_id, created_at);

-- The outbox (S5): written in the same transaction as the run transition it reports, so
-- an event exists if and only if the transition happened; a publisher delivers it later
-- at least once and stamps published_at.
CREATE TABLE events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    run_id       TEXT NOT NULL REFERENCES runs (id),
    kind         TEXT NOT NULL CHECK (kind IN ('run.completed', 'run.failed', 'run.progress')),
    payload      JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    published_at TIMESTAMPTZ
);

CREATE INDEX events_unpublished ON events (id) WHERE published_at IS NULL;
