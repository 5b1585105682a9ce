/**
 * Worker-thread entry (bundled to dist/summary-worker.js): runs core/summarize.ts for the
 * extension host, one message in, one message out. Pure JS: no native code runs here.
 */
import { parentPort } from 'node:worker_threads';
import { payloadBuffers, summarizeRun, type SummaryInput } from './core/summarize';

const port = parentPort;
if (!port) throw new Error('summary-worker.js must run as a worker thread');
port.on('message', (m: { id: number; input: SummaryInput }) => {
  try {
    const output = summarizeRun(m.input);
    port.postMessage({ id: m.id, output }, payloadBuffers(output.payload));
  } catch (e) {
    port.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
});
