/**
 * The demo's load generator, one per worker thread: it sends requests to the
 * demo service at a rate that drifts up and down, and publishes what it sees
 * (its own stats file: worker threads each get one).
 */
import http from 'node:http';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { defineModel, field } from '../src/index.js';

/** What the main thread tells each load generator. */
export interface LoadOptions {
  /** The service's base URL. */
  readonly target: string;
  /** The stats directory. */
  readonly dir: string;
  /** Mean requests per second (the rate swings around it). */
  readonly rate: number;
}

const Load = defineModel(
  'Load',
  {
    sent: field.counter({ help: 'requests sent', unit: 'requests' }),
    failed: field.counter({ help: 'requests that got no answer or a 5xx', unit: 'requests' }),
    // A labelled family: load.answers{status="200"}, {status="404"}...
    answers: field.counter({ help: 'answers received, by status code', unit: 'requests', labels: ['status'] }),
    latency: field.timer({ help: 'round-trip time seen by the client', lowest: 1e-5, highest: 60, precision: 5 }),
    target_rate: field.gauge({ help: 'requests per second aimed at', unit: 'requests/s' }),
    phase: field.string({ size: 32, help: 'load pattern now' }),
  },
  { prefix: 'load.' },
);

const PATHS = ['/', '/api/items', '/api/items/7', '/api/items/42', '/api/search?q=mmap', '/slow', '/missing', '/api/fail'];
const WEIGHTS = [20, 30, 20, 10, 12, 3, 3, 2];

function pickPath(): string {
  let r = Math.random() * WEIGHTS.reduce((a, b) => a + b, 0);
  for (let i = 0; i < PATHS.length; i++) {
    r -= WEIGHTS[i]!;
    if (r < 0) return PATHS[i]!;
  }
  return '/';
}

const options = workerData as LoadOptions;
const stats = Load.open({ path: options.dir });
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
let stopping = false;

function request(): void {
  const token = stats.latency.start();
  stats.sent.incr();
  const req = http.get(new URL(pickPath(), options.target), { agent }, (res) => {
    res.resume();
    res.on('end', () => {
      // Answers still arriving while the worker stops are not counted: the file is gone.
      if (stopping) return;
      stats.latency.stop(token);
      stats.answers.with(res.statusCode ?? 0).incr();
      if ((res.statusCode ?? 500) >= 500) stats.failed.incr();
    });
  });
  req.on('error', () => stopping || stats.failed.incr());
  req.setTimeout(5000, () => req.destroy());
}

// The rate follows a slow wave with a burst now and then, so the charts move.
const started = Date.now();
function tick(): void {
  if (stopping) return;
  const t = (Date.now() - started) / 1000;
  const burst = Math.sin(t / 7 + threadId) > 0.95;
  const rate = Math.max(1, options.rate * (1 + 0.6 * Math.sin(t / 20 + threadId)) * (burst ? 3 : 1));
  stats.target_rate.set(Math.round(rate));
  stats.phase.set(burst ? 'burst' : rate > options.rate ? 'rising' : 'calm');
  // Requests per 100 ms tick, the fraction carried by chance.
  const n = rate / 10;
  for (let i = 0; i < Math.floor(n) + (Math.random() < n % 1 ? 1 : 0); i++) request();
  setTimeout(tick, 100);
}
tick();

parentPort!.on('message', (msg: unknown) => {
  if (msg !== 'stop') return;
  stopping = true;
  agent.destroy();
  // Remove this thread's file before the thread goes away.
  stats.remove();
  parentPort!.postMessage('stopped');
  parentPort!.close();
});
