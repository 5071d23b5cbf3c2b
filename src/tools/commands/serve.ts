/**
 * `mmstats serve` (alias `mmash`): the HTTP server over every stats file of one or
 * more stats directories: JSON API, Prometheus `/metrics`, and the dashboard when
 * it is built.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Exit, UsageError, numberOption, parse } from '../args.js';
import { defaultStatsDirs } from '../../platform/paths.js';
import { createServer, type App } from '../server/server.js';
import { DEFAULT_WRITER_LABELS, WRITER_LABELS, type ExpositionOptions, type WriterLabel } from '../server/prometheus.js';
import { readLimits } from '../snapshots.js';

/** One line for `mmstats --help`. */
export const summary = 'HTTP server: JSON API, live dashboard and Prometheus /metrics';

/** The exposition's options, as `serve` and `export` take them. */
export const EXPOSITION_OPTIONS = {
  'writer-labels': { type: 'string' },
  'identity-fields': { type: 'boolean' },
  'stale-after': { type: 'string' },
} as const;

/** Help lines of EXPOSITION_OPTIONS. */
export const EXPOSITION_HELP = `  --writer-labels LIST   labels naming a writer in /metrics, comma-separated,
                         from ${WRITER_LABELS.join(',')} (default ${DEFAULT_WRITER_LABELS.join(',')};
                         none: no writer label); writers with the same labels
                         are one series, combined (counters summed...)
  --identity-fields      also export sys.pid, sys.tid, sys.uid, sys.gid,
                         sys.program, sys.model as series (default: left out)
  --stale-after DURATION a gone writer's series leave /metrics this long after
                         it is first seen gone: 30s, 5m, 1h, 0, never
                         (default 60s)
`;

const HELP = `Usage: mmstats serve [--host HOST] [--port PORT] [--path DIR]...

Serve every stats file of the stats directories over HTTP (alias: mmash):
  /stats/, /stats/<name>?exact=1&glob=G&aggr=sum   the original mmash JSON API
  /files/, /files/<glob>                           files, and the ones that failed
  /api/writers, /api/fields, /api/files/<name>     writers, combined fields, one file
  /metrics                                         Prometheus text or OpenMetrics
  /                                                the dashboard (when built)

Options:
  --host HOST            address to bind (default 127.0.0.1; env MMSTATS_HOST)
  --port PORT            port, 0 for any free one (default 5001; env MMSTATS_PORT)
  --path DIR             a stats directory; repeat for several (env MMSTATS_PATH,
                         a colon-separated list; default the per-user directory)
  --glob PATTERN         file names to serve in each directory (default *.mmstats)
  --max-connections N    connections open at once at most (default 256); at
                         the cap a new connection closes the oldest one that is
                         idle or still sending its request
  --max-client-connections N
                         connections from one address at most (default 128)
  --max-open N           stats files kept open at most; more files are opened,
                         read and closed at each read (default: the descriptor
                         limit, less --max-connections, less 64)
  --max-total-bytes N    bytes of files decoded by one read of them all at most
                         (default 16777216); the files past it show an
                         ERR_MMSTATS_LIMIT error. One file is decoded only up to
                         MMSTATS_MAX_FILE_BYTES (64 MiB) and MMSTATS_MAX_FILE_FIELDS
                         (1000000) of the environment
  --nice N               lower the server's CPU priority by N, 0 to 19
                         (default 0): on a busy machine the programs it
                         watches then get the CPU before it does
${EXPOSITION_HELP}  -h, --help             show this help

The first line printed is the server's URL. The server reads files only; it
never writes to them. Binding an address other than loopback exposes the stats
to the network without authentication.
`;

