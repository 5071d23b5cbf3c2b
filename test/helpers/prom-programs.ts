/**
 * Programs written for prom-client, run unchanged against prom-client itself and
 * against mmstats/prom-client: each takes the module and returns what a user sees
 * (exposition text, JSON, error messages), to be compared byte for byte.
 */
type Client = any;

/** The error a call throws, as a user sees it (class and message), or 'ok'. */
function errorOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
}

async function asyncErrorOf(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
    return 'ok';
  } catch (e) {
    return `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
}

/** Summary quantile lines and values differ by design (t-digest against log-linear buckets): drop them. */
export function withoutQuantiles(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/quantile=/.test(l))
    .join('\n');
}

function jsonWithoutQuantiles(metrics: any[]): string {
  return JSON.stringify(
    metrics.map((m) => (m.type === 'summary' ? { ...m, values: m.values.filter((v: any) => v.labels.quantile === undefined) } : m)),
  );
}

/** Every metric kind, labels in every form, removes, resets, zero, default labels, collect callbacks, escaping. */
export async function everyKind(client: Client): Promise<string[]> {
  const out: string[] = [];
  const reg = new client.Registry();
  const c0 = new client.Counter({ name: 'jobs_total', help: 'jobs done', registers: [reg] });
  const c1 = new client.Counter({ name: 'http_requests_total', help: 'requests', labelNames: ['method', 'code'], registers: [reg] });
  const g0 = new client.Gauge({ name: 'queue_depth', help: 'items queued', registers: [reg] });
  const g1 = new client.Gauge({ name: 'temperature_celsius', help: 'temp', labelNames: ['room'], registers: [reg] });
  const h0 = new client.Histogram({ name: 'latency_seconds', help: 'latency', registers: [reg] });
  const h1 = new client.Histogram({
    name: 'size_bytes',
    help: 'sizes',
    labelNames: ['route', 'method'],
    buckets: client.exponentialBuckets(100, 10, 4),
    registers: [reg],
  });
  const h2 = new client.Histogram({ name: 'ratio', help: 'ratios', buckets: client.linearBuckets(0.1, 0.2, 5), registers: [reg] });
  const s0 = new client.Summary({ name: 'rpc_seconds', help: 'rpc', labelNames: ['service'], registers: [reg] });
  const esc = new client.Gauge({
    name: 'escaped',
    help: 'help with \\ backslash\nand newline "quoted"',
    labelNames: ['v'],
    registers: [reg],
  });
  out.push(await reg.metrics());

  c0.inc();
  c0.inc(5);
  c0.inc(0.25);
  c0.inc(0);
  c1.inc({ method: 'GET', code: 200 });
  c1.inc({ code: '200', method: 'GET' }, 2);
  c1.inc({ code: 500, method: 'POST' });
  c1.labels('PUT', '201').inc();
  c1.labels('PUT', '201').inc(3);
  c1.labels({ method: 'DELETE', code: 204 }).inc(0.5);
  c1.inc({ method: 'HEAD' }); // a partial label set is a series of its own
  c1.inc({ method: 'GET', code: undefined }); // the same as leaving it out
  g0.set(3);
  g0.inc();
  g0.dec(0.5);
  g0.inc(10);
  g1.set({ room: 'kitchen' }, 21.5);
  g1.inc({ room: 'hall' });
  g1.dec({ room: 'cellar' }, 4);
  g1.labels('attic').set(30);
  g1.labels({ room: 'attic' }).inc(2);
  g1.set({ room: 'hall' }, -1.5);
  for (const v of [0.001, 0.005, 0.0051, 0.3, 0.3, 2, 7.5, 10, 11, 100]) h0.observe(v);
  h1.observe({ route: '/a', method: 'GET' }, 50);
  h1.observe({ method: 'GET', route: '/a' }, 150);
  h1.observe({ route: '/b', method: 'POST' }, 1e6);
  h1.labels('/c', 'GET').observe(1000);
  h1.labels({ route: '/c', method: 'GET' }).observe(99999);
  h1.zero({ route: '/z', method: 'GET' });
  for (let i = 0; i < 20; i++) h2.observe(i / 20);
  h2.observe(-1);
  for (let i = 1; i <= 100; i++) s0.observe({ service: 'auth' }, i / 100);
  s0.labels('db').observe(3);
  s0.observe({ service: 'db' }, 4);
  esc.set({ v: 'a\\b\n"c"' }, 1);
  out.push(await reg.metrics());
  out.push(jsonWithoutQuantiles(await reg.getMetricsAsJSON()));

  // removes: a removed series comes back last; reset empties.
  c1.remove('GET', '200');
  c1.remove({ method: 'POST', code: 500 });
  c1.inc({ method: 'GET', code: '200' }, 7);
  g1.remove('hall');
  h1.remove({ route: '/a', method: 'GET' });
  h1.observe({ route: '/a', method: 'GET' }, 1);
  s0.remove('auth');
  out.push(await reg.metrics());
  g0.reset();
  h0.reset();
  c1.reset();
  out.push(await reg.getSingleMetricAsString('queue_depth'));
  out.push(await reg.getSingleMetricAsString('latency_seconds'));
  out.push(await reg.getSingleMetricAsString('http_requests_total'));
  h0.observe(0.2);
  reg.resetMetrics();
  out.push(await reg.metrics());

  // default labels: added to every sample, a sample's own label wins.
  c1.inc({ method: 'GET', code: 200 });
  h1.observe({ route: '/a', method: 'GET' }, 5);
  reg.setDefaultLabels({ service: 'api', method: 'default' });
  out.push(await reg.metrics());
  out.push(jsonWithoutQuantiles(await reg.getMetricsAsJSON()));

  // removeSingleMetric, getSingleMetric, clear.
  out.push(String(reg.getSingleMetric('ratio') === h2));
  reg.removeSingleMetric('ratio');
  out.push(String(reg.getSingleMetric('ratio')));
  out.push(await reg.metrics());
  reg.clear();
  out.push(await reg.metrics());
  return out.map(withoutQuantiles);
}

/** OpenMetrics: counters' `_total`, the `# EOF` line, content types, merge. */
export async function openMetrics(client: Client): Promise<string[]> {
  const out: string[] = [];
  const om = new client.Registry(client.openMetricsContentType);
  const prom = new client.Registry();
  const a = new client.Counter({ name: 'events_total', help: 'events', labelNames: ['kind'], registers: [om, prom] });
  const b = new client.Counter({ name: 'hits', help: 'hits', registers: [om] });
  const g = new client.Gauge({ name: 'level', help: 'level', registers: [om] });
  const h = new client.Histogram({ name: 'dur_seconds', help: 'dur', buckets: [1, 2], labelNames: ['x'], registers: [om] });
  a.inc({ kind: 'x' }, 2);
  b.inc();
  g.set(NaN);
  h.observe({ x: 'y' }, 1.5);
  out.push(om.contentType, prom.contentType, client.prometheusContentType, client.openMetricsContentType);
  out.push(await om.metrics());
  out.push(await prom.metrics());
  g.set(Infinity);
  out.push(await om.getSingleMetricAsString('level'));
  g.set(-Infinity);
  out.push(await om.getSingleMetricAsString('level'));
  out.push(errorOf(() => client.Registry.merge([om, prom])));
  const prom2 = new client.Registry();
  new client.Gauge({ name: 'other', help: 'other', registers: [prom2] }).set(1);
  out.push(await client.Registry.merge([prom, prom2]).metrics());
  out.push(errorOf(() => client.Registry.merge([prom, prom])));
  prom.setContentType(client.openMetricsContentType);
  out.push(await prom.metrics());
  out.push(errorOf(() => prom.setContentType('text/html')));
  out.push(errorOf(() => new client.Registry('text/html')));
  return out;
}

/** collect callbacks, sync and async, run at each scrape. */
export async function collectCallbacks(client: Client): Promise<string[]> {
  const reg = new client.Registry();
  let n = 0;
  new client.Gauge({
    name: 'scrapes',
    help: 'scrapes seen',
    registers: [reg],
    collect() {
      this.set(++n);
    },
  });
  new client.Gauge({
    name: 'async_value',
    help: 'set after a promise',
    labelNames: ['k'],
    registers: [reg],
    async collect() {
      await new Promise((r) => setTimeout(r, 5));
      this.set({ k: 'v' }, n * 10);
    },
  });
  new client.Counter({
    name: 'counted_total',
    help: 'counted at scrape',
    registers: [reg],
    collect() {
      this.inc(2);
    },
  });
  new client.Histogram({
    name: 'h_collect',
    help: 'observed at scrape',
    buckets: [1],
    registers: [reg],
    collect() {
      this.observe(0.5);
    },
  });
  return [await reg.metrics(), await reg.metrics(), JSON.stringify(await reg.getMetricsAsJSON())];
}

/** Bad input: prom-client's errors, class and message. */
export async function badInput(client: Client): Promise<string[]> {
  const reg = new client.Registry();
  const C = (cfg: any) => () => new client.Counter({ registers: [reg], ...cfg });
  const out = [
    errorOf(() => new client.Counter()),
    errorOf(() => new client.Counter('x')),
    errorOf(C({ name: 'a' })),
    errorOf(C({ help: 'h' })),
    errorOf(C({ name: '1abc', help: 'h' })),
    errorOf(C({ name: 'a-b', help: 'h' })),
    errorOf(C({ name: 'ok', help: 'h', labelNames: ['bad-label'] })),
    errorOf(C({ name: 'ok2', help: 'h', collect: 'nope' })),
    errorOf(() => new client.Histogram({ name: 'hh', help: 'h', labelNames: ['le'], registers: [new client.Registry()] })),
    errorOf(() => new client.Summary({ name: 'ss', help: 'h', labelNames: ['quantile'], registers: [new client.Registry()] })),
    errorOf(() => new client.Counter({ name: 'ex', help: 'h', enableExemplars: true, registers: [new client.Registry()] })),
    errorOf(() => client.linearBuckets(0, 1, 0)),
    errorOf(() => client.exponentialBuckets(0, 2, 3)),
    errorOf(() => client.exponentialBuckets(1, 2, 0)),
    errorOf(() => client.exponentialBuckets(1, 1, 3)),
    String(client.validateMetricName('a:b_c')),
    String(client.validateMetricName('a.b')),
    JSON.stringify(client.linearBuckets(1, 0.5, 4)),
    JSON.stringify(client.exponentialBuckets(1, 3, 4)),
  ];
  const c = new client.Counter({ name: 'c_total', help: 'h', labelNames: ['a', 'b'], registers: [reg] });
  out.push(
    errorOf(() => new client.Counter({ name: 'c_total', help: 'again', registers: [reg] })),
    errorOf(() => c.inc(-1)),
    errorOf(() => c.inc({ a: 'x' }, -1)),
    errorOf(() => c.inc(Infinity)),
    errorOf(() => c.inc({ a: 'x' }, 'five')),
    errorOf(() => c.inc({ zzz: 'x' })),
    errorOf(() => c.inc({ a: 'x', zzz: 'y' }, 1)),
    errorOf(() => c.labels('x')),
    errorOf(() => c.labels('x', 'y', 'z')),
    errorOf(() => c.labels({ zzz: 1 }).inc()),
    errorOf(() => c.remove('x')),
    errorOf(() => c.remove({ q: 1 })),
    errorOf(() => c.remove(null as any)),
  );
  const g = new client.Gauge({ name: 'g', help: 'h', labelNames: ['a'], registers: [reg] });
  out.push(
    errorOf(() => g.set('5')),
    errorOf(() => g.set({ a: 'x' }, '5')),
    errorOf(() => g.set({ a: 'x' })),
    errorOf(() => g.set({ b: 'x' }, 1)),
    errorOf(() => g.inc({ a: 'x' }, 'z')),
    errorOf(() => g.dec({ a: 'x' }, 'z')),
    errorOf(() => g.labels('x', 'y')),
    errorOf(() => g.labels({ b: 1 })),
    errorOf(() => g.remove(null as any)),
    errorOf(() => g.remove('x', 'y')),
  );
  const h = new client.Histogram({ name: 'h', help: 'h', labelNames: ['a'], registers: [reg] });
  out.push(
    errorOf(() => h.observe(NaN)),
    errorOf(() => h.observe({ a: 'x' }, Infinity)),
    errorOf(() => h.observe({ a: 'x' })),
    errorOf(() => h.observe({ b: 'x' }, 1)),
    errorOf(() => h.labels('x').observe('1')),
    errorOf(() => h.labels({ b: 1 })),
    errorOf(() => h.remove({ b: 1 })),
  );
  const s = new client.Summary({ name: 's', help: 'h', labelNames: ['a'], registers: [reg] });
  out.push(
    errorOf(() => s.observe(NaN)),
    errorOf(() => s.observe({ a: 'x' }, -Infinity)),
    errorOf(() => s.observe({ b: 'x' }, 1)),
    errorOf(() => s.labels('x', 'y')),
    errorOf(() => s.remove('x', 'y')),
  );
  out.push(await reg.metrics());
  out.push(await asyncErrorOf(() => new client.Pushgateway('http://127.0.0.1:1').pushAdd({})));
  return out.map(withoutQuantiles);
}

/** Many series: one counter and one histogram with 2 labels, thousands of label sets, some removed. */
export async function manySeries(client: Client): Promise<string[]> {
  const reg = new client.Registry();
  const c = new client.Counter({ name: 'req_total', help: 'r', labelNames: ['route', 'status'], registers: [reg] });
  const h = new client.Histogram({ name: 'req_seconds', help: 'r', labelNames: ['route'], buckets: [0.01, 0.1, 1], registers: [reg] });
  for (let i = 0; i < 3000; i++) {
    c.inc({ route: `/r${i % 300}`, status: String(200 + (i % 7)) }, i % 5);
    h.observe({ route: `/r${i % 300}` }, (i % 13) / 10);
  }
  for (let i = 0; i < 300; i += 3) c.remove(`/r${i}`, '200');
  return [await reg.metrics()];
}
