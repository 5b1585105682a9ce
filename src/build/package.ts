/**
 * Packages the extension as a platform-specific VSIX with @vscode/vsce (run by `npm run package`
 * after the bundles are built):
 *
 *   node out/src/build/package.js [--target linux-x64|linux-arm64|win32-x64|win32-arm64|darwin-arm64]
 *
 * The VSIX carries the bundles, the embedded models (when present) and onnxruntime-node with only
 * the target's native binary: .vscodeignore drops everything else, and this script adds the one
 * line that lets the target's binary folder back in.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EMBEDDED_MODELS, repoRoot } from '../engine/models';

/** vsce target → onnxruntime-node's binary folder (it ships no Intel macOS binary). */
export const ORT_BINARY_DIRS: Readonly<Record<string, string>> = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
  'darwin-arm64': 'darwin/arm64',
};

/** The ignore file for one target: the common .vscodeignore plus the target's binary folder. */
export function ignoreFileFor(target: string, common: string): string {
  const dir = ORT_BINARY_DIRS[target];
  if (!dir) throw new Error(`no onnxruntime-node binary for target ${target} (targets: ${Object.keys(ORT_BINARY_DIRS).join(', ')})`);
  return `${common.trimEnd()}\n# added for ${target}\n!node_modules/onnxruntime-node/bin/napi-v6/${dir}/**\n`;
}

function main(): number {
  const root = repoRoot();
  const args = process.argv.slice(2);
  const ti = args.indexOf('--target');
  const target = ti >= 0 ? args[ti + 1] : 'linux-x64';
  const ignore = ignoreFileFor(target, fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8'));
  for (const f of ['dist/extension.js', 'dist/summary-worker.js', 'dist/inference-child.js', 'dist/webview/explorer.js']) {
    if (!fs.existsSync(path.join(root, f))) throw new Error(`${f} is missing: run npm run build:extension first`);
  }
  const missing = Object.keys(EMBEDDED_MODELS).filter((m) => !fs.existsSync(path.join(root, 'models', m, 'config.json')));
  if (missing.length) {
    process.stderr.write(`repo-lens: warning: embedded model(s) ${missing.join(', ')} not in models/: the VSIX will work only with a model folder set in repoLens.model\n`);
  }
  const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version as string;
  const out = path.join(root, 'dist', `repo-lens-${version}-${target}.vsix`);
  const ignoreFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'repo-lens-vsce-')), '.vscodeignore');
  fs.writeFileSync(ignoreFile, ignore);
  const vsce = require.resolve('@vscode/vsce/vsce', { paths: [root] });
  const r = spawnSync(
    process.execPath,
    [vsce, 'package', '--target', target, '--out', out, '--ignoreFile', ignoreFile, '--skip-license', '--allow-missing-repository', '--no-rewrite-relative-links'],
    { cwd: root, stdio: 'inherit' },
  );
  fs.rmSync(path.dirname(ignoreFile), { recursive: true, force: true });
  if (r.status !== 0) return r.status ?? 1;
  process.stdout.write(`repo-lens: ${path.relative(process.cwd(), out)} (${(fs.statSync(out).size / 1048576).toFixed(1)} MiB)\n`);
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main();
  } catch (e) {
    process.stderr.write(`repo-lens: packaging failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
