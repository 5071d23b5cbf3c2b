/**
 * Worker threads and mmstats: each thread publishes its own file (per-thread
 * counters and runtime metrics, the heap of each thread being its own), and all
 * threads also count into one shared file with exact atomic counters. The main
 * thread then reads every file back and aggregates per thread and per process.
 *
 *   node dist/examples/workers.js [THREADS] [JOBS]     # default 4 threads x 20000 jobs
 *   node dist/examples/workers.js 4 20000 --hold       # keep the files until Ctrl-C / SIGTERM
 *
 * It prints one JSON line: the per-thread counts, the aggregate over the
 * process's files, and the shared total (which equals THREADS x JOBS exactly).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Worker, isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';
import { aggregateFields, defineModel, field, readAll, startRuntimeMetrics } from '../src/index.js';

/** One file per thread: what this thread did. */
const Work = defineModel(
  'Work',
  {
    jobs: field.counter({ help: 'jobs done by this thread', unit: 'jobs' }),
    bytes: field.counter({ help: 'bytes hashed by this thread', unit: 'bytes' }),
    took: field.timer({ help: 'time per job' }),
  },
  { prefix: 'work.' },
);

/** One file for the whole process: every thread counts into the same atomic counters. */
const Totals = defineModel(
  'Totals',
  {
    jobs: field.counter({ help: 'jobs done by all threads', unit: 'jobs' }),
    threads: field.counter({ help: 'threads started', unit: 'threads' }),
  },
  { prefix: 'totals.' },
);

interface Job {
  readonly jobs: number;
  readonly dir: string | undefined;
}

function runJobs(n: number, dir: string | undefined): { threadId: number; jobs: number; file: string } {
  const work = Work.open({ path: dir });
  const totals = Totals.open({ path: dir, shared: true });
  const rt = startRuntimeMetrics({ stats: work, intervalMs: 200 });
  totals.threads.incr();
  const block = Buffer.alloc(1024, threadId);
  for (let i = 0; i < n; i++) {
    work.took.time(() => createHash('sha256').update(block).digest());
    work.bytes.incr(block.length);
    work.jobs.incr();
    totals.jobs.incr();
  }
  rt.refresh();
  rt.stop();
  return { threadId, jobs: work.jobs.value, file: work.path };
}

if (!isMainThread) {
  const { jobs, dir } = workerData as Job;
  parentPort!.postMessage(runJobs(jobs, dir));
  // Stay alive until told: the thread's file lives as long as its thread.
  parentPort!.once('message', () => parentPort!.close());
} else {
  const threads = Number(process.argv[2] ?? 4);
  const jobs = Number(process.argv[3] ?? 20_000);
  const hold = process.argv.includes('--hold');
  if (!(Number.isInteger(threads) && threads >= 1 && Number.isInteger(jobs) && jobs >= 0)) {
    console.error('usage: workers.js [THREADS >= 1] [JOBS >= 0] [--hold]');
    process.exit(2);
  }
  const dir = process.env.MMSTATS_PATH;
  // The main thread opens the shared model first: it creates the file and holds it for the process.
  const totals = Totals.open({ path: dir, shared: true });
  const workers = Array.from({ length: threads }, () => new Worker(new URL(import.meta.url), { workerData: { jobs, dir } satisfies Job }));
  const perThread = await Promise.all(
    workers.map(
      (w) =>
        new Promise<{ threadId: number; jobs: number; file: string }>((resolve, reject) =>
          w.once('message', resolve).once('error', reject),
        ),
    ),
  );

  // Read the files back as any reader would, and aggregate.
  const { snapshots } = readAll([path.dirname(totals.path)]);
  const mine = snapshots.filter((s) => s.writer.pid === process.pid);
  const aggregate = Object.fromEntries(
    aggregateFields(mine.filter((s) => !s.writer.shared))
      .filter((f) => f.label === 'work.jobs' || f.label === 'work.bytes' || f.label === 'nodejs.heap.used')
      .map((f) => [f.label, f.value]),
  );
  console.log(
    JSON.stringify({
      pid: process.pid,
      perThread,
      aggregate,
      files: mine.length,
      shared: { file: totals.path, jobs: totals.jobs.value, threads: totals.threads.value },
    }),
  );

  const finish = () => {
    for (const w of workers) w.postMessage('exit');
    totals.remove();
  };
  if (hold) {
    process.once('SIGTERM', finish);
    process.once('SIGINT', finish);
  } else finish();
}
