/**
 * The live dashboard, mounted on the `mmstats serve` server: `/` (the page),
 * `/dashboard/*` (its bundled script and styles, built by
 * scripts/build-dashboard.js into dist/dashboard/) and `/api/stream` (Server-Sent
 * Events: the kept `history` once, then one `update` per tick, see protocol.ts
 * and history.ts).
 *
 * Everything is served locally; the page's Content-Security-Policy allows only
 * its own script and styles, so even a bug in the page could not load markup
 * or scripts named by a stats file.
 */
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HistoryLog } from './history.js';
import { FilePoller, UpdateEncoder, tickWriters, type ReadResult, type TickWriter } from './stream.js';

/** A route handler, as the server calls it (its third argument, the route context, is not needed). */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * What the dashboard needs from the server it is mounted on: a subset of the
 * server's `App` (src/tools/server/server.ts), so the server's app fits as is.
 */
export interface DashboardHost {
  /** Register `handler` for GET (and HEAD) requests under `pathPrefix`; the longest prefix wins. */
  addRoute(method: string, pathPrefix: string, handler: DashboardHandler): void;
  /** The stats paths the server reads (directories, globs or files). */
  readonly paths?: readonly string[];
  /** The server's store; its `readAll()` (snapshots and errors, cached briefly) is read each tick. */
  readonly store?: unknown;
  /** The node:http server: its `close` event stops the dashboard's ticks. */
  readonly server?: { once(event: 'close', listener: () => void): unknown };
}

/** Options of the dashboard. */
export interface DashboardOptions {
  /** Milliseconds between updates on `/api/stream` (default 1000, at least 100). */
  readonly intervalMs?: number;
  /** Where the built assets are (default: dist/dashboard beside this module's build). */
  readonly assetsDir?: string;
  /** How far back the server keeps ticks for pages that open later, in ms (default an hour; 0: none). */
  readonly historyMs?: number;
  /** Bytes the kept ticks may take at most (default 32 MiB); the oldest go first past it. */
  readonly historyBytes?: number;
}

/** Default history: an hour. */
export const DEFAULT_HISTORY_MS = 3_600_000;
/** Default bound of the history's memory: 32 MiB. */
export const DEFAULT_HISTORY_BYTES = 32 * 1024 * 1024;

/** The directory scripts/build-dashboard.js writes to: dist/dashboard. */
export const DEFAULT_ASSETS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'dashboard');

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** A tick comes at least this many times its own duration after the last one began. */
const TICK_SHARE = 4;

/** Bytes of unsent updates a stream may hold before ticks are skipped for it. */
const MAX_BUFFERED = 1 << 20;

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

/** Load the built assets once: a fixed set of names, so no request path ever reaches the file system. */
function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return assets;
  }
  for (const name of names) {
    const type = CONTENT_TYPES[path.extname(name)];
    if (!type) continue;
    try {
      const st = fs.lstatSync(path.join(dir, name));
      if (st.isFile()) assets.set(name, { body: fs.readFileSync(path.join(dir, name)), type });
    } catch {
      // Unreadable: not served.
    }
  }
  return assets;
}

/**
 * The source of ticks: the server store when it can give snapshots, else our own
 * poller over the server's paths.
 */
interface TickSource {
  read(): ReadResult;
  close(): void;
}

function tickSource(host: DashboardHost): TickSource {
  const store = host.store as { readAll?: () => ReadResult } | undefined;
  if (store && typeof store.readAll === 'function') {
    return { read: () => store.readAll!(), close: () => undefined };
  }
  return new FilePoller(host.paths ?? []);
}

interface Client {
  readonly res: ServerResponse;
  readonly encoder: UpdateEncoder;
}

/**
 * One shared tick for every open stream: the files are read once per tick,
 * whatever the number of pages watching. With a history, the tick runs from the
 * moment the dashboard is mounted (so a page opened later sees the past), else
 * only while a page is open.
 */
class Broadcaster {
  private readonly clients = new Set<Client>();
  private timer: NodeJS.Timeout | undefined;
  private source: TickSource | undefined;
  readonly history: HistoryLog | undefined;

  constructor(
    private readonly host: DashboardHost,
    private readonly intervalMs: number,
    history: { keepMs: number; maxBytes: number },
  ) {
    if (history.keepMs > 0 && history.maxBytes > 0) {
      this.history = new HistoryLog({ ...history, intervalMs });
      this.start();
      // The server's own close ends the ticks (and the readers they hold).
      host.server?.once('close', () => this.stop());
    }
  }

