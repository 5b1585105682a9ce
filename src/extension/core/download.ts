/**
 * Pure helpers of the download command (no `vscode` import, so node --test covers them).
 */
import { ProxySettings, parseRepoSpec, proxyFromEnv, splitNoProxy } from '../../engine/download';

/**
 * The proxy for a download from VS Code's settings: `http.proxy` when set (for both schemes, as
 * VS Code uses it), else the environment the extension host was started with; `http.noProxy` adds
 * to NO_PROXY; `http.proxyStrictSSL: false` turns off certificate checks behind the proxy.
 */
export function proxyFromVscodeSettings(
  http: { proxy?: unknown; proxyStrictSSL?: unknown; noProxy?: unknown },
  env: NodeJS.ProcessEnv = process.env,
): ProxySettings {
  const fromEnv = proxyFromEnv(env);
  const proxy = typeof http.proxy === 'string' ? http.proxy.trim() : '';
  const noProxy = [
    ...(Array.isArray(http.noProxy) ? http.noProxy.filter((x): x is string => typeof x === 'string').flatMap(splitNoProxy) : []),
    ...(fromEnv.noProxy ?? []),
  ];
  return {
    ...(proxy ? { https: proxy, http: proxy } : { ...(fromEnv.https ? { https: fromEnv.https } : {}), ...(fromEnv.http ? { http: fromEnv.http } : {}) }),
    ...(noProxy.length ? { noProxy } : {}),
    ...(http.proxyStrictSSL === false ? { strictSSL: false } : {}),
  };
}

/** Message for the input box when the text is not `owner/name` or `owner/name@revision`. */
export function repoInputProblem(value: string): string | null {
  return parseRepoSpec(value.trim()) ? null : 'a Hugging Face model id: owner/name, or owner/name@revision';
}
