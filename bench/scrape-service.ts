/**
 * The instrumented HTTP service of the scrape benchmark (bench/scrape-cost.ts).
 *
 *   node dist/bench/scrape-service.js <variant> <series>
 *
 * Every request does the same work in every variant: it searches a product
 * catalogue, answers with a JSON page, and counts itself in
 * `app_requests_total{route, code}`, one of `series` label sets in turn (all of
 * them made at start-up, so that every scrape carries them all). The variants differ only in the metrics library:
 *
 * - `prom-client`: prom-client 15, whose registry the service renders on its own
 *   `/metrics` route;
 * - `drop-in`: the same code, with `mmstats/prom-client` imported instead (the one
 *   line marked below); its values are in the process's mmstats file, which
 *   `mmstats serve` reads from another process (MMSTATS_PATH says where). The
 *   `/metrics` route stays, as an application migrated by its import keeps it;
 * - `mmstats`: the native API, a labelled counter family (`with(route, code).incr()`).
 *
 * The service measures itself: its event-loop delay (`monitorEventLoopDelay`, 1 ms
 * resolution), the requests it served and its own CPU time (`process.cpuUsage`),
 * over a window the driver opens with the message 'start' and closes with 'stop'.
 */
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { field, openStats } from '../src/index.js';

/** What the service reports when its window closes. */
export interface ServiceReport {
  readonly requests: number;
  /** Event-loop delay percentiles over the window, in ms. */
  readonly p99Ms: number;
  readonly maxMs: number;
  /** The service's own CPU time (user + system) over the window, in ms. */
  readonly cpuMs: number;
  readonly windowMs: number;
}

/** The variants of the instrumented service. */
export const VARIANTS = ['prom-client', 'drop-in', 'mmstats'] as const;
export type Variant = (typeof VARIANTS)[number];

/** Label values of the i-th series: routes by response code. */
const CODES = ['200', '201', '204', '304', '400', '401', '403', '404', '429', '500'];
function labelValues(series: number): { routes: string[]; codes: string[] } {
  const routes: string[] = [];
  const codes: string[] = [];
  for (let i = 0; i < series; i++) {
    routes.push(`/api/v1/resource${Math.floor(i / CODES.length)}`);
    codes.push(CODES[i % CODES.length]!);
  }
  return { routes, codes };
}

/**
 * The handler's own work, the same in every variant: a search of a catalogue of
 * 1,000 products (filter, sort by price), its first 20 answers as JSON.
 */
const CATALOGUE = Array.from({ length: 1000 }, (_, k) => ({
  id: k,
  name: `product ${k}`,
  price: ((k * 7919) % 10007) / 100,
  stock: k % 7,
}));
function page(request: number): string {
  const q = request % 10;
  const hits = CATALOGUE.filter((item) => item.id % 10 !== q && item.stock > 0).sort((a, b) => a.price - b.price || a.id - b.id);
  return JSON.stringify({ request, total: hits.length, items: hits.slice(0, 20) });
}

async function main(): Promise<void> {
  const [variant, seriesArg] = process.argv.slice(2) as [Variant, string];
  if (!VARIANTS.includes(variant)) throw new Error(`variant must be one of ${VARIANTS.join(', ')}; not ${variant}`);
  const series = Number(seriesArg);
  const { routes, codes } = labelValues(series);

  let count: (i: number) => void;
  let metrics: (() => Promise<{ type: string; body: string }>) | undefined;
  if (variant === 'mmstats') {
    const stats = openStats({ name: 'Service' });
    const requests = stats.add('app.requests', field.counter({ help: 'Requests served', labels: ['route', 'code'], maxSeries: series }));
    for (let i = 0; i < series; i++) requests.with(routes[i]!, codes[i]!);
    count = (i) => requests.with(routes[i]!, codes[i]!).incr();
  } else {
    // The one line in which the two prom-client variants differ: the module imported.
    const client: typeof import('prom-client') =
      variant === 'prom-client' ? await import('prom-client') : ((await import('../src/integrations/prom-client/index.js')) as any);
    // From here on, an application's prom-client code, unchanged between the two.
    const requests = new client.Counter({ name: 'app_requests_total', help: 'Requests served', labelNames: ['route', 'code'] });
    for (let i = 0; i < series; i++) requests.inc({ route: routes[i]!, code: codes[i]! }, 0);
    count = (i) => requests.inc({ route: routes[i]!, code: codes[i]! });
    metrics = async () => ({ type: client.register.contentType, body: await client.register.metrics() });
  }

  const delay = monitorEventLoopDelay({ resolution: 1 });
  let requests = 0;
  let next = 0;
  const server = http.createServer((req, res) => {
    if (req.url === '/metrics' && metrics) {
      void metrics().then(({ type, body }) => {
        res.setHeader('Content-Type', type);
        res.end(body);
      });
      return;
    }
    requests++;
    const body = page(requests);
    count(next);
    next = next + 1 === series ? 0 : next + 1;
    res.setHeader('Content-Type', 'application/json');
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;

  let cpuAtStart = process.cpuUsage();
  let startedAt = performance.now();
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
  process.on('disconnect', () => process.exit(0)); // the driver is gone
  process.on('message', (m: string) => {
    if (m === 'start') {
      requests = 0;
      delay.reset();
      delay.enable();
      cpuAtStart = process.cpuUsage();
      startedAt = performance.now();
    } else if (m === 'stop') {
      // The service's own CPU (user + system) over the window: what serving, and being scraped, cost it.
      const cpu = process.cpuUsage(cpuAtStart);
      const windowMs = performance.now() - startedAt;
      delay.disable();
      const report: ServiceReport = {
        requests,
        p99Ms: delay.percentile(99) / 1e6,
        maxMs: delay.max / 1e6,
        cpuMs: (cpu.user + cpu.system) / 1000,
        windowMs,
      };
      process.send!(report, () => process.exit(0));
    }
  });
}

// Run as a script, not when the driver imports its types and variants.
if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
