/**
 * The `mmstats serve` HTTP server over node:http: the JSON API, Prometheus
 * `/metrics`, and a plug point for more routes (the dashboard).
 *
 * ## Plug contract (for the dashboard and other extensions)
 *
 * `createServer(options)` resolves, once listening, with an {@link App}:
 *
 * - `app.addRoute(method, pathPrefix, handler)`: `handler(req, res, ctx)` answers
 *   requests of `method` (GET also answers HEAD unless a HEAD route exists) whose
 *   decoded path equals `pathPrefix`, or starts with it followed by `/` (or
 *   directly, when `pathPrefix` ends with `/`). The longest matching prefix wins,
 *   so `/` is the fallback for everything else; adding the same method and prefix
 *   again replaces the route (the dashboard replaces the plain `/`). `ctx` holds
 *   the parsed `url`, the decoded path `segments` (already checked: no `..`, NUL,
 *   backslash or encoded `/`) and the `store`. A handler may return a promise;
 *   a thrown {@link HttpError} becomes that status, anything else a 500, and the
 *   server goes on.
 * - `app.store`: the {@link StatsStore} over the stats paths: `read()` (every file:
 *   snapshot or error, shared for 100 ms), `readAll()` ({ snapshots, errors }, like
 *   `readAll` of the reader API), `writers()` (identity, liveness, errors),
 *   `fields({ prefix, gauge })` (combined per kind, with per-writer values and
 *   histogram/timer percentiles), `files(glob)`, `file(name)`.
 * - `app.paths`: the stats paths served; `app.url`: the bound base URL;
 *   `app.server`: the node:http server; `app.close()`: stop listening, end open
 *   connections (SSE streams included) and close every reader.
 *
 * `mmstats serve` imports `../dashboard/routes.js` when it exists and calls its
 * `mountDashboard(app)` before it prints the URL.
 *
 * ## Bounded resources
 * Requests must arrive whole within `requestTimeout` (headers within
 * `headersTimeout`), headers are at most `maxHeaderSize` bytes, idle keep-alive
 * connections close after `keepAliveTimeout`. At most `maxConnections`
 * connections are open at once, and at most `maxConnectionsPerClient` from one
 * address. A new connection over either cap closes the oldest connection (of that
 * address, for the per-client cap) that has no request being answered: an idle
 * keep-alive one, or one whose request has not arrived whole. So a client that
 * holds hundreds of half-sent requests (slowloris) cannot keep others out; only
 * when every connection is busy answering is the new one refused. Only GET and
 * HEAD are served; request bodies are never read.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { StatsStore, defaultMaxOpen, type StoreOptions } from './store.js';
import { HttpError, sendJson, type Handler } from './http.js';
import { decodeSegments, UnsafeInput } from './safe-path.js';
import { jsonRoutes } from './routes-json.js';
import type { ExpositionOptions } from './prometheus.js';

export { HttpError, sendJson, sendText, type Handler, type RouteContext } from './http.js';

/** Options of the server. */
export interface ServerOptions extends Omit<StoreOptions, 'paths'> {
  /** Stats directories to serve. */
  readonly paths: readonly string[];
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Port (default 5001; 0 picks a free one, see `app.url`). */
  readonly port?: number;
  /** Connections open at once at most (default 256); see "Bounded resources". */
  readonly maxConnections?: number;
  /** Connections open at once from one address at most (default 128). */
  readonly maxConnectionsPerClient?: number;
  /** Milliseconds to receive a whole request (default 10000). */
  readonly requestTimeout?: number;
  /** Milliseconds to receive the request headers (default 2000). */
  readonly headersTimeout?: number;
  /** Largest request header block in bytes (default 16384). */
  readonly maxHeaderSize?: number;
  /** Milliseconds an idle keep-alive connection stays open (default 5000). */
  readonly keepAliveTimeout?: number;
  /** How `/metrics` labels, combines and names series (writer labels, identity fields, stale-after). */
  readonly exposition?: Omit<ExpositionOptions, 'openMetrics'>;
}

/** A running server and its plug points (see the module comment). */
export interface App {
  readonly server: http.Server;
  readonly store: StatsStore;
  /** The stats paths served, as configured. */
  readonly paths: readonly string[];
  /** The base URL, e.g. `http://127.0.0.1:5001/`. */
  readonly url: string;
  /** Connections open now, and how many of them are answering a request. */
  connections(): { readonly open: number; readonly busy: number };
  /** Register a route (see the module comment for matching). */
  addRoute(method: string, pathPrefix: string, handler: Handler): void;
  /** Stop: close the listener, every connection, and every reader. */
  close(): Promise<void>;
}

interface Route {
  readonly method: string;
  readonly prefix: string;
  readonly handler: Handler;
}

function matches(prefix: string, pathname: string): boolean {
  if (pathname === prefix) return true;
  if (prefix.endsWith('/')) return pathname.startsWith(prefix);
  return pathname.startsWith(prefix + '/');
}

