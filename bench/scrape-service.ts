/**
 * The instrumented HTTP service of the scrape-cost benchmark: 1,000 series, one
 * incremented per request. `prom` mode serves prom-client's /metrics itself;
 * `mmstats` mode writes a stats file that `mmstats serve` reads from outside.
 * Reports requests served, event-loop delay p99 and its own CPU time when told to stop.
 */
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import client from 'prom-client';
import { field, openStats } from '../src/index.js';

const [mode, dir] = process.argv.slice(2) as ['prom' | 'mmstats' | 'none', string];
const SERIES = 1000;
let requests = 0;
let inc: (i: number) => void;
let metrics: (() => Promise<string>) | undefined;

if (mode === 'prom') {
  const registry = new client.Registry();
  const counter = new client.Counter({ name: 'app_requests', help: 'requests', labelNames: ['route', 'code'], registers: [registry] });
  const children = Array.from({ length: SERIES }, (_, i) => counter.labels(`/route/${i % 100}`, String(200 + Math.floor(i / 100))));
  inc = (i) => children[i]!.inc();
  metrics = () => registry.metrics();
} else if (mode === 'mmstats') {
  const stats = openStats({ name: 'scrape', path: dir, defaultFields: true });
  const fields = Array.from({ length: SERIES }, (_, i) =>
    stats.add(`app.requests.route${i % 100}.${200 + Math.floor(i / 100)}`, field.counter()),
  );
  inc = (i) => fields[i]!.incr();
} else {
  const plain = new Float64Array(SERIES);
  inc = (i) => (plain[i]! += 1);
}

const delay = monitorEventLoopDelay({ resolution: 1 });
const server = http.createServer((req, res) => {
  if (req.url === '/metrics' && metrics) {
    void metrics().then((body) => res.end(body));
    return;
  }
  requests++;
  inc(requests % SERIES);
  res.end('ok');
});
let cpuAtStart = process.cpuUsage();
server.listen(0, '127.0.0.1', () => {
  delay.enable();
  cpuAtStart = process.cpuUsage();
  process.send!({ port: (server.address() as { port: number }).port });
});
process.on('message', (m: string) => {
  if (m !== 'stop') return;
  delay.disable();
  // The service's own CPU (user + system) over the run: what serving, and being scraped, cost it.
  const cpu = process.cpuUsage(cpuAtStart);
  process.send!({ requests, p99ms: delay.percentile(99) / 1e6, cpuMs: (cpu.user + cpu.system) / 1000 }, () => process.exit(0));
});
