/**
 * Builds the VSIX, installs it into code-server and starts code-server on 127.0.0.1: the launch code
 * shared by the end-to-end test (run.ts) and `npm run try` (try.ts). Every run gets its own
 * config, user-data, extensions and XDG folders under one state folder, so nothing of the user's
 * own VS Code or code-server is read or changed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { ROOT, run, type E2eTools, type Log } from './setup';

export const VSIX = path.join(ROOT, 'dist', `repo-lens-${JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version}-linux-x64.vsix`);

/** User settings: no welcome pages, chat, telemetry or update checks, so the workbench is quiet and the same each run. */
export const BASE_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'chat.disableAIFeatures': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'editor.wordWrap': 'on',
};

/** `npm run package`: the same command a user runs, so the test exercises the real VSIX. */
export async function buildVsix(log: Log): Promise<string> {
  const npm = process.env.npm_execpath && /npm-cli\.js$/.test(process.env.npm_execpath) ? [process.execPath, process.env.npm_execpath] : ['npm'];
  await run(npm[0], [...npm.slice(1), 'run', '--silent', 'package'], { cwd: ROOT, log });
  if (!fs.existsSync(VSIX)) throw new Error(`npm run package did not write ${VSIX}`);
  return VSIX;
}

export interface StateDirs {
  root: string;
  config: string;
  userData: string;
  extensions: string;
  env: NodeJS.ProcessEnv;
}

/** The state folder's layout, created; settings written to its user-data folder unless it has some (a kept `try` folder keeps the user's changes). */
export function stateDirs(root: string, settings: Record<string, unknown> = BASE_SETTINGS): StateDirs {
  const xdg = (n: string) => path.join(root, 'xdg', n);
  const dirs: StateDirs = {
    root,
    config: path.join(root, 'config.yaml'),
    userData: path.join(root, 'user-data'),
    extensions: path.join(root, 'extensions'),
    env: {
      XDG_CONFIG_HOME: xdg('config'),
      XDG_DATA_HOME: xdg('data'),
      XDG_CACHE_HOME: xdg('cache'),
      XDG_STATE_HOME: xdg('state'),
      XDG_RUNTIME_DIR: xdg('runtime'),
    },
  };
  for (const d of [dirs.userData, dirs.extensions, ...Object.values(dirs.env)]) fs.mkdirSync(d as string, { recursive: true, mode: 0o700 });
  // bind-addr and auth are also given on the command line; the file only stops code-server from
  // writing a default config (with a generated password) under the XDG folder.
  fs.writeFileSync(dirs.config, 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
  fs.mkdirSync(path.join(dirs.userData, 'User'), { recursive: true });
  const settingsFile = path.join(dirs.userData, 'User', 'settings.json');
  if (!fs.existsSync(settingsFile)) fs.writeFileSync(settingsFile, JSON.stringify(settings, null, 2));
  return dirs;
}

function codeServerEnv(tools: E2eTools, dirs: StateDirs): NodeJS.ProcessEnv {
  // Node 24 first on PATH for code-server and what it starts (its extension host), nobody else.
  const env: NodeJS.ProcessEnv = { ...process.env, ...dirs.env, PATH: `${path.dirname(tools.node)}${path.delimiter}${process.env.PATH ?? ''}` };
  for (const k of Object.keys(env)) if (k.startsWith('npm_') || k.startsWith('VSCODE_')) delete env[k];
  delete env.PASSWORD;
  delete env.HASHED_PASSWORD;
  return env;
}

function commonArgs(dirs: StateDirs): string[] {
  return ['--config', dirs.config, '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions, '--disable-telemetry', '--disable-update-check'];
}

export async function installExtension(tools: E2eTools, dirs: StateDirs, vsix: string, log: Log): Promise<void> {
  await run(tools.node, [tools.codeServer, ...commonArgs(dirs), '--force', '--install-extension', vsix], { env: codeServerEnv(tools, dirs), log });
}

export function freePort(preferred = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', (e: NodeJS.ErrnoException) => (preferred && e.code === 'EADDRINUSE' ? freePort(0).then(resolve, reject) : reject(e)));
    s.listen(preferred, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function get(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.setTimeout(2000, () => req.destroy());
  });
}

export interface RunningCodeServer {
  port: number;
  origin: string;
  process: ChildProcess;
  /** Everything code-server printed so far (for failure reports). */
  output(): string;
  stop(): Promise<void>;
}

/** Starts code-server on 127.0.0.1 and resolves once it answers /healthz. */
export async function startCodeServer(
  tools: E2eTools,
  dirs: StateDirs,
  opts: { folder: string; port?: number; log: Log; echo?: boolean; timeoutMs?: number },
): Promise<RunningCodeServer> {
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    // Another process may take a free port between the probe and code-server's bind: try again.
    const port = await freePort(attempt === 0 ? (opts.port ?? 0) : 0);
    const args = [
      tools.codeServer,
      ...commonArgs(dirs),
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--auth',
      'none',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--reconnection-grace-time',
      '5',
      opts.folder,
    ];
    const child = spawn(tools.node, args, { env: codeServerEnv(tools, dirs), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.length > 200_000) out = out.slice(-100_000);
      if (opts.echo) process.stdout.write(d);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    let exited = false;
    const exitedP = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
    // It runs in its own process group (so that stop() reaches its extension host too): make sure
    // it goes when this process does, however that happens short of SIGKILL.
    const onExit = () => {
      if (!exited) {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    };
    process.once('exit', onExit);
    child.once('exit', () => process.removeListener('exit', onExit));
    const origin = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    while (!exited && Date.now() < deadline) {
      if ((await get(`${origin}/healthz`)) === 200) {
        return {
          port,
          origin,
          process: child,
          output: () => out,
          stop: async () => {
            if (exited) return;
            // The whole process group: code-server's extension host and our inference child too.
            try {
              process.kill(-child.pid!, 'SIGTERM');
            } catch {
              /* already gone */
            }
            const t = setTimeout(() => {
              try {
                process.kill(-child.pid!, 'SIGKILL');
              } catch {
                /* already gone */
              }
            }, 5000);
            await exitedP;
            clearTimeout(t);
          },
        };
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    if (!exited) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
      throw new Error(`code-server did not answer on ${origin} within ${Math.round((opts.timeoutMs ?? 60_000) / 1000)} s:\n${out.slice(-4000)}`);
    }
    lastError = out;
    if (!/EADDRINUSE/.test(out)) break;
    opts.log(`port ${port} was taken; trying another`);
  }
  throw new Error(`code-server exited before it was ready:\n${lastError.slice(-4000)}`);
}

/** The workbench address with `folder` open and, optionally, one file opened in an editor. */
export function workbenchUrl(cs: { origin: string; port: number }, folder: string, openFile?: string): string {
  // encodeURI keeps the folder's slashes readable; the payload (JSON) needs full encoding.
  let url = `${cs.origin}/?folder=${encodeURI(folder).replace(/[?&#+]/g, encodeURIComponent)}`;
  if (openFile) url += `&payload=${encodeURIComponent(JSON.stringify([['openFile', `vscode-remote://127.0.0.1:${cs.port}${encodeURI(openFile)}`]]))}`;
  return url;
}
