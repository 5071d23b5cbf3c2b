/**
 * prom-client against mmstats/prom-client: the same calls, side by side. Each
 * library runs in a child process of its own (`--lib`), so that neither's code
 * shapes the other's compilation. Figures: median CPU ns per call (a scrape: ms).
 *
 *   node dist/bench/prom-client.js           # the table in docs/BENCHMARKS.md
 *   node dist/bench/prom-client.js --smoke   # keeps it running in CI; figures mean nothing
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { consume, table } from './harness.js';

/**
 * ns per call, in CPU time (user + system) rather than wall time: on a machine
 * shared with other work, the wall clock counts the time the process waits for a
 * core. Median of the rounds, each about 100 ms of CPU after a warm-up.
 */
function measure(_name: string, body: (n: number) => number, o: { ops: number; rounds: number }): { ns: number } {
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) * 1000;
  };
  const warm = Math.max(1000, Math.min(o.ops / 4, 100_000));
  let t0 = cpu();
  for (let i = 0; i < 3; i++) consume(body(warm));
  const estimate = Math.max((cpu() - t0) / (3 * warm), 0.1);
  const ops = smoke ? o.ops : Math.max(1000, Math.round(100e6 / estimate));
  const times: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    t0 = cpu();
    consume(body(ops));
    times.push((cpu() - t0) / ops);
  }
  times.sort((a, b) => a - b);
  return { ns: times[Math.floor(times.length / 2)]! };
}

const args = parseArgs({ options: { smoke: { type: 'boolean', default: false }, lib: { type: 'string' } } }).values;
const smoke = args.smoke!;
const opts = smoke ? { ops: 2000, rounds: 1 } : { ops: 2_000_000, rounds: 7 };
const SERIES = smoke ? 100 : 10_000;

const CASES = [
  'unlabelled inc()',
  'request handler with unlabelled inc() (whole handler: not inlined, other work around)',
  'the same request handler without inc() (the same code in both: a baseline)',
  'inc(labels)',
  "labels('GET', '200').inc()",
  'cached child inc()',
  'observe(labels, v)',
  'startTimer() + end()',
  `register.metrics(), ${SERIES} series (ms)`,
] as const;

/**
 * The loop of one case, compiled from its own source text: its call sites see one
 * metric class, and `m` comes in as an argument (as a handler gets what it updates),
 * not as a constant V8 could fold into the loop with the metric's own properties.
 */
function loop(op: string): (m: any, n: number) => number {
  return new Function(`// ${++loops}\nreturn function (m, n) { for (let i = 0; i < n; i++) { ${op}; } return n; }`)() as (
    m: any,
    n: number,
  ) => number;
}
let loops = 0;

/**
 * Request handlers as a program has them: each parses a little of its request,
 * counts it, and answers. A router calls them in turn from one call site that sees
 * five of them, which V8 does not inline (more than four targets), so the counter's
 * value cannot stay in a register from one call to the next, as it can in a loop of
 * increments. The whole handler is timed, and the same handlers without the
 * increment next to it: a difference of two timings of a few ns is within their noise
 * (the increment overlaps the handler's other work), so the table shows both.
 */
function handlerLoop(count: boolean): (m: any, n: number) => number {
  const handlers = Array.from({ length: 5 }, () => makeHandler(count));
  const reqs = ['/users/7', '/orders/12', '/api/v1/items', '/health', '/login'].map((url, k) => ({
    url,
    method: k & 1 ? 'POST' : 'GET',
    status: 0,
    bytes: 0,
  }));
  return (m, n) => {
    let acc = 0;
    for (let i = 0, k = 0; i < n; i++, k = k === 4 ? 0 : k + 1) acc = (acc + handlers[k]!(m, reqs[k])) | 0;
    return acc;
  };
}

