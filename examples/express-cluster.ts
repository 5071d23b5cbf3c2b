/**
 * An Express app written for prom-client, clustered over 4 workers with
 * node:cluster, moved to mmstats by changing one line: the import (below). Each
 * worker counts its requests by method, route and status code, times them in a
 * histogram and publishes prom-client's default metrics. Nothing goes over IPC:
 * each worker's metrics are in its own mmstats file.
 *
 *   node dist/examples/express-cluster.js [PORT] [METRICS_PORT]   # default: free ports
 *   mmstats serve                          # /metrics for the whole cluster, read from the files
 *   curl -s localhost:METRICS_PORT/cluster_metrics    # prom-client's AggregatorRegistry, as before
 *
 * The primary prints one JSON line (`url`, `clusterMetrics`, `primary`, `workers`)
 * when every worker listens; SIGTERM or Ctrl-C stops the workers and removes their
 * files. With prom-client, the same program needs the primary to message every
 * worker at each scrape of /cluster_metrics; here `clusterMetrics()` reads their
 * files, and `mmstats serve` needs no route in the app at all.
 */
import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import express from 'express';
// The one line changed. Before: import client from 'prom-client';
import client from 'mmstats/prom-client';

const WORKERS = 4;
const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const metricsPort = Number(process.argv[3] ?? 0);

if (cluster.isPrimary) {
  // prom-client's way to serve a cluster's metrics from the primary.
  const aggregatorRegistry = new client.AggregatorRegistry();
  const metricsServer = express();
  metricsServer.get('/cluster_metrics', async (req, res) => {
    try {
      const metrics = await aggregatorRegistry.clusterMetrics();
      res.set('Content-Type', aggregatorRegistry.contentType);
      res.send(metrics);
    } catch (err) {
      res.status(500).send((err as Error).message);
    }
  });

  const listening = new Set<number>();
  let appPort = 0;
  let stopping = false;
  const metricsListener = metricsServer.listen(metricsPort, '127.0.0.1', announce);
  function announce(): void {
    if (listening.size < WORKERS || !metricsListener.listening) return;
    const metricsAt = (metricsListener.address() as AddressInfo).port;
    console.log(
      JSON.stringify({
        url: `http://127.0.0.1:${appPort}/`,
        clusterMetrics: `http://127.0.0.1:${metricsAt}/cluster_metrics`,
        primary: process.pid,
        workers: [...listening],
      }),
    );
  }
  cluster.on('listening', (worker, address) => {
    listening.add(worker.process.pid!);
    appPort = address.port;
    announce();
  });
  cluster.on('exit', (worker, code) => {
    if (!stopping) console.error(`worker ${worker.process.pid} exited (${code})`);
  });
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    metricsListener.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} else {
  client.collectDefaultMetrics();
  const httpRequests = new client.Counter({
    name: 'http_requests_total',
    help: 'HTTP requests served',
    labelNames: ['method', 'route', 'status_code'],
  });
  const httpDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  });

  const app = express();
  app.use((req, res, next) => {
    const end = httpDuration.startTimer();
    res.on('finish', () => {
      // The route template, never the URL: one series per route, whatever the ids.
      const labels = { method: req.method, route: req.route ? req.route.path : 'unmatched', status_code: res.statusCode };
      httpRequests.inc(labels);
      end(labels);
    });
    next();
  });
  app.get('/', (req, res) => {
    res.send(`served by ${process.pid}\n`);
  });
  app.get('/users/:id', (req, res) => {
    res.json({ id: req.params.id, worker: process.pid });
  });
  app.post('/orders', (req, res) => {
    res.status(201).json({ worker: process.pid });
  });
  app.get('/error', (req, res) => {
    res.status(500).send('something went wrong\n');
  });

  const server = app.listen(port, '127.0.0.1');
  process.once('SIGTERM', () => {
    // Close the server and the channel to the primary: nothing then keeps the worker alive.
    server.close();
    server.closeAllConnections();
    cluster.worker!.disconnect();
  });
}
