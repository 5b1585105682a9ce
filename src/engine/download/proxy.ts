/**
 * Which proxy a URL goes through. The CLI takes the usual environment variables (as curl reads
 * them); the extension passes VS Code's `http.proxy` settings instead. Pure: no network.
 */

export interface ProxySettings {
  /** Proxy URL for https:// targets (e.g. http://proxy.corp:3128). */
  https?: string;
  /** Proxy URL for http:// targets (a local mirror, or tests). */
  http?: string;
  /** Hosts that bypass the proxy: "host", ".domain" or "domain" (and its subdomains), "host:port", "*". */
  noProxy?: string[];
  /** Verify the TLS certificates of hosts reached through the proxy (VS Code's http.proxyStrictSSL). */
  strictSSL?: boolean;
}

/** HTTPS_PROXY / https_proxy, HTTP_PROXY / http_proxy, ALL_PROXY as a fallback, NO_PROXY / no_proxy. */
export function proxyFromEnv(env: NodeJS.ProcessEnv = process.env): ProxySettings {
  const pick = (...names: string[]) => {
    for (const n of names) {
      const v = env[n]?.trim();
      if (v) return v;
    }
    return undefined;
  };
  const all = pick('ALL_PROXY', 'all_proxy');
  const https = pick('HTTPS_PROXY', 'https_proxy') ?? all;
  // Lower case first for http_proxy: CGI servers set HTTP_PROXY from a request header ("httpoxy").
  const http = pick('http_proxy', 'HTTP_PROXY') ?? all;
  const no = pick('NO_PROXY', 'no_proxy');
  return {
    ...(https ? { https } : {}),
    ...(http ? { http } : {}),
    ...(no ? { noProxy: splitNoProxy(no) } : {}),
  };
}

export function splitNoProxy(value: string): string[] {
  return value
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The proxy URL for `target`, or null for a direct connection. */
export function proxyForUrl(target: URL, settings: ProxySettings | undefined): string | null {
  if (!settings) return null;
  const proxy = target.protocol === 'https:' ? settings.https : target.protocol === 'http:' ? settings.http : undefined;
  if (!proxy) return null;
  if (bypassed(target, settings.noProxy ?? [])) return null;
  return normaliseProxyUrl(proxy);
}

/** "proxy:3128" means http://proxy:3128, as curl reads it. */
export function normaliseProxyUrl(proxy: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(proxy) ? proxy : `http://${proxy}`;
  const u = new URL(withScheme);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new Error(`proxy ${redactProxy(proxy)}: only http:// and https:// proxies are supported, not ${u.protocol}//`);
  }
  return u.toString();
}

/** A proxy URL fit for messages: any user name and password replaced. */
export function redactProxy(proxy: string): string {
  return proxy.replace(/\/\/[^@/]*@/, '//***@');
}

function bypassed(target: URL, noProxy: string[]): boolean {
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy) {
    const entry = raw.toLowerCase();
    if (entry === '*') return true;
    let h = entry;
    let p: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    const hostPort = /^([^:]+):(\d+)$/.exec(entry);
    if (bracketed) [h, p] = [bracketed[1], bracketed[2]];
    else if (hostPort) [h, p] = [hostPort[1], hostPort[2]];
    if (p && p !== port) continue;
    h = h.replace(/^\*?\./, '.');
    if (h.startsWith('.') ? host.endsWith(h) || host === h.slice(1) : host === h || host.endsWith(`.${h}`)) return true;
  }
  return false;
}
