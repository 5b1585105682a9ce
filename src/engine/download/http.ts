/**
 * One HTTP(S) GET or HEAD with redirects handled the way a hub download needs them: the token goes
 * to the hub's own origin only (the hub answers 302 to a CDN host for large files, and a bearer
 * token must not travel there), the hub's headers from before the redirect are kept (they carry
 * the file's sha256 and size), and an HTTPS proxy is used when configured (https-proxy-agent:
 * Node's http modules have no proxy support of their own).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { ProxySettings, proxyForUrl, redactProxy } from './proxy';

export interface RequestOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** Sent as `Authorization: Bearer …` to `tokenOrigin` only, never to a host it redirects to. */
  token?: string;
  tokenOrigin?: string;
  proxy?: ProxySettings;
  signal?: AbortSignal;
  /** Give up when the connection is silent this long (ms). */
  timeoutMs?: number;
  /** 'all' follows every redirect; 'same-origin' stops at one to another origin and returns it. */
  redirects?: 'all' | 'same-origin';
  maxRedirects?: number;
}

export interface HttpResult {
  /** The last response. Its body is unread: consume it or call `res.resume()`. */
  res: http.IncomingMessage;
  status: number;
  url: URL;
  /** Headers of the responses from `tokenOrigin` (the hub itself, before any CDN redirect), later ones winning. */
  originHeaders: http.IncomingHttpHeaders;
  /** Every URL requested, in order, with the host that answered. */
  chain: { url: string; status: number; sentToken: boolean }[];
}

/** A failure to talk to a host at all (no HTTP status): worth retrying, and resumable. */
export class NetworkError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'NetworkError';
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const agents = new Map<string, http.Agent>();

function agentFor(proxyUrl: string): http.Agent {
  let a = agents.get(proxyUrl);
  if (!a) {
    a = new HttpsProxyAgent(proxyUrl, { keepAlive: true });
    agents.set(proxyUrl, a);
  }
  return a;
}

export async function request(url: string, opts: RequestOptions = {}): Promise<HttpResult> {
  const method = opts.method ?? 'GET';
  const chain: HttpResult['chain'] = [];
  let current = new URL(url);
  let originHeaders: http.IncomingHttpHeaders = {};
  const max = opts.maxRedirects ?? 10;
  for (let hop = 0; ; hop++) {
    const sendToken = !!opts.token && current.origin === (opts.tokenOrigin ?? new URL(url).origin);
    const res = await once(current, method, { ...opts.headers, ...(sendToken ? { authorization: `Bearer ${opts.token}` } : {}) }, opts);
    const status = res.statusCode ?? 0;
    chain.push({ url: current.toString(), status, sentToken: sendToken });
    // Merged, so a later same-origin hop (a mirror serving the file itself) keeps the X-Linked-*
    // headers an earlier redirect carried.
    if (current.origin === (opts.tokenOrigin ?? new URL(url).origin)) originHeaders = { ...originHeaders, ...res.headers };
    const location = res.headers.location;
    if (!REDIRECTS.has(status) || !location) return { res, status, url: current, originHeaders, chain };
    const next = new URL(location, current);
    if (opts.redirects === 'same-origin' && next.origin !== current.origin) return { res, status, url: current, originHeaders, chain };
    res.resume();
    if (hop >= max) throw new NetworkError(`too many redirects (more than ${max}) starting at ${url}`);
    if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new NetworkError(`redirect to an unsupported URL scheme ${next.protocol}`);
    current = next;
  }
}

function once(target: URL, method: string, headers: Record<string, string>, opts: RequestOptions): Promise<http.IncomingMessage> {
  let proxyUrl: string | null;
  try {
    proxyUrl = proxyForUrl(target, opts.proxy);
  } catch (e) {
    return Promise.reject(new NetworkError((e as Error).message));
  }
  const mod = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      target,
      {
        method,
        headers: { 'user-agent': `repo-lens (node ${process.version})`, ...headers },
        signal: opts.signal,
        ...(proxyUrl ? { agent: agentFor(proxyUrl) } : {}),
        ...(proxyUrl && opts.proxy?.strictSSL === false ? { rejectUnauthorized: false } : {}),
      },
      resolve,
    );
    const timeout = opts.timeoutMs ?? 60_000;
    req.setTimeout(timeout, () => {
      req.destroy(new NetworkError(`no data from ${target.host} for ${Math.round(timeout / 1000)} s`, 'ETIMEDOUT'));
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.name === 'AbortError' || e instanceof NetworkError) return reject(e);
      const via = proxyUrl ? ` through the proxy ${redactProxy(proxyUrl)}` : '';
      reject(new NetworkError(`cannot reach ${target.host}${via}: ${e.message}`, e.code));
    });
    req.end();
  });
}

/** Reads a whole (small) response body, at most `limit` bytes. */
export async function readBody(res: http.IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    n += (c as Buffer).length;
    if (n > limit) {
      res.destroy();
      throw new NetworkError(`response larger than ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A header's single value (Node gives arrays for repeated headers). */
export function header(h: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
