// The BullMQ side of `vs_bullmq` (see docs/benchmarks.md). Run by backfill-bench; prints
// one JSON line with its figure and nothing else on stdout.
//
//   node bench.mjs --mode tx|noop --jobs N --concurrency C --redis URL --pg URL
//                  --queue NAME [--pool P]
//
// Both modes first add N jobs (in bulk, before the worker starts), then time one Worker
// of concurrency C from its start until its N-th `completed` event.
// - tx:   each job is what a step's bookkeeping is reduced to: one PostgreSQL transaction
//         that marks its row done and inserts a follow-up row (the N rows exist before
//         the clock starts; pool of P connections, as the Rust worker's store pool).
// - noop: the job returns at once: BullMQ's own cost per job.
// Finished jobs are removed (`removeOnComplete`), as Backfill's queue deletes what
// finished tasks leave behind.
import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";
import pg from "pg";
import { readFileSync } from "node:fs";

// BENCH_DEBUG=1 prints the phases to stderr.
const debug = (m) => process.env.BENCH_DEBUG && process.stderr.write(`${new Date().toISOString()} ${m}\n`);

function bullmqVersion() {
  try {
    const url = new URL("./node_modules/bullmq/package.json", import.meta.url);
    return JSON.parse(readFileSync(url, "utf8")).version;
  } catch {
    return null;
  }
}

function args() {
  const out = { pool: "10" };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, "")] = argv[i + 1];
  for (const k of ["mode", "jobs", "concurrency", "redis", "queue"]) {
    if (!out[k]) throw new Error(`missing --${k}`);
  }
  if (out.mode === "tx" && !out.pg) throw new Error("--mode tx needs --pg");
  return { ...out, jobs: Number(out.jobs), concurrency: Number(out.concurrency), pool: Number(out.pool) };
}

async function prepareTable(pool, jobs) {
  await pool.query(`CREATE TABLE bull_steps (
      id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      run_id TEXT NOT NULL,
      status TEXT NOT NULL,
      payload JSONB NOT NULL,
      created_at TIMESTAMPTZ NOT NULL,
      updated_at TIMESTAMPTZ NOT NULL)`);
  await pool.query(
    `INSERT INTO bull_steps (run_id, status, payload, created_at, updated_at)
     SELECT 'run-1', 'pending', jsonb_build_object('page', g), now(), now()
     FROM generate_series(1, $1) AS g`,
    [jobs],
  );
  const { rows } = await pool.query("SELECT id FROM bull_steps ORDER BY id");
  return rows.map((r) => Number(r.id));
}

async function main() {
  const a = args();
  // BullMQ requires maxRetriesPerRequest: null on a worker's connection.
  const connection = new IORedis(a.redis, { maxRetriesPerRequest: null });
  const queue = new Queue(a.queue, { connection });
  await queue.obliterate({ force: true }).catch(() => {});
  debug("queue ready");

  let pool = null;
  let ids = Array.from({ length: a.jobs }, (_, i) => i + 1);
  if (a.mode === "tx") {
    pool = new pg.Pool({ connectionString: a.pg, max: a.pool });
    ids = await prepareTable(pool, a.jobs);
    debug("table ready");
  }
  for (let i = 0; i < ids.length; i += 1000) {
    await queue.addBulk(
      ids.slice(i, i + 1000).map((id) => ({
        name: "step",
        data: { stepId: id },
        opts: { removeOnComplete: true, removeOnFail: 1000 },
      })),
    );
  }

  debug("jobs added");
  const processor =
    a.mode === "tx"
      ? async (job) => {
          const client = await pool.connect();
          try {
            await client.query("BEGIN");
            await client.query(
              "UPDATE bull_steps SET status = 'done', updated_at = now() WHERE id = $1 AND status = 'pending'",
              [job.data.stepId],
            );
            await client.query(
              `INSERT INTO bull_steps (run_id, status, payload, created_at, updated_at)
               VALUES ('run-1', 'pending', $1, now(), now())`,
              [JSON.stringify({ after: job.data.stepId })],
            );
            await client.query("COMMIT");
          } catch (error) {
            await client.query("ROLLBACK").catch(() => {});
            throw error;
          } finally {
            client.release();
          }
        }
      : async () => {};

  let completed = 0;
  let failed = 0;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  const started = process.hrtime.bigint();
  const workerConnection = new IORedis(a.redis, { maxRetriesPerRequest: null });
  const worker = new Worker(a.queue, processor, {
    connection: workerConnection,
    concurrency: a.concurrency,
  });
  const check = () => {
    if (completed + failed >= a.jobs) done(process.hrtime.bigint());
  };
  worker.on("completed", () => {
    completed += 1;
    check();
  });
  worker.on("failed", () => {
    failed += 1;
    check();
  });
  const ended = await finished;
  const seconds = Number(ended - started) / 1e9;
  await worker.close();
  await workerConnection.quit();
  await queue.obliterate({ force: true }).catch(() => {});
  await queue.close();
  await connection.quit();
  let doneRows = null;
  if (pool) {
    const { rows } = await pool.query("SELECT COUNT(*)::int AS n FROM bull_steps WHERE status = 'done'");
    doneRows = rows[0].n;
    await pool.end();
  }
  process.stdout.write(
    JSON.stringify({
      mode: a.mode,
      jobs: a.jobs,
      completed,
      failed,
      done_rows: doneRows,
      concurrency: a.concurrency,
      pool: a.mode === "tx" ? a.pool : null,
      seconds,
      jobs_per_s: completed / seconds,
      bullmq: bullmqVersion(),
    }) + "\n",
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
