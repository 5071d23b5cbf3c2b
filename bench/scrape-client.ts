/**
 * The clients of the scrape benchmark (bench/scrape-cost.ts), each a process of
 * its own so that the driver can pin it to a core:
 *
 *   node dist/bench/scrape-client.js load <port> <rate>   # requests to the service
 *   node dist/bench/scrape-client.js scrape <url> <hz>    # a scraper, as Prometheus scrapes
 *
 * `load` sends `rate` requests a second on a fixed schedule that does not wait for
 * answers (an open loop, as clients arrive). `scrape` gets `url` `hz` times a
 * second, one scrape at a time (a tick that finds the last one still running is
 * skipped, as Prometheus never overlaps scrapes of one target), and counts the
 * series of the first answer. Each says 'ready' when it runs (the scraper once its
 * first scrape is answered), counts from the message 'start' and reports on 'stop'.
 */
import http from 'node:http';

/** What a client reports when told to stop. */
export interface ClientReport {
  readonly done: number;
  readonly errors: number;
  /** scrape: the median time of a scrape in ms, bytes of the last answer, and the `app_requests` series it held. */
  readonly medianMs?: number;
  readonly bytes?: number;
  readonly series?: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
let done = 0;
let errors = 0;

function load(port: number, rate: number): void {
  let start = performance.now();
  let sent = 0;
  const one = () =>
    http
      .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => done++);
      })
      .on('error', () => errors++);
  setInterval(() => {
    const due = ((performance.now() - start) * rate) / 1000;
    for (; sent < due; sent++) one();
  }, 1);
  process.on('message', (m: string) => {
    if (m !== 'start') return;
    done = errors = 0;
    // Keep the schedule: the requests due so far are sent, the count starts again.
    start = performance.now();
    sent = 0;
  });
}

function scrape(url: string, hz: number): void {
  let busy = false;
  let series: number | undefined;
  let bytes = 0;
  let times: number[] = [];
  setInterval(() => {
    if (busy) return;
    busy = true;
    const t0 = performance.now();
    http
      .get(url, { agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          busy = false;
          if (res.statusCode !== 200) {
            errors++;
            return;
          }
          times.push(performance.now() - t0);
          done++;
          const body = Buffer.concat(chunks);
          bytes = body.length;
          if (series === undefined) {
            series = 0;
            for (const line of body.toString('utf8').split('\n')) if (line.startsWith('app_requests')) series++;
            process.send!('ready');
          }
        });
      })
      .on('error', () => {
        busy = false;
        errors++;
      });
  }, 1000 / hz);
  process.on('message', (m: string) => {
    if (m !== 'start') return;
    done = errors = 0;
    times = [];
  });
  report = () => {
    times.sort((a, b) => a - b);
    return { done, errors, medianMs: times[Math.floor(times.length / 2)] ?? NaN, bytes, series };
  };
}

let report = (): ClientReport => ({ done, errors });
const [mode, target, perSecond] = process.argv.slice(2);
if (mode === 'load') {
  load(Number(target), Number(perSecond));
  process.send!('ready');
} else if (mode === 'scrape') scrape(target!, Number(perSecond));
else throw new Error(`mode must be load or scrape; not ${mode}`);
process.on('message', (m: string) => {
  if (m === 'stop') process.send!(report(), () => process.exit(0));
});
process.on('disconnect', () => process.exit(0)); // the driver is gone
