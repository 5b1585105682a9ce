/**
 * The two ways InferenceHost can reach the serving side (serve.ts), behind one small interface:
 *
 * - 'worker': a worker_threads Worker in this process (worker.ts). Cheapest; what the CLI uses.
 *   A native crash in onnxruntime takes the whole process down with it.
 * - 'child-process': a child_process.fork of child.ts with an IPC channel (serialization
 *   'advanced', so typed arrays arrive as typed arrays). A native crash kills only the child; the
 *   host sees its exit code or signal. What the VS Code extension uses: its host must never crash.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { CHILD_INIT_ENV, type HostMessage, type InferenceTransportKind, type WorkerInit, type WorkerMessage } from './protocol';

export interface TransportEvents {
  message(m: WorkerMessage): void;
  /** An error the serving side could not report itself (uncaught exception, broken channel). */
  error(e: Error): void;
  /** The thread or process is gone. `detail` says how, for messages: "exit code 70", "killed by SIGSEGV". */
  exit(detail: string, code: number | null, signal: NodeJS.Signals | null): void;
}

export interface Transport {
  readonly kind: InferenceTransportKind;
  /** Process id of a child process (undefined for a worker thread). */
  readonly pid?: number;
  post(m: HostMessage): void;
  /** Keep this process alive while there is work (a busy server must not be stopped under it). */
  ref(): void;
  /** Let this process exit while idle. */
  unref(): void;
  /** Hard stop (used only when the host itself is going away and the server does not answer). */
  kill(): void;
}

/** Keeps the last bytes a child wrote to stderr, to explain a crash. */
const STDERR_TAIL_BYTES = 2048;

export function startTransport(kind: InferenceTransportKind, script: string, init: WorkerInit, on: TransportEvents): Transport {
  return kind === 'child-process' ? startChild(script, init, on) : startWorker(script, init, on);
}

function startWorker(script: string, init: WorkerInit, on: TransportEvents): Transport {
  const w = new Worker(script, { workerData: init });
  w.on('message', (m: WorkerMessage) => on.message(m));
  w.on('error', (e) => on.error(e));
  w.on('messageerror', (e) => on.error(e));
  w.once('exit', (code) => on.exit(`exit code ${code}`, code, null));
  return {
    kind: 'worker',
    post: (m) => w.postMessage(m),
    ref: () => w.ref(),
    unref: () => w.unref(),
    kill: () => void w.terminate(),
  };
}

function startChild(script: string, init: WorkerInit, on: TransportEvents): Transport {
  const child: ChildProcess = fork(script, [], {
    serialization: 'advanced',
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, [CHILD_INIT_ENV]: JSON.stringify(init) },
    // The extension host runs under Electron: its execArgv (inspector ports and the like) must not
    // leak into the child.
    execArgv: [],
  });
  let stderrTail = '';
  child.stdout?.resume(); // drained so a chatty library can never block on a full pipe
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    stderrTail = (stderrTail + s).slice(-STDERR_TAIL_BYTES);
  });
  child.on('message', (m) => on.message(m as WorkerMessage));
  child.on('error', (e) => on.error(e));
  child.once('exit', (code, signal) => {
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    const tail = stderrTail.trim().split('\n').slice(-3).join(' | ');
    on.exit(tail && code !== 0 ? `${how}; its last output: ${tail}` : how, code, signal);
  });
  const streams = () => [child.stdout, child.stderr] as Array<{ ref?: () => void; unref?: () => void } | null>;
  // A child with an open IPC channel keeps this process alive; so do its pipes. Both follow ref().
  const channel = () => (child as unknown as { channel?: { ref(): void; unref(): void } }).channel;
  return {
    kind: 'child-process',
    pid: child.pid,
    post: (m) => {
      if (child.connected) child.send(m);
    },
    ref: () => {
      child.ref();
      channel()?.ref();
      for (const s of streams()) s?.ref?.();
    },
    unref: () => {
      child.unref();
      channel()?.unref();
      for (const s of streams()) s?.unref?.();
    },
    kill: () => void child.kill('SIGKILL'),
  };
}