  add(res: ServerResponse): void {
    const client: Client = { res, encoder: new UpdateEncoder() };
    this.clients.add(client);
    res.on('close', () => {
      this.clients.delete(client);
      if (this.clients.size === 0 && !this.history) this.stop();
    });
    if (this.history && this.history.length > 0) {
      // The past at once; the next tick brings the present.
      res.write(`event: history\ndata: ${this.history.replay(this.host.paths ?? [])}\n\n`);
    } else {
      // The first update goes out at once, so the page fills without waiting a tick.
      this.send(this.read(), [client]);
    }
    this.start();
  }

  private start(): void {
    if (this.timer) return;
    const tick = () => {
      const began = performance.now();
      const read = this.read();
      this.history?.record(read.t, read.writers);
      this.send(read, this.clients);
      if (!this.timer) return;
      // Reading many files takes time: the ticks space out so that they take at most a
      // quarter of the server's time (a read of 0.5 s: a tick every 2 s).
      const spent = performance.now() - began;
      this.timer = setTimeout(tick, Math.max(this.intervalMs, TICK_SHARE * spent) - spent);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, this.history ? 0 : this.intervalMs);
    this.timer.unref();
  }

  private read(): { t: number; writers: TickWriter[] } {
    this.source ??= tickSource(this.host);
    const t = Date.now();
    let result: ReadResult;
    try {
      result = this.source.read();
    } catch (err) {
      // A failure of the whole read (not of one file) shows as one error row.
      result = { snapshots: [], errors: [{ path: (this.host.paths ?? []).join(', '), error: err as Error }] };
    }
    return { t, writers: tickWriters(result) };
  }

  private send(tick: { t: number; writers: readonly TickWriter[] }, clients: Iterable<Client>): void {
    for (const c of clients) {
      if (c.res.writableEnded || c.res.destroyed) continue;
      // A page that does not keep up skips ticks rather than piling them up in memory.
      if (c.res.writableLength > MAX_BUFFERED) continue;
      const update = c.encoder.encodeTick(tick.t, this.host.paths ?? [], tick.writers);
      c.res.write(`event: update\ndata: ${JSON.stringify(update)}\n\n`);
    }
  }

  private stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.source?.close();
    this.source = undefined;
  }
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
  res.end(text + '\n');
}

/** The server's own 404 shape, for paths under `/` that nothing else serves. */
function sendJson404(res: ServerResponse, pathname: string): void {
  res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS });
  res.end(JSON.stringify({ error: `no route for ${pathname}` }) + '\n');
}

function pathnameOf(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return '';
  }
}

/**
 * Mount the dashboard on a server: `GET /` (the page), `GET /dashboard/<asset>`
 * and `GET /api/stream` (Server-Sent Events: the history, then an `update` at
 * least once a second). With a history (the default) the files are read once a
 * tick from now on, so that a page opened later sees the past hour.
 */
export function mountDashboard(host: DashboardHost, options: DashboardOptions = {}): void {
  const assets = loadAssets(options.assetsDir ?? DEFAULT_ASSETS_DIR);
  const broadcaster = new Broadcaster(host, Math.max(100, options.intervalMs ?? 1000), {
    keepMs: options.historyMs ?? DEFAULT_HISTORY_MS,
    maxBytes: options.historyBytes ?? DEFAULT_HISTORY_BYTES,
  });
  const missing = 'the dashboard is not built: run `npm run build` (scripts/build-dashboard.js writes dist/dashboard/)';

  const serveAsset = (name: string, res: ServerResponse, head: boolean) => {
    const asset = assets.get(name);
    if (!asset) {
      sendText(res, assets.size === 0 ? 503 : 404, assets.size === 0 ? missing : 'not found');
      return;
    }
    res.writeHead(200, {
      'content-type': asset.type,
      'content-length': asset.body.length,
      'cache-control': name === 'index.html' ? 'no-cache' : 'public, max-age=300',
      ...SECURITY_HEADERS,
    });
    res.end(head ? undefined : asset.body);
  };

  // GET routes answer HEAD too (the server's rule); the asset names are a fixed set.
  host.addRoute('GET', '/', (req, res) => {
    const p = pathnameOf(req);
    if (p === '/' || p === '/index.html') serveAsset('index.html', res, req.method === 'HEAD');
    else sendJson404(res, p);
  });
  host.addRoute('GET', '/dashboard/', (req, res) => {
    serveAsset(pathnameOf(req).slice('/dashboard/'.length), res, req.method === 'HEAD');
  });

  host.addRoute('GET', '/api/stream', (req, res) => {
    if (pathnameOf(req) !== '/api/stream') {
      sendText(res, 404, 'not found');
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...SECURITY_HEADERS,
    });
    res.write('retry: 2000\n\n');
    req.socket.setKeepAlive(true);
    req.socket.setNoDelay(true);
    broadcaster.add(res);
  });
}
