/** prom-client's Pushgateway client: push a registry's metrics to a Prometheus Pushgateway. */
import http from 'node:http';
import https from 'node:https';
import { gzipSync } from 'node:zlib';
import { globalRegistry, type Registry } from './registry.js';
import type { RegistryContentType } from './types.js';

// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace Pushgateway {
  interface Parameters {
    jobName: string;
    groupings?: { [key: string]: string };
  }
}

/** A Pushgateway at `url`; `options` are http(s).request options (headers, timeout, agent...) and `requireJobName`. */
export class Pushgateway<T extends RegistryContentType> {
  readonly registry: Registry<any>;
  readonly gatewayUrl: string;
  readonly requireJobName: boolean;
  readonly requestOptions: Record<string, any>;

  constructor(url: string, options?: any, registry?: Registry<T>) {
    this.registry = registry ?? globalRegistry;
    this.gatewayUrl = url;
    const { requireJobName, ...requestOptions } = { requireJobName: true, ...options };
    this.requireJobName = requireJobName;
    this.requestOptions = requestOptions;
  }

  /** POST: replace the metrics of the same names in the group. */
  pushAdd(params: Pushgateway.Parameters): Promise<{ resp?: unknown; body?: unknown }> {
    return this.use('POST', params);
  }

  /** PUT: replace every metric of the group. */
  push(params: Pushgateway.Parameters): Promise<{ resp?: unknown; body?: unknown }> {
    return this.use('PUT', params);
  }

  /** DELETE the group. */
  delete(params: Pushgateway.Parameters): Promise<{ resp?: unknown; body?: unknown }> {
    return this.use('DELETE', params);
  }

  private use(method: string, params: Partial<Pushgateway.Parameters> = {}): Promise<{ resp?: unknown; body?: unknown }> {
    if (this.requireJobName && !params.jobName) throw new Error('Missing jobName parameter');
    const base = new URL(this.gatewayUrl);
    const basePath = base.pathname && base.pathname !== '/' ? base.pathname : '';
    const groupings = params.groupings
      ? Object.keys(params.groupings)
          .map((k) => `/${encodeURIComponent(k)}/${encodeURIComponent(params.groupings![k]!)}`)
          .join('')
      : '';
    const jobPath = params.jobName ? `/job/${encodeURIComponent(params.jobName)}${groupings}` : '';
    const target = new URL(`${basePath}/metrics${jobPath}`, base);
    const httpModule = target.protocol === 'https:' ? https : http;
    const options: Record<string, any> = { ...this.requestOptions, method };
    return new Promise((resolve, reject) => {
      if (method === 'DELETE' && options.headers) {
        options.headers = { ...options.headers };
        delete options.headers['Content-Encoding'];
      }
      const req = httpModule.request(target, options, (resp) => {
        let body = '';
        resp.setEncoding('utf8');
        resp.on('data', (chunk: string) => (body += chunk));
        resp.on('end', () => {
          if (resp.statusCode! >= 400) reject(new Error(`push failed with status ${resp.statusCode}, ${body}`));
          else resolve({ resp, body });
        });
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('Pushgateway request timed out')));
      if (method === 'DELETE') {
        req.end();
        return;
      }
      this.registry.metrics().then(
        (metrics) => {
          req.end(options.headers && options.headers['Content-Encoding'] === 'gzip' ? gzipSync(metrics) : metrics);
        },
        (err) => {
          req.destroy();
          reject(err);
        },
      );
    });
  }
}
