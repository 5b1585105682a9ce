/**
 * Entry point of the worker_threads Worker started by InferenceHost (transport 'worker', the CLI's
 * default): serves the protocol of protocol.ts over the thread's port. The work is in serve.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { WorkerInit } from './protocol';
import { serveInference } from './serve';

const port = parentPort;
if (!port) throw new Error('runtime/worker.js must be started as a worker thread by InferenceHost');
serveInference(
  {
    post: (m, transfer = []) => port.postMessage(m, transfer),
    onMessage: (listener) => port.on('message', listener),
  },
  workerData as WorkerInit,
);
