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
