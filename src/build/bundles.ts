/**
 * Builds the VS Code extension's bundles with esbuild, one per target (run after `tsc -p .`):
 *
 *   dist/extension.js            extension host (node, cjs; `vscode` and onnxruntime-node external)
 *   dist/summary-worker.js       a worker thread of the extension host that summarises a finished run
 *                                (pure JS: curves, structure, needle split, the explorer's arrays)
 *   dist/inference-child.js      the inference child process (node, cjs; onnxruntime-node external:
 *                                its native binary ships in node_modules)
 *   dist/webview/explorer.js     the head explorer webview (browser, iife; chart.js, vscode-elements)
 *   dist/webview/explorer.css
 *
 *   node out/src/build/bundles.js [--dev]     (--dev: no minification, inline source maps)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../engine/models';

export interface BundleResult {
  file: string;
  bytes: number;
}

export async function buildExtensionBundles(opts: { root?: string; outDir?: string; dev?: boolean; only?: ('extension' | 'child' | 'webview')[] } = {}): Promise<BundleResult[]> {
  const esbuild = await import('esbuild');
  const root = opts.root ?? repoRoot();
  const outDir = opts.outDir ?? path.join(root, 'dist');
  const only = new Set(opts.only ?? ['extension', 'child', 'webview']);
  const common = {
    absWorkingDir: root,
    bundle: true,
    minify: !opts.dev,
    sourcemap: opts.dev ? ('inline' as const) : false,
    legalComments: 'inline' as const,
    charset: 'utf8' as const,
    logLevel: 'silent' as const,
  };
  const node = { ...common, platform: 'node' as const, format: 'cjs' as const, target: ['node20'] };
  const jobs: Promise<unknown>[] = [];
  const files: string[] = [];
  if (only.has('extension')) {
    const outfile = path.join(outDir, 'extension.js');
    files.push(outfile);
    jobs.push(esbuild.build({ ...node, entryPoints: [path.join(root, 'src/extension/extension.ts')], outfile, external: ['vscode', 'onnxruntime-node'] }));
    const summary = path.join(outDir, 'summary-worker.js');
    files.push(summary);
    jobs.push(esbuild.build({ ...node, entryPoints: [path.join(root, 'src/extension/summaryWorker.ts')], outfile: summary, external: ['vscode', 'onnxruntime-node'] }));
  }
  if (only.has('child')) {
    const outfile = path.join(outDir, 'inference-child.js');
    files.push(outfile);
    jobs.push(esbuild.build({ ...node, entryPoints: [path.join(root, 'src/engine/runtime/child.ts')], outfile, external: ['onnxruntime-node'] }));
  }
  if (only.has('webview')) {
    const outfile = path.join(outDir, 'webview', 'explorer.js');
    files.push(outfile);
    jobs.push(
      esbuild.build({ ...common, platform: 'browser', format: 'iife', target: ['chrome114'], entryPoints: [path.join(root, 'webview/explorer/main.ts')], outfile }),
    );
    fs.mkdirSync(path.dirname(outfile), { recursive: true });
    const css = path.join(outDir, 'webview', 'explorer.css');
    fs.copyFileSync(path.join(root, 'webview/explorer/explorer.css'), css);
    files.push(css);
  }
  await Promise.all(jobs);
  return files.map((file) => ({ file, bytes: fs.statSync(file).size }));
}

if (require.main === module) {
  buildExtensionBundles({ dev: process.argv.includes('--dev') }).then(
    (out) => {
      for (const b of out) process.stdout.write(`repo-lens: ${path.relative(process.cwd(), b.file)} (${Math.round(b.bytes / 1024)} KiB)\n`);
    },
    (e) => {
      process.stderr.write(`repo-lens: extension build failed: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