/** A duration: `250ms`, `30s`, `5m`, `1h`, a number of seconds, or `never` (Infinity); in ms. */
export function durationOption(name: string, raw: string): number {
  const text = raw.trim().toLowerCase();
  if (text === 'never') return Infinity;
  let i = 0;
  while (i < text.length && ((text[i]! >= '0' && text[i]! <= '9') || text[i] === '.')) i++;
  const n = Number(text.slice(0, i));
  const unit = text.slice(i);
  const ms = ({ '': 1000, ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as Record<string, number>)[unit];
  if (i === 0 || !Number.isFinite(n) || ms === undefined) {
    throw new UsageError(`${name} must be a duration such as 30s, 5m, 1h, 0 or never, not ${JSON.stringify(raw)}`);
  }
  return n * ms;
}

/** The exposition's options from the command line (see EXPOSITION_OPTIONS). */
export function expositionConfig(values: {
  'writer-labels'?: string;
  'identity-fields'?: boolean;
  'stale-after'?: string;
}): ExpositionOptions {
  let writerLabels: WriterLabel[] | undefined;
  const raw = values['writer-labels'];
  if (raw !== undefined) {
    const names =
      raw.trim() === 'none'
        ? []
        : raw
            .split(',')
            .map((l) => l.trim())
            .filter((l) => l !== '');
    for (const l of names) {
      if (!(WRITER_LABELS as readonly string[]).includes(l)) {
        throw new UsageError(`--writer-labels: unknown label ${JSON.stringify(l)}; choose from ${WRITER_LABELS.join(', ')}`);
      }
    }
    writerLabels = [...new Set(names as WriterLabel[])];
  }
  return {
    ...(writerLabels ? { writerLabels } : {}),
    ...(values['identity-fields'] ? { identityFields: true } : {}),
    ...(values['stale-after'] !== undefined ? { staleAfterMs: durationOption('--stale-after', values['stale-after']) } : {}),
  };
}

/** Host, port and paths from the command line, else the environment, else the defaults. */
export function serveConfig(
  values: { host?: string; port?: string; path?: string[] },
  env: NodeJS.ProcessEnv = process.env,
): { host: string; port: number; paths: string[] } {
  const host = values.host ?? env.MMSTATS_HOST ?? '127.0.0.1';
  if (host.trim() === '') throw new UsageError('--host must not be empty');
  const port = numberOption(values.port !== undefined ? '--port' : 'MMSTATS_PORT', values.port ?? env.MMSTATS_PORT, 5001, 0, true);
  if (port > 65535) throw new UsageError(`port must be at most 65535, not ${port}`);
  let paths = values.path ?? [];
  if (paths.length === 0 && env.MMSTATS_PATH) paths = env.MMSTATS_PATH.split(':').filter((p) => p !== '');
  if (paths.length === 0) paths = defaultStatsDirs(env);
  if (paths.some((p) => p.includes('\0'))) throw new UsageError('a stats path must not hold a NUL byte');
  return { host, port, paths };
}

interface DashboardModule {
  mountDashboard(app: App): void | Promise<void>;
}

/**
 * Mount the dashboard when its module exists. A dashboard that is missing or
 * fails to load leaves the JSON API and /metrics serving (with a warning).
 */
async function mountDashboard(app: App): Promise<void> {
  const url = new URL('../dashboard/routes.js', import.meta.url);
  try {
    // A computed specifier: the build must not require the dashboard to exist.
    const mod = (await import(url.href)) as Partial<DashboardModule>;
    if (typeof mod.mountDashboard === 'function') await mod.mountDashboard(app);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message.includes(url.pathname)) return;
    process.stderr.write(`mmstats serve: the dashboard is not available: ${e.message}\n`);
  }
}

/**
 * Raise this process's nice value by `by` (at most to 19). Linux keeps one per
 * thread, so every thread already running (V8's and libuv's) is lowered too; threads
 * started later inherit it. Lowering one's own priority needs no privilege.
 */
function lowerPriority(by: number): void {
  const nice = Math.min(19, os.getPriority(0) + by);
  let threads: string[];
  try {
    threads = fs.readdirSync('/proc/self/task'); // Linux: one nice value per thread
  } catch {
    os.setPriority(0, nice); // elsewhere the priority is the process's
    return;
  }
  for (const tid of threads) {
    try {
      os.setPriority(Number(tid), nice);
    } catch {
      // the thread ended meanwhile
    }
  }
}

/** Run `mmstats serve`; resolves with the exit status when the server stops (SIGINT or SIGTERM). */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      host: { type: 'string' },
      port: { type: 'string', short: 'p' },
      path: { type: 'string', multiple: true },
      glob: { type: 'string' },
      'max-connections': { type: 'string' },
      'max-client-connections': { type: 'string' },
      'max-open': { type: 'string' },
      'max-total-bytes': { type: 'string' },
      nice: { type: 'string' },
      ...EXPOSITION_OPTIONS,
    },
    true,
  );
  if (values.help) {
    process.stdout.write(HELP);
    return Exit.OK;
  }
  const cfg = serveConfig({ host: values.host, port: values.port, path: [...(values.path ?? []), ...positionals] });
  const maxConnections = numberOption('--max-connections', values['max-connections'], 256, 1, true);
  const maxConnectionsPerClient = numberOption('--max-client-connections', values['max-client-connections'], 128, 1, true);
  const maxOpen = values['max-open'] === undefined ? undefined : numberOption('--max-open', values['max-open'], 0, 0, true);
  const maxTotalBytes = numberOption('--max-total-bytes', values['max-total-bytes'], 16 * 1024 * 1024, 1, true);
  const limits = readLimits();
  const nice = numberOption('--nice', values.nice, 0, 0, true);
  if (nice > 19) throw new UsageError(`--nice must be from 0 to 19, not ${nice}`);
  if (nice > 0) lowerPriority(nice);
  if (values.glob !== undefined && (values.glob.includes('/') || values.glob === '')) {
    throw new UsageError('--glob is a file name pattern such as *.mmstats, not a path');
  }
  const exposition = expositionConfig(values);
  let app: App;
  try {
    app = await createServer({
      host: cfg.host,
      port: cfg.port,
      paths: cfg.paths,
      pattern: values.glob,
      maxConnections,
      maxConnectionsPerClient,
      maxOpen,
      maxTotalBytes,
      limits,
      exposition,
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'EADDRINUSE'
        ? `port ${cfg.port} on ${cfg.host} is in use (choose another with --port, or 0 for any)`
        : e.code === 'EACCES'
          ? `no permission to bind ${cfg.host}:${cfg.port}`
          : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND'
            ? `cannot bind ${cfg.host}: no such local address`
            : e.message;
    process.stderr.write(`mmstats serve: ${why}\n`);
    return Exit.FAILURE;
  }
  await mountDashboard(app);
  process.stdout.write(`${app.url} serving ${cfg.paths.join(', ')}\n`);
  if (!/^(127\.|::1$|localhost$|\[::1\])/.test(cfg.host)) {
    process.stderr.write(`mmstats serve: warning: listening on ${cfg.host}: anyone who can reach it can read these stats\n`);
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await app.close();
  return Exit.OK;
}
