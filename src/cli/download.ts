/**
 * `repo-lens download [<repo-id>] [--revision R]`: fetches a checkpoint from the Hugging Face hub
 * into the cache (src/engine/download/), showing progress on stderr. Endpoint, token and proxy
 * come from the environment (HF_ENDPOINT, HF_TOKEN, HTTPS_PROXY / NO_PROXY).
 */
import { cancelOnSigint } from './interrupt';
import { parseArgs } from 'node:util';
import {
  DEFAULT_REVISION,
  DownloadProgress,
  OFFICIAL_REPO_ID,
  downloadModel,
  formatBytes,
  formatDuration,
  parseRepoSpec,
  progressLine,
  repoIdProblem,
} from '../engine/download';
import { cacheBase } from '../engine/models';

export const DOWNLOAD_HELP = `Usage: repo-lens download [<repo-id>] [--revision R]

Downloads a checkpoint in the official RePo-OLMo2 layout from the Hugging Face hub: config.json,
the safetensors index and shards (or model.safetensors), tokenizer.json and tokenizer_config.json.
<repo-id> defaults to ${OFFICIAL_REPO_ID} (about 6 GB); --revision is a branch, tag or commit
(default ${DEFAULT_REVISION}; owner/name@R works too).

Files go to $REPO_LENS_CACHE/hub/<owner>--<name>/<revision>/ (default ~/.cache/repo-lens/hub/…);
afterwards \`--model <repo-id>\` uses them. An interrupted download (Ctrl-C, a cut connection, a
full disk) keeps what it has: run the same command again to resume. Large files are checked
against the sha256 the hub publishes before they are put in place.

Environment: HF_TOKEN (access token, for gated or private models; sent to the hub only, never to
the file host it redirects to), HF_ENDPOINT (default https://huggingface.co), HTTPS_PROXY /
https_proxy and NO_PROXY / no_proxy.
`;

export async function downloadCommand(args: string[], usage: (message: string) => Error): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { revision: { type: 'string', short: 'r' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(DOWNLOAD_HELP);
    return 0;
  }
  if (positionals.length > 1) throw usage(`download takes one repo id, got ${positionals.length}: ${positionals.join(' ')}`);
  const spec = positionals[0] ?? OFFICIAL_REPO_ID;
  const at = spec.indexOf('@');
  if (at >= 0 && values.revision !== undefined) throw usage('give the revision either as owner/name@R or with --revision, not both');
  const repoId = at >= 0 ? spec.slice(0, at) : spec;
  const problem = repoIdProblem(repoId);
  if (problem) throw usage(problem);
  const revision = values.revision ?? (at >= 0 ? spec.slice(at + 1) : DEFAULT_REVISION);
  if (!parseRepoSpec(`${repoId}@${revision}`)) throw usage(`"${revision}" is not a valid revision (branch, tag or commit)`);

  const cancel = cancelOnSigint('what was fetched is kept');
  const printer = progressPrinter();
  const t0 = Date.now();
  let last: DownloadProgress | undefined;
  try {
    const r = await downloadModel({
      repoId,
      revision,
      cacheRoot: cacheBase(),
      signal: cancel.signal,
      onProgress: (p) => {
        last = p;
        printer.update(p);
      },
    });
    printer.end();
    for (const w of r.warnings) process.stderr.write(`repo-lens: warning: ${w}\n`);
    const at = r.commit ? `${r.revision}, commit ${r.commit.slice(0, 10)}` : r.revision;
    const lines = [`${r.repoId} (${at}): ${formatBytes(r.totalBytes)} in ${r.dir}`];
    if (r.alreadyComplete) lines.push('already downloaded and up to date; nothing fetched');
    else {
      const fetched = r.files.filter((f) => f.fetched).length;
      const resumed = r.files.filter((f) => f.resumedFrom).length;
      lines.push(
        `fetched ${formatBytes(r.fetchedBytes)} in ${formatDuration((Date.now() - t0) / 1000)}: ${fetched} of ${r.files.length} files` +
          (resumed ? ` (${resumed} resumed)` : '') +
          (fetched < r.files.length ? `, the others were already here and verified` : ''),
      );
    }
    lines.push(`use it with: repo-lens analyze FILE --model ${r.spec}`);
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  } catch (e) {
    // The error is the one line that matters: the progress line gives way to it.
    printer.end();
    if (cancel.signal.aborted) {
      const kept = last && last.bytes > 0 ? ` (${formatBytes(last.bytes)} of ${formatBytes(last.totalBytes)} kept)` : '';
      process.stderr.write(`repo-lens: download cancelled${kept}; run the same command again to resume\n`);
      return 130;
    }
    throw e;
  } finally {
    cancel.release();
  }
}

/**
 * On a terminal: one line on stderr rewritten in place. Otherwise (a log, CI): a line when a file
 * starts or verification begins, and one every 15 s, so logs stay short.
 */
function progressPrinter(): { update(p: DownloadProgress): void; end(): void } {
  const tty = !!process.stderr.isTTY;
  let lastLine = 0;
  let shown = '';
  let key = '';
  let live = false;
  return {
    update(p) {
      if (p.phase === 'done') return;
      const text = `repo-lens: ${progressLine(p)}`;
      if (tty) {
        const width = Math.max(40, (process.stderr.columns || 100) - 1);
        const line = text.length > width ? text.slice(0, width - 1) + '…' : text.padEnd(width);
        if (line !== shown) process.stderr.write(`\r${line}`);
        shown = line;
        live = true;
        return;
      }
      if (p.phase === 'checking') return; // quick, and a failure there should print one line only
      const k = `${p.phase}:${p.file ?? ''}`;
      const now = Date.now();
      if (k !== key || now - lastLine >= 15_000) {
        process.stderr.write(`${text}\n`);
        key = k;
        lastLine = now;
      }
    },
    end() {
      // The live line is cleared: the summary or the error that follows says how it ended.
      if (live) process.stderr.write(`\r${' '.repeat(shown.length)}\r`);
      live = false;
    },
  };
}
