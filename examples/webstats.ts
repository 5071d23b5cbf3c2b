/**
 * The original mmstats README's WebStats example, working in Node: a web server
 * whose responses are counted by status code and timed
 * (`web.stats.server.request.duration{http_response_status_code="200",...}`) and
 * whose last hit is timestamped (`web.stats.timers.last_hit`), in a stats file
 * that any reader can watch while the server runs.
 *
 *   node dist/examples/webstats.js [PORT]     # default: a free port on 127.0.0.1
 *   mmstats slurp                             # in another terminal: the live values
 *
 * The original declared four status-class counters by hand and bumped them after
 * each request; here `instrumentHttpServer` does it in one call, as labelled
 * families: durations by method, status code and route, and requests received,
 * in flight and abandoned by method (`sum by (http_response_status_code)` in PromQL).
 * Ctrl-C (or SIGTERM) stops the server and removes its stats file.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { defineModel, field, instrumentHttpServer } from '../src/index.js';

/** What the original's WebStats model declared beyond the status counters. */
const WebStats = defineModel(
  'WebStats',
  { 'timers.last_hit': field.float64({ help: 'time of the last request, Unix time', unit: 'seconds' }) },
  { prefix: 'web.stats.' },
);

const webstats = WebStats.open();

const server = http.createServer((req, res) => {
  webstats['timers.last_hit'].set(Date.now() / 1000);
  switch (req.url) {
    case '/':
      res.end('Hello from mmstats\n');
      break;
    case '/old':
      res.writeHead(301, { location: '/' }).end();
      break;
    case '/error':
      res.writeHead(500).end('something broke\n');
      break;
    default:
      res.writeHead(404).end('not found\n');
  }
});

// web.stats.server.request.duration{http_request_method,http_response_status_code,http_route}, web.stats.server.requests{http_request_method}, ...
const metrics = instrumentHttpServer(server, { stats: webstats, prefix: 'web.stats.' });

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
server.listen(port, '127.0.0.1', () => {
  const { port: actual } = server.address() as AddressInfo;
  // One JSON line: where to send requests and which file to read.
  console.log(JSON.stringify({ url: `http://127.0.0.1:${actual}/`, stats: webstats.path }));
});

function stop(): void {
  metrics.stop();
  server.close();
  server.closeAllConnections();
  webstats.remove();
}
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
