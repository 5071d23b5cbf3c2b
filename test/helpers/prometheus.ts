/**
 * Test helper: a real Prometheus server (the system's `prometheus`) scraping its
 * targets every second, in a private data directory, and its query API.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { tempStatsDir } from './proc.js';
import { systemProgram } from './serve.js';

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

/** The path of the system's `prometheus`, or undefined with the test skipped when it is not installed. */
export function prometheusOrSkip(t: TestContext): string | undefined {
  const prometheus = systemProgram('prometheus');
  if (!prometheus) t.skip('prometheus is not installed: apt-get install prometheus');
  return prometheus;
}

/** Start `prometheus` (the path of the program) scraping each target (`host:port`) every second as job `mmstats`. */
export async function startPrometheus(prometheus: string, target: string | readonly string[]): Promise<PrometheusProcess> {
  const targets = (typeof target === 'string' ? [target] : target).map((t) => `'${t}'`).join(', ');
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
      `      - targets: [${targets}]`,
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

/** An instant query's answer as Prometheus gives it: `success` with its results, or `error` with the reason. */
export async function instantQuery(
  base: string,
  promql: string,
): Promise<{ status: string; error?: string; result: { metric: Record<string, string>; value: number }[] }> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  return {
    status: body.status,
    error: body.error,
    result: (body.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) })),
  };
}

/** The values of `label` over the series matching `match` (what Grafana's `label_values(match, label)` asks for); empty while Prometheus has none or is not up. */
export async function labelValues(base: string, label: string, match: string): Promise<string[]> {
  try {
    const res = await fetch(`${base}/api/v1/label/${encodeURIComponent(label)}/values?match[]=${encodeURIComponent(match)}`);
    const body = (await res.json()) as { status: string; data?: string[] };
    return body.data ?? [];
  } catch {
    return [];
  }
}
