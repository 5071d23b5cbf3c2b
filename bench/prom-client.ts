/**
 * prom-client against mmstats/prom-client: the same calls, side by side. Each
 * library runs in a child process of its own (`--lib`), so that neither's code
 * shapes the other's compilation. Figures: median ns per call (a scrape: ms).
 *
 *   node dist/bench/prom-client.js           # the table in docs/BENCHMARKS.md
 *   node dist/bench/prom-client.js --smoke   # keeps it running in CI; figures mean nothing
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { consume, measure, table } from './harness.js';

const args = parseArgs({ options: { smoke: { type: 'boolean', default: false }, lib: { type: 'string' } } }).values;
const smoke = args.smoke!;
const opts = smoke ? { ops: 2000, rounds: 1 } : { ops: 2_000_000, rounds: 7 };
const SERIES = smoke ? 100 : 10_000;

const CASES = [
  'unlabelled inc()',
  'inc(labels)',
  "labels('GET', '200').inc()",
  'cached child inc()',
  'observe(labels, v)',
  'startTimer() + end()',
  `register.metrics(), ${SERIES} series (ms)`,
] as const;

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
  ns.push(
    measure(
      'inc',
      (n) => {
        for (let i = 0; i < n; i++) plain.inc();
        return n;
      },
      opts,
    ).ns,
  );
  ns.push(
    measure(
      'inc(labels)',
      (n) => {
        for (let i = 0; i < n; i++) counter.inc({ method: 'GET', code: '200' });
        return n;
      },
      opts,
    ).ns,
  );
  ns.push(
    measure(
      'labels().inc()',
      (n) => {
        for (let i = 0; i < n; i++) counter.labels('GET', '200').inc();
        return n;
      },
      opts,
    ).ns,
  );
  ns.push(
    measure(
      'child.inc()',
      (n) => {
        for (let i = 0; i < n; i++) child.inc();
        return n;
      },
      opts,
    ).ns,
  );
  ns.push(
    measure(
      'observe(labels, v)',
      (n) => {
        for (let i = 0; i < n; i++) hist.observe({ method: 'GET', code: '200' }, (i & 1023) / 1000);
        return n;
      },
      opts,
    ).ns,
  );
  ns.push(
    measure(
      'startTimer',
      (n) => {
        for (let i = 0; i < n; i++) consume(timer.startTimer()());
        return n;
      },
      opts,
    ).ns,
  );
  // A scrape of SERIES series: one counter with two labels.
  const big = new client.Registry();
  const wide = new client.Counter({ name: 'wide_total', help: 'w', labelNames: ['route', 'code'], registers: [big] });
  for (let i = 0; i < SERIES; i++) wide.inc({ route: `/route/${i % 1000}`, code: String(200 + Math.floor(i / 1000)) }, i);
  const times: number[] = [];
  for (let r = 0; r < (smoke ? 1 : 11); r++) {
    const t0 = process.hrtime.bigint();
    consume((await big.metrics()).length);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  ns.push(times[Math.floor(times.length / 2)]!);
  return ns;
}

if (args.lib) {
  process.stdout.write(JSON.stringify(await runOne(args.lib)));
} else {
  const self = fileURLToPath(import.meta.url);
  const results: Record<string, number[]> = {};
  for (const lib of ['prom-client', 'mmstats/prom-client']) {
    const r = spawnSync(process.execPath, [self, '--lib', lib, ...(smoke ? ['--smoke'] : [])], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${lib} run failed: ${r.stderr}`);
    results[lib] = JSON.parse(r.stdout);
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
