/**
 * Test helper: a real Prometheus server (the system's `prometheus`) scraping one
 * target every second, in a private data directory, and its query API.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempStatsDir } from './proc.js';

/** A running Prometheus. */
export interface PrometheusProcess {
  /** The base URL of its HTTP API, e.g. `http://127.0.0.1:40123`. */
  readonly base: string;
  /** The end of what it logged (warnings and errors). */
  log(): string;
  /** SIGTERM (SIGKILL after 10 s), and wait for it to exit. */
  stop(): Promise<void>;
}

/** A free TCP port on the loopback address. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Start `prometheus` (the path of the program) scraping `target` (`host:port`) every second as job `mmstats`. */
export async function startPrometheus(prometheus: string, target: string): Promise<PrometheusProcess> {
  const work = tempStatsDir('mmstats-prometheus-');
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
  const exited = new Promise((resolve) => prom.on('exit', resolve));
  return {
    base: `http://127.0.0.1:${port}`,
    log: () => log,
    async stop() {
      prom.kill('SIGTERM');
      const killer = setTimeout(() => prom.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** The results of an instant query (labels and value each); empty while Prometheus has none or fails. */
export async function queryAll(base: string, promql: string): Promise<{ metric: Record<string, string>; value: number }[]> {
  try {
    const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    return (body.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  } catch {
    return [];
  }
}
