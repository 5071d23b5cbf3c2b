/**
 * `mmstats/server`: the HTTP server behind `mmstats serve`, as a library, for a
 * program that wants the JSON API, `/metrics` and its own routes in one server.
 *
 * ```ts
 * import { createServer, sendJson } from 'mmstats/server';
 *
 * const app = await createServer({ paths: ['/dev/shm/mmstats-me'], port: 0 });
 * app.addRoute('GET', '/health', (req, res, ctx) => {
 *   sendJson(res, 200, { writers: ctx.store.writers().length });
 * });
 * console.log(app.url); // http://127.0.0.1:<port>/
 * // ... later
 * await app.close();
 * ```
 *
 * Routes match by method and longest path prefix (`/` is the fallback); the
 * server's own routes (`/stats/`, `/files/`, `/api/...`, `/metrics`) are there
 * from the start and can be replaced by adding the same method and prefix. The
 * dashboard is added with `mountDashboard(app)`. docs/SERVER.md describes the
 * routes; the server bounds time, memory and connections per request.
 *
 * @module
 */
export { createServer, type App, type ServerOptions } from './server.js';
export { HttpError, sendJson, sendText, type Handler, type RouteContext } from './http.js';
export type { StatsStore } from './store.js';
export { mountDashboard, type DashboardHost, type DashboardOptions } from '../dashboard/routes.js';