function makeHandler(count: boolean): (m: any, req: any) => number {
  return new Function(
    'm',
    'req',
    `// handler ${++loops}
    let h = 0;
    const url = req.url;
    for (let k = 0; k < url.length; k++) h = (h * 31 + url.charCodeAt(k)) | 0;
    if (req.method === 'GET') h ^= 0x55;
    else if (req.method === 'POST') h ^= 0xaa;
    else if (req.method === 'PUT') h ^= 0x33;
    else h ^= 0xcc;
    const parts = h & 7;
    const status = parts === 0 ? 404 : parts === 1 ? 500 : 200;
    req.status = status;
    req.bytes = (h >>> 3) & 1023;
    ${count ? 'm.inc();' : ''}
    return status;`,
  ) as (m: any, req: any) => number;
}

async function runOne(lib: string): Promise<number[]> {
  const client: any =
    lib === 'prom-client' ? createRequire(import.meta.url)('prom-client') : await import('../src/integrations/prom-client/index.js');
  const reg = new client.Registry();
  const plain = new client.Counter({ name: 'plain_total', help: 'p', registers: [reg] });
  const counter = new client.Counter({ name: 'req_total', help: 'r', labelNames: ['method', 'code'], registers: [reg] });
  const hist = new client.Histogram({ name: 'lat_seconds', help: 'l', labelNames: ['method', 'code'], registers: [reg] });
  const timer = new client.Histogram({ name: 'timer_seconds', help: 't', registers: [reg] });
  const child = counter.labels('GET', '200');
  const ns: number[] = [];
  const run = (m: unknown, body: (m: any, n: number) => number) => measure('', (n) => body(m, n), opts).ns;
  ns.push(run(plain, loop('m.inc()')));
  const withInc = handlerLoop(true);
  const without = handlerLoop(false);
  ns.push(run(plain, withInc));
  ns.push(run(plain, without));
  ns.push(run(counter, loop("m.inc({ method: 'GET', code: '200' })")));
  ns.push(run(counter, loop("m.labels('GET', '200').inc()")));
  ns.push(run(child, loop('m.inc()')));
  ns.push(run(hist, loop("m.observe({ method: 'GET', code: '200' }, (i & 1023) / 1000)")));
  ns.push(run(timer, loop('m.startTimer()()')));
  // A scrape of SERIES series: one counter with two labels.
  const big = new client.Registry();
  const wide = new client.Counter({ name: 'wide_total', help: 'w', labelNames: ['route', 'code'], registers: [big] });
  for (let i = 0; i < SERIES; i++) wide.inc({ route: `/route/${i % 1000}`, code: String(200 + Math.floor(i / 1000)) }, i);
  const times: number[] = [];
  for (let r = 0; r < (smoke ? 1 : 11); r++) {
    const t0 = process.cpuUsage();
    consume((await big.metrics()).length);
    const d = process.cpuUsage(t0);
    times.push((d.user + d.system) / 1000);
  }
  times.sort((a, b) => a - b);
  ns.push(times[Math.floor(times.length / 2)]!);
  return ns;
}

if (args.lib) {
  process.stdout.write(JSON.stringify(await runOne(args.lib)));
} else {
  const self = fileURLToPath(import.meta.url);
  // Three runs of each library, alternating, so that both see the machine's same moods; the best of each row.
  const results: Record<string, number[]> = {};
  for (let run = 0; run < (smoke ? 1 : 3); run++) {
    for (const lib of ['prom-client', 'mmstats/prom-client']) {
      const r = spawnSync(process.execPath, [self, '--lib', lib, ...(smoke ? ['--smoke'] : [])], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${lib} run failed: ${r.stderr}`);
      const got: number[] = JSON.parse(r.stdout);
      results[lib] = results[lib] ? results[lib].map((v, i) => Math.min(v, got[i]!)) : got;
    }
  }
  const theirs = results['prom-client']!;
  const mine = results['mmstats/prom-client']!;
  const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
  console.log(
    `prom-client ${createRequire(import.meta.url)('prom-client/package.json').version} against mmstats/prom-client, Node ${process.version}${smoke ? ' (smoke mode: figures are not meaningful)' : ''}`,
  );
  console.log(
    table([
      ['call (ns per call)', 'prom-client', 'mmstats/prom-client', 'speed-up'],
      ...CASES.map((name, i) => [name, fmt(theirs[i]!), fmt(mine[i]!), `${(theirs[i]! / mine[i]!).toFixed(1)}x`]),
    ]),
  );
}
