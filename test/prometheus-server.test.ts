import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { runScript, tempStatsDir, waitFor } from './helpers/proc.js';
import { startServe, systemProgram } from './helpers/serve.js';

const WRITER = `
const Web = defineModel('Web', {
  requests: field.counter({ help: 'requests served' }),
  latency: field.timer(),
}, { prefix: 'web.' });
const s = Web.open({ path: env.DIR });
on('serve', (n) => { s.requests.incr(n); for (let i = 0; i < n; i++) s.latency.record(0.01 * (i + 1)); });
ready(s.path);
`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** One value of an instant query, or undefined while Prometheus has none. */
async function query(base: string, promql: string): Promise<number | undefined> {
  try {
    const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data?: { result: { value: [number, string] }[] } };
    const r = body.data?.result?.[0];
    return r ? Number(r.value[1]) : undefined;
  } catch {
    return undefined;
  }
}

test(
  'a real Prometheus server scrapes mmstats serve and its query API returns the values a writer process wrote',
  { timeout: 90_000 },
  async (t) => {
    const prometheus = systemProgram('prometheus');
    if (!prometheus) {
      t.skip('prometheus is not installed: apt-get install prometheus');
      return;
    }
    const dir = tempStatsDir();
    const work = tempStatsDir('mmstats-prometheus-');
    const w = runScript(WRITER, { env: { DIR: dir } });
    await w.ready;
    await w.call('serve', 5);
    const srv = await startServe(['--port', '0', '--path', dir]);
    const target = new URL(srv.url).host;
    const port = await freePort();
    const config = path.join(work, 'prometheus.yml');
    fs.writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        'scrape_configs:',
        '  - job_name: mmstats',
        '    static_configs:',
        `      - targets: ['${target}']`,
        '',
      ].join('\n'),
    );
    const prom = spawn(
      prometheus,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${path.join(work, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    prom.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    const promExited = new Promise((resolve) => prom.on('exit', resolve));
    const base = `http://127.0.0.1:${port}`;
    try {
      const sel = `{job="mmstats",cmd="writer",model="Web"}`;
      const up = await waitFor(() => query(base, `up{job="mmstats"}`), 45_000, `Prometheus to scrape (log: ${log})`);
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
      prom.kill('SIGTERM');
      const killer = setTimeout(() => prom.kill('SIGKILL'), 10_000);
      await promExited;
      clearTimeout(killer);
      await srv.stop();
      await w.end();
    }
  },
);