/** Start a server on the stats paths; resolves once it listens (after a first read of every file). */
export async function createServer(options: ServerOptions): Promise<App> {
  const maxConnections = options.maxConnections ?? 256;
  // Every descriptor not kept for a client connection may hold a stats file open.
  const store = new StatsStore({ ...options, maxOpen: options.maxOpen ?? defaultMaxOpen(maxConnections, options.maxFiles) });
  const routes: Route[] = [];
  const addRoute = (method: string, pathPrefix: string, handler: Handler) => {
    if (!pathPrefix.startsWith('/')) throw new TypeError(`route prefix must start with /: ${pathPrefix}`);
    const m = method.toUpperCase();
    const i = routes.findIndex((r) => r.method === m && r.prefix === pathPrefix);
    if (i >= 0) routes.splice(i, 1);
    routes.push({ method: m, prefix: pathPrefix, handler });
  };

  const find = (method: string, pathname: string): Route | undefined => {
    let best: Route | undefined;
    for (const r of routes) {
      if (!matches(r.prefix, pathname)) continue;
      if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) continue;
      const better =
        !best ||
        r.prefix.length > best.prefix.length ||
        (r.prefix.length === best.prefix.length && r.method === method && best.method !== method);
      if (better) best = r;
    }
    return best;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    let segments: string[];
    let url: URL;
    try {
      if (!raw.startsWith('/')) throw new UnsafeInput('request target must be a path');
      segments = decodeSegments(q < 0 ? raw : raw.slice(0, q));
      url = new URL(raw, 'http://localhost');
    } catch (err) {
      sendJson(res, 400, { error: err instanceof UnsafeInput ? err.message : 'malformed request target' });
      return;
    }
    const pathname = '/' + segments.join('/');
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendJson(res, 405, { error: `method ${method} not allowed` });
      return;
    }
    const route = find(method, pathname);
    if (!route) {
      sendJson(res, 404, { error: `no route for ${pathname}` });
      return;
    }
    await route.handler(req, res, { url, segments, store });
  };

  const headersTimeout = options.headersTimeout ?? 2_000;
  const server = http.createServer(
    {
      requestTimeout: options.requestTimeout ?? 10_000,
      headersTimeout,
      maxHeaderSize: options.maxHeaderSize ?? 16_384,
      keepAliveTimeout: options.keepAliveTimeout ?? 5_000,
      // How often Node checks the two timeouts above: a quarter of the header time, so a
      // half-sent request is closed within 1.25 times headersTimeout.
      connectionsCheckingInterval: Math.max(50, Math.floor(headersTimeout / 4)),
    },
    (req, res) => {
      // The body of a GET is never read: drain it so the parser moves on.
      req.resume();
      handle(req, res).catch((err: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (err instanceof HttpError) sendJson(res, err.status, { error: err.message });
        else if (err instanceof UnsafeInput) sendJson(res, 400, { error: err.message });
        else {
          process.emitWarning(`mmstats serve: ${(err as Error)?.stack ?? String(err)}`);
          sendJson(res, 500, { error: 'internal error' });
        }
      });
    },
  );
  const connections = new ConnectionLimits(maxConnections, options.maxConnectionsPerClient ?? 128);
  server.on('connection', (socket: Socket) => connections.admit(socket));
  server.on('request', (req: IncomingMessage, res: ServerResponse) => connections.busy(req.socket, res));
  // A broken client socket must never take the server down.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });

  const app: App = {
    server,
    store,
    paths: store.paths,
    url: '',
    connections: () => connections.count(),
    addRoute,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        store.close();
      }),
  };
  // Every file is opened and read, and the /metrics plan made, before the server listens:
  // the first scrape then costs about what the next ones do.
  for (const [method, prefix, handler] of jsonRoutes(options.exposition, store)) addRoute(method, prefix, handler);

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 5001, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  (app as { url: string }).url = `http://${shownHost}:${addr.port}/`;
  return app;
}

interface Connection {
  readonly socket: Socket;
  readonly client: string;
  /** Requests being answered on it (0: idle keep-alive, or a request not yet arrived whole). */
  busy: number;
}

/**
 * The connection caps (see "Bounded resources"): every connection in the order
 * it came, so the oldest one not answering a request is found first and closed
 * to make room. The order is a Set's insertion order; a search is at most
 * `max` steps, and happens only at a cap.
 */
class ConnectionLimits {
  private readonly open = new Set<Connection>();
  private readonly bySocket = new WeakMap<Socket, Connection>();
  private readonly perClient = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly maxPerClient: number,
  ) {}

  admit(socket: Socket): void {
    const client = socket.remoteAddress ?? '';
    if ((this.perClient.get(client) ?? 0) >= this.maxPerClient && !this.evictIdle(client)) {
      socket.destroy();
      return;
    }
    if (this.open.size >= this.max && !this.evictIdle(undefined)) {
      socket.destroy();
      return;
    }
    const c: Connection = { socket, client, busy: 0 };
    this.open.add(c);
    this.bySocket.set(socket, c);
    this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
    socket.once('close', () => this.forget(c));
  }

  busy(socket: Socket, res: ServerResponse): void {
    const c = this.bySocket.get(socket);
    if (!c) return;
    c.busy++;
    res.once('close', () => c.busy--);
  }

  count(): { open: number; busy: number } {
    let busy = 0;
    for (const c of this.open) if (c.busy > 0) busy++;
    return { open: this.open.size, busy };
  }

  /** Close the oldest connection (of `client`, when given) that answers no request; false if there is none. */
  private evictIdle(client: string | undefined): boolean {
    for (const c of this.open) {
      if (c.busy > 0 || (client !== undefined && c.client !== client)) continue;
      this.forget(c);
      c.socket.destroy();
      return true;
    }
    return false;
  }

  private forget(c: Connection): void {
    if (!this.open.delete(c)) return;
    const n = (this.perClient.get(c.client) ?? 1) - 1;
    if (n === 0) this.perClient.delete(c.client);
    else this.perClient.set(c.client, n);
  }
}
