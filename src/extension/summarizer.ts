/**
 * Runs core/summarize.ts in a worker thread so the extension host's event loop stays free while a
 * long analysis is summarised. The worker is started on first use and kept (it holds no state).
 */
import { Worker } from 'node:worker_threads';
import * as fs from 'node:fs';
import { summarizeRun, type SummaryInput, type SummaryOutput } from './core/summarize';

export class Summarizer {
  private worker?: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (o: SummaryOutput) => void; reject: (e: Error) => void }>();

  constructor(private readonly script: string) {}

  summarize(input: SummaryInput): Promise<SummaryOutput> {
    const w = this.ensureWorker();
    // Without the bundle (e.g. a development build without dist/), summarise inline.
    if (!w) return Promise.resolve().then(() => summarizeRun(input));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      w.ref();
      // Copied, not transferred: the run arrays may also sit in the InferenceHost's results cache.
      w.postMessage({ id, input });
    });
  }

  /** Starts the worker ahead of the first summary (no-op when it runs or there is no bundle). */
  warm(): void {
    this.ensureWorker();
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker) return this.worker;
    if (!fs.existsSync(this.script)) return undefined;
    const w = new Worker(this.script);
    w.unref();
    w.on('message', (m: { id: number; output?: SummaryOutput; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.output) p.resolve(m.output);
      else p.reject(new Error(m.error ?? 'summary failed'));
    });
    const fail = (e: Error) => {
      if (this.worker === w) this.worker = undefined;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the summary worker stopped (exit code ${code})`)));
    this.worker = w;
    return w;
  }

  dispose(): void {
    void this.worker?.terminate();
    this.worker = undefined;
  }
}
