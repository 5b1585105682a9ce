/**
 * InferenceHosts for tests: one thread on the CPU, a private conversion cache in a temporary folder,
 * all disposed (and the folder removed) when the test file ends.
 */
import * as path from 'node:path';
import { after } from 'node:test';
import { InferenceHost } from '../../src/engine/runtime';
import { tmpDir } from './checkpoints';

type HostOptions = ConstructorParameters<typeof InferenceHost>[0];

export function hostPool(prefix: string, defaults: HostOptions = {}): { tmp: string; newHost: (opts?: HostOptions) => InferenceHost } {
  const tmp = tmpDir(prefix);
  const cacheDir = path.join(tmp, 'cache');
  const hosts: InferenceHost[] = [];
  after(async () => {
    for (const h of hosts) await h.dispose();
  });
  const newHost = (opts: HostOptions = {}) => {
    const h = new InferenceHost({ executionProvider: 'cpu', threads: 1, cacheDir, ...defaults, ...opts });
    hosts.push(h);
    return h;
  };
  return { tmp, newHost };
}
