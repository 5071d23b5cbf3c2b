/**
 * What route handlers share: the handler type, its context, an error with a
 * status, and the two ways to answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StatsStore } from './store.js';

/** An error with an HTTP status, for handlers to throw. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** What a route handler gets besides the request and response. */
export interface RouteContext {
  /** The request URL, parsed against the server's own origin. */
  readonly url: URL;
  /** The decoded path segments (`/files/a%2A` → `['files', 'a*']`), checked by safe-path. */
  readonly segments: readonly string[];
  /** The files being served. */
  readonly store: StatsStore;
}

/** A route handler. */
export type Handler = (req: IncomingMessage, res: ServerResponse, ctx: RouteContext) => void | Promise<void>;

const SECURITY_HEADERS = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };

/** Send a JSON body (bigints and non-finite numbers must already be made safe: see `jsonValue`). */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS });
  res.end(res.req?.method === 'HEAD' ? undefined : text);
}

/** Send plain text (or text already encoded as UTF-8). */
export function sendText(res: ServerResponse, status: number, text: string | Buffer, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', ...SECURITY_HEADERS });
  res.end(res.req?.method === 'HEAD' ? undefined : text);
}

/** Bytes of JSON gathered before each write of a streamed list. */
const STREAM_CHUNK = 256 * 1024;

/**
 * Send `{ ...head, [key]: [...rows] }` as JSON (the same bytes as sendJson) without
 * making it one string: rows are encoded and written in chunks of about 256 KiB,
 * each after the client has taken the last, so a large answer costs a chunk of
 * memory, not its whole size, and a slow client holds back only itself.
 */
export async function sendJsonList(
  res: ServerResponse,
  status: number,
  key: string,
  rows: Iterable<unknown>,
  head: Record<string, unknown> = {},
): Promise<void> {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS });
  if (res.req?.method === 'HEAD') {
    res.end();
    return;
  }
  const open = JSON.stringify({ ...head, [key]: 0 });
  let chunk = open.slice(0, -2) + '[';
  let first = true;
  for (const row of rows) {
    chunk += (first ? '' : ',') + JSON.stringify(row);
    first = false;
    if (chunk.length >= STREAM_CHUNK) {
      if (res.destroyed) return;
      if (!res.write(chunk)) await drained(res);
      chunk = '';
    }
  }
  res.end(chunk + ']}\n');
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
