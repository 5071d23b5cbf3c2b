import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runScript, tempStatsDir, waitFor } from './helpers/proc.js';
import { startServe } from './helpers/serve.js';
import { queryAll, prometheusOrSkip, startPrometheus } from './helpers/prometheus.js';

const WRITER = `
const Web = defineModel('Web', {
  requests: field.counter({ help: 'requests served' }),
  latency: field.timer(),
}, { prefix: 'web.' });
const s = Web.open({ path: env.DIR });
on('serve', (n) => { s.requests.incr(n); for (let i = 0; i < n; i++) s.latency.record(0.01 * (i + 1)); });
ready(s.path);
`;

/** One value of an instant query, or undefined while Prometheus has none. */
async function query(base: string, promql: string): Promise<number | undefined> {
  return (await queryAll(base, promql))[0]?.value;
}

test(
  'a real Prometheus server scrapes mmstats serve and its query API returns the values a writer process wrote',
  { timeout: 90_000 },
  async (t) => {
    const prometheus = prometheusOrSkip(t);
    if (!prometheus) return;
    const dir = tempStatsDir();
    const w = runScript(WRITER, { env: { DIR: dir } });
    await w.ready;
    await w.call('serve', 5);
    const srv = await startServe(['--port', '0', '--path', dir]);
    const prom = await startPrometheus(prometheus, new URL(srv.url).host);
    const base = prom.base;
    try {
      const sel = `{job="mmstats",cmd="writer",model="Web"}`;
      const up = await waitFor(() => query(base, `up{job="mmstats"}`), 45_000, `Prometheus to scrape (log: ${prom.log()})`);
      assert.equal(up, 1);
      assert.equal(await waitFor(() => query(base, `web_requests_total${sel}`), 30_000, 'web_requests_total'), 5);
      // The value moves on: the next scrapes see the writer's new total.
      await w.call('serve', 4);
      await waitFor(async () => (await query(base, `web_requests_total${sel}`)) === 9, 30_000, 'web_requests_total to reach 9');
      assert.equal(await waitFor(() => query(base, `web_latency_seconds_count${sel}`), 30_000, 'the timer count'), 9);
      const le = await query(base, `web_latency_seconds_bucket{job="mmstats",cmd="writer",model="Web",le="+Inf"}`);
      assert.equal(le, 9);
      const sum = await query(base, `web_latency_seconds_sum${sel}`);
      assert.ok(sum !== undefined && Math.abs(sum - 0.01 * (15 + 10)) < 1e-9, `sum ${sum}`);
      assert.equal(await query(base, `mmstats_writer_alive${sel}`), 1);
    } finally {
      await prom.stop();
      await srv.stop();
      await w.end();
    }
  },
);
