/**
 * A node:cluster web service and mmstats: each worker process publishes its own
 * HTTP and runtime metrics, and every process counts into one cluster-wide file
 * with exact atomic counters, with no message passing to a primary aggregator.
 * Readers aggregate per process and across processes.
 *
 *   node dist/examples/cluster.js [WORKERS] [PORT]     # default 2 workers, a free port
 *   mmstats slurp                                      # the per-process and cluster-wide files
 *
 * The primary prints one JSON line when every worker listens; Ctrl-C (or SIGTERM)
 * stops the workers and removes every stats file.
 */
import cluster from 'node:cluster';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { defineModel, field, instrumentHttpServer, startRuntimeMetrics } from '../src/index.js';

/** The cluster-wide file: created by the primary before it forks, attached by each worker. */
const Site = defineModel(
  'Site',
  {
    hits: field.counter({ help: 'requests served by all workers', unit: 'requests' }),
    workers: field.gauge({ help: 'workers serving', unit: 'processes' }),
  },
  { prefix: 'site.' },
);

const dir = process.env.MMSTATS_PATH;

if (cluster.isPrimary) {
  const count = Number(process.argv[2] ?? 2);
  const port = Number(process.argv[3] ?? process.env.PORT ?? 0);
  if (!(Number.isInteger(count) && count >= 1 && Number.isInteger(port) && port >= 0)) {
    console.error('usage: cluster.js [WORKERS >= 1] [PORT]');
    process.exit(2);
  }
  const site = Site.open({ path: dir, shared: 'cluster' });
  const rt = startRuntimeMetrics({ path: dir });
  const listening = new Set<number>();
  let stopping = false;
  cluster.setupPrimary({ args: [String(count), String(port)] });
  cluster.on('listening', (worker, address) => {
    listening.add(worker.process.pid!);
    if (listening.size === count) {
      console.log(
        JSON.stringify({ url: `http://127.0.0.1:${address.port}/`, primary: process.pid, workers: [...listening], shared: site.path }),
      );
    }
  });
  cluster.on('exit', (worker, code) => {
    if (!stopping) console.error(`worker ${worker.process.pid} exited (${code})`);
  });
  for (let i = 0; i < count; i++) cluster.fork();
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    rt.stop();
    site.remove();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} else {
  const site = Site.open({ path: dir, shared: 'cluster' });
  const rt = startRuntimeMetrics({ path: dir });
  const server = http.createServer((req, res) => {
    site.hits.incr();
    res.end(`served by ${process.pid}\n`);
  });
  const metrics = instrumentHttpServer(server, { path: dir });
  site.workers.incr();
  const port = Number(process.argv[3] ?? 0);
  server.listen(port, '127.0.0.1', () => {
    const { port: actual } = server.address() as AddressInfo;
    if (process.env.MMSTATS_DEBUG) console.error(`worker ${process.pid} on ${actual}`);
  });
  process.once('SIGTERM', () => {
    site.workers.decr();
    metrics.stop();
    rt.stop();
    site.close();
    // Close the server and the channel to the primary: nothing then keeps the worker alive.
    server.closeAllConnections();
    cluster.worker!.disconnect();
  });
}
