/**
 * Builds the report's browser bundle: src/report/browser/main.ts (+ chart.js) → out/report/report.js,
 * one minified IIFE that the HTML report inlines. Run after `tsc -p .`:
 *
 *   node out/src/report/build.js
 *
 * esbuild is a development dependency: only this build step needs it, not the CLI.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../engine/models';
import { REPORT_BUNDLE_RELATIVE, checkBundleText } from './page';

export const REPORT_ENTRY_RELATIVE = path.join('src', 'report', 'browser', 'main.ts');

export async function buildReportBundle(root: string = repoRoot()): Promise<{ file: string; bytes: number }> {
  // Loaded lazily so that requiring this module does not need esbuild.
  const esbuild = await import('esbuild');
  const outfile = path.join(root, REPORT_BUNDLE_RELATIVE);
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [path.join(root, REPORT_ENTRY_RELATIVE)],
    bundle: true,
    minify: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2020'],
    // chart.js is MIT-licensed: keep its licence comment in the bundle.
    legalComments: 'inline',
    charset: 'utf8',
    write: false,
    logLevel: 'silent',
  });
  const js = result.outputFiles[0].text;
  checkBundleText(js);
  fs.mkdirSync(path.dirname(outfile), { recursive: true });
  // Write beside and rename, so a reader never sees half a bundle.
  const tmp = `${outfile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, js);
  fs.renameSync(tmp, outfile);
  return { file: outfile, bytes: Buffer.byteLength(js) };
}

if (require.main === module) {
  buildReportBundle().then(
    ({ file, bytes }) => process.stdout.write(`repo-lens: report bundle ${path.relative(process.cwd(), file)} (${Math.round(bytes / 1024)} KiB)\n`),
    (e) => {
      process.stderr.write(`repo-lens: report bundle build failed: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
