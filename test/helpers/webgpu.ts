/**
 * A WebGPU adapter for the tests of the WebGPU provider. Machines without a GPU get one from Mesa's
 * lavapipe (Vulkan on the CPU): Debian 12's own lavapipe lacks a feature Dawn requires
 * ("shaderUniform*ArrayDynamicIndexing"), the one in bookworm-backports (Mesa 25) works. Under CI
 * (CI=true, as root, Debian) it is installed with apt-get; elsewhere the caller is told how.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..'); // from out/test/helpers

/**
 * Whether onnxruntime-node finds a WebGPU adapter, asked in a child process (Dawn prints its
 * adapter search to stderr, and a failed search should not touch the test process).
 */
export function probeWebgpu(env: NodeJS.ProcessEnv = process.env): { ok: true } | { ok: false; why: string } {
  const script = `
    const { webgpuAvailable } = require(${JSON.stringify(path.join(ROOT, 'out', 'src', 'engine', 'model', 'session.js'))});
    webgpuAvailable().then((r) => process.stdout.write(JSON.stringify(r)));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env, timeout: 60_000 });
  try {
    return JSON.parse(r.stdout) as { ok: true } | { ok: false; why: string };
  } catch {
    return { ok: false, why: `the probe process failed (${r.signal ?? `exit ${r.status}`}): ${(r.stderr ?? '').trim().split('\n').pop()}` };
  }
}

function osCodename(): string | null {
  try {
    return /^VERSION_CODENAME=(\S+)$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** Installs Mesa's Vulkan drivers (lavapipe) from Debian; bookworm takes them from backports. */
function installLavapipe(log: (l: string) => void): void {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const codename = osCodename();
  const args = ['install', '-y', '-q', '--no-install-recommends'];
  if (codename === 'bookworm') {
    fs.writeFileSync(
      '/etc/apt/sources.list.d/repo-lens-backports.sources',
      'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
    );
    args.push('-t', 'bookworm-backports');
  }
  for (const a of [['update', '-q'], [...args, 'mesa-vulkan-drivers', 'libvulkan1']]) {
    log(`$ apt-get ${a.join(' ')}`);
    const r = spawnSync('apt-get', a, { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`apt-get ${a[0]} failed: ${(r.stderr ?? '').trim().split('\n').pop()}`);
  }
}

/**
 * Resolves to null when a WebGPU adapter is there (installing lavapipe first under CI), else to the
 * reason to skip. Under CI a missing adapter after the install is an error, not a skip.
 */
export function prepareWebgpu(log: (l: string) => void): string | null {
  let probe = probeWebgpu();
  if (probe.ok) return null;
  const ci = process.env.CI === 'true' || process.env.CI === '1';
  const root = process.getuid?.() === 0;
  const apt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!ci || !root || !apt) {
    const how = osCodename() === 'bookworm' ? 'Mesa ≥ 24 from bookworm-backports (apt-get install -t bookworm-backports mesa-vulkan-drivers)' : 'apt-get install mesa-vulkan-drivers';
    return `no WebGPU adapter (${probe.why}); for a CPU one install lavapipe: ${how}`;
  }
  installLavapipe(log);
  probe = probeWebgpu();
  if (!probe.ok) throw new Error(`no WebGPU adapter even after installing lavapipe: ${probe.why}`);
  return null;
}
