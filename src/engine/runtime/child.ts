/**
 * Entry point of the child process started by InferenceHost (transport 'child-process', what the
 * VS Code extension uses): serves the protocol of protocol.ts over the IPC channel of
 * child_process.fork (serialization 'advanced', so typed arrays cross intact). A native crash in
 * onnxruntime here kills only this process, never the extension host.
 *
 * The WorkerInit comes in the environment variable named by CHILD_INIT_ENV (JSON).
 */
import { CHILD_INIT_ENV, type HostMessage, type WorkerInit } from './protocol';
import { serveInference } from './serve';

if (typeof process.send !== 'function') {
  throw new Error('runtime/child.js must be started with child_process.fork by InferenceHost');
}
const send = process.send.bind(process);
let initData: WorkerInit;
try {
  initData = JSON.parse(process.env[CHILD_INIT_ENV] ?? 'null') as WorkerInit;
} catch {
  initData = { protocol: -1 } as WorkerInit;
}
// The host went away (closed, or crashed itself): nothing can receive our answers, so stop.
process.on('disconnect', () => process.exit(0));
serveInference(
  {
    // Transfer lists mean nothing across processes: the advanced serializer copies the buffers.
    post: (m) => {
      send(m);
    },
    onMessage: (listener) => process.on('message', (m) => listener(m as HostMessage)),
  },
  initData,
);
