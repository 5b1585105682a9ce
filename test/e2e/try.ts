/**
 * `npm run try`: the extension in a real VS Code on a machine without one. Builds the VSIX,
 * installs it into code-server (set up as for the end-to-end test, see setup.ts), starts it on
 * 127.0.0.1 with a copy of examples/ as the workspace and rag-prompt.txt open, prints the address,
 * and stays in the foreground until Ctrl-C.
 *
 *   npm run try [-- --port N]       (default: 8123, or a free port when that one is taken)
 *
 * Its state (settings, open editors, the workspace copy and whatever you export into it) is kept in
 * .cache/e2e/try/ between runs; delete that folder to start afresh.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildVsix, installExtension, startCodeServer, stateDirs, workbenchUrl } from './codeServer';
import { ROOT, cacheDir, prepareE2e, type Log } from './setup';

const log: Log = (l) => process.stdout.write(`try: ${l}\n`);

async function main(): Promise<number> {
  const pi = process.argv.indexOf('--port');
  const port = pi >= 0 ? Number(process.argv[pi + 1]) : 8123;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port wants a port number, not ${process.argv[pi + 1]}`);

  // No browser needed here: the user brings their own.
  const prep = await prepareE2e({ browser: false, log });
  if ('skip' in prep) {
    process.stderr.write(`try: cannot set up code-server: ${prep.skip}\n`);
    return 1;
  }
  const { tools } = prep;
  const vsix = await buildVsix(log);

  const state = path.join(cacheDir(), 'try');
  const workspace = path.join(state, 'workspace');
  fs.mkdirSync(workspace, { recursive: true });
  // Missing examples are copied in; files already there (perhaps edited) are left alone.
  for (const f of fs.readdirSync(path.join(ROOT, 'examples'))) {
    const to = path.join(workspace, f);
    if (!fs.existsSync(to)) fs.copyFileSync(path.join(ROOT, 'examples', f), to);
  }
  const dirs = stateDirs(path.join(state, 'code-server'));
  await installExtension(tools, dirs, vsix, log);
  const cs = await startCodeServer(tools, dirs, { folder: workspace, port, log });

  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`${why}: stopping code-server`);
    void cs.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('Ctrl-C'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => stop('SIGHUP'));

  const url = workbenchUrl(cs, workspace, path.join(workspace, 'rag-prompt.txt'));
  process.stdout.write(
    [
      '',
      `RePo Lens is running in code-server (VS Code ${codeVersion(tools.codeServer)}), on this machine only (127.0.0.1:${cs.port}).`,
      '',
      `  Open:  ${url}`,
      '',
      `  From another machine: ssh -L ${cs.port}:127.0.0.1:${cs.port} <this host>, then open the same address there.`,
      '  Try: select text (or nothing), right-click → Analyze with RePo; hover a token; the head explorer',
      '  opens in the panel (RePo Lens). Workspace: ' + path.relative(ROOT, workspace) + '/ (a copy of examples/).',
      '',
      'Ctrl-C stops it.',
      '',
    ].join('\n'),
  );
  const code = await new Promise<number>((resolve) => cs.process.once('exit', (c) => resolve(c ?? 0)));
  if (!stopping) {
    process.stderr.write(`try: code-server stopped by itself (exit ${code}):\n${cs.output().slice(-3000)}\n`);
    return 1;
  }
  return 0;
}

/** The VS Code version inside code-server (entry: out/node/entry.js, VS Code in lib/vscode). */
function codeVersion(entry: string): string {
  try {
    const pkg = path.join(path.dirname(entry), '..', '..', 'lib', 'vscode', 'package.json');
    return JSON.parse(fs.readFileSync(pkg, 'utf8')).version as string;
  } catch {
    return '?';
  }
}

main().then(
  (code) => {
    if (code) process.exit(code);
  },
  (e) => {
    process.stderr.write(`try: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
