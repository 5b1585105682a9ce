/**
 * repo-lens command line: `analyze`, `download`, `models`, `--help`.
 *
 * Error policy: every failure the user can cause (bad option, missing file, unknown model, bad
 * range, text too long…) is reported as ONE line "repo-lens: …" on stderr and a non-zero exit code
 * (2 for usage errors, 1 for everything else). All checks that need no model run are done before
 * anything is printed or converted, and the --json file is written atomically (temporary file in
 * the same folder, then rename), so a failed run never leaves a partial output file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  AnalysisError,
  AnalysisJson,
  DEFAULT_RECENT_WINDOW,
  TargetChoice,
  TextRange,
  buildAnalysis,
  chooseNeedle,
  chooseQuery,
  findNeedleSentence,
  parseRangeSpec,
  planAnalysis,
} from '../engine/analysis';
import type { RunResult } from '../engine/model/types';
import { OFFICIAL_REPO_ID, formatBytes, hubCacheDir, listDownloaded } from '../engine/download';
import { cacheBase, listEmbeddedModels, modelCacheDir, repoRoot } from '../engine/models';
import { InferenceHost, isAbortError } from '../engine/runtime';
import { loadReportBundle, renderReportHtml } from '../report/page';
import { downloadCommand } from './download';
import { cancelOnSigint } from './interrupt';
import { summary } from './summary';

/** A mistake in how the command was called: exit code 2 and a pointer to --help. */
class UsageError extends Error {}

const HELP = `repo-lens: see how a RePo language model re-positions a prompt.

Usage:
  repo-lens analyze <file|-> --model <name-or-folder> [options]
  repo-lens download [<repo-id>] [--revision R]   (default ${OFFICIAL_REPO_ID}; --help for more)
  repo-lens models
  repo-lens --help

analyze options:
  --model M              embedded model name (see \`repo-lens models\`), a checkpoint folder in the
                         official RePo/OLMo-2 layout (config.json + safetensors), or the Hugging
                         Face id of a model fetched with \`repo-lens download\` (owner/name)
  --query-range A:B      query span (default: the question line, see below)
  --query-text TEXT      query = the last occurrence of TEXT
  --needle-range A:B     needle span; adds needle attention mass per layer and head
  --needle-text TEXT     needle = the first occurrence of TEXT
                         (default: found automatically, see below)
  --no-ablation          skip the second forward pass with integer positions (the needle split
                         then has no integer side)
  --recent-window K      tokens before the query counted as "recent" in the needle split (default 32)
  --integer-positions    feed integer positions 0..T-1 to the RePo layers (ablation)
  --threads N            CPU threads for inference
  --device auto|cpu|cuda|webgpu  where the model runs (default auto: CUDA when its provider loads,
                         else CPU; webgpu: the WebGPU provider bundled with onnxruntime-node, any
                         GPU with a Vulkan driver on Linux, no CUDA install)
  --storage auto|fp32|fp16  weight storage of the converted ONNX file (default auto: fp16 when
                         running on CUDA, fp32 on the CPU and on WebGPU)
  --yarn 2|4             extend the model's context with YaRN by this factor (as the paper's 8K and
                         16K evaluations); converted separately, the checkpoint is not changed
  --max-tokens N         refuse texts longer than N tokens (default: the model's context length)
  --truncate             analyse only the first tokens of a text that is too long (the model's
                         context, or --max-tokens), instead of refusing it
  --json OUT             write the analysis JSON (schema repo-lens/analysis@1) to OUT ("-" = stdout);
                         a short summary is printed unless OUT is "-"
  --html OUT             write a self-contained HTML report (works offline, from file://)

Default query: the last non-blank line when it is a question (or one of the 2 lines before it is);
when the text ends with an "Answer:" line, that line and the one before it; else the last
non-blank line. Default needle: the sentence outside the query that shares the rarest phrase with
it (e.g. "...magic number for X" in a RULER prompt); none when no rare word is shared.

Offsets A:B are UTF-16 code-unit offsets into the file's text, end exclusive (what editors and
JavaScript use). The file is read as UTF-8; a leading byte-order mark is dropped and offsets count
from the first character after it. "-" reads the text from stdin.

Converted models are cached in $REPO_LENS_CACHE/models (default ~/.cache/repo-lens/models).
`;

export async function main(argv: string[]): Promise<number> {
  try {
    const [command, ...rest] = argv;
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    }
    if (command === '--version' || command === '-v') {
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    }
    if (command === 'analyze') return await analyze(rest);
    if (command === 'models') return models(rest);
    if (command === 'download') return await downloadCommand(rest, (m) => new UsageError(m));
    throw new UsageError(`unknown command "${command}" (commands: analyze, download, models)`);
  } catch (e) {
    return fail(e);
  }
}

/** Prints the single error line and picks the exit code. */
function fail(e: unknown): number {
  const usage = e instanceof UsageError || (e as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS');
  let msg = e instanceof Error ? e.message : String(e);
  if ((e as { code?: string })?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    // Node's text ends with a long hint about "--"; the option's name is what matters.
    const name = /'([^']+)'/.exec(msg)?.[1];
    if (name) msg = `unknown option ${name}`;
  }
  msg = msg.replace(/\s*\n\s*/g, ' ').trim();
  if (usage) msg += ' (see repo-lens --help)';
  process.stderr.write(`repo-lens: ${msg}\n`);
  return usage ? 2 : 1;
}

function models(args: string[]): number {
  const { values } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write('Usage: repo-lens models\nLists the embedded models, the models downloaded from the Hugging Face hub and the conversion cache folder.\n');
    return 0;
  }
  const lines: string[] = ['Embedded models (from ' + path.join(repoRoot(), 'models') + '):'];
  for (const m of listEmbeddedModels()) {
    lines.push(`  ${m.name.padEnd(10)} ${m.available ? 'available' : 'MISSING  '}  ${m.description}`);
    lines.push(`  ${''.padEnd(10)} ${m.detail}`);
  }
  lines.push('');
  const downloaded = listDownloaded(cacheBase());
  lines.push(`Downloaded from the Hugging Face hub (into ${hubCacheDir(cacheBase())}):`);
  if (downloaded.length === 0) lines.push(`  none yet (repo-lens download ${OFFICIAL_REPO_ID})`);
  for (const d of downloaded) {
    lines.push(`  ${d.spec}  ${d.complete ? 'available' : 'INCOMPLETE'}  ${formatBytes(d.bytes)}  ${d.dir}`);
    if (!d.complete) lines.push(`    ${d.problem}: run repo-lens download ${d.repoId}${d.revision === 'main' ? '' : ` --revision ${d.revision}`} to finish it`);
  }
  lines.push('');
  lines.push('Any other --model value is a checkpoint folder in the official RePo/OLMo-2 layout');
  lines.push('(config.json + model.safetensors, or model.safetensors.index.json + shards).');
  lines.push(`Converted ONNX files are cached in ${modelCacheDir()}.`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

interface AnalyzeOptions {
  input: string;
  model: string;
  queryRange?: TextRange;
  needleRange?: TextRange;
  integerPositions: boolean;
  threads?: number;
  device: 'auto' | 'cpu' | 'cuda' | 'webgpu';
  storage: 'auto' | 'fp32' | 'fp16';
  yarnFactor?: number;
  maxTokens?: number;
  truncate: boolean;
  json?: string;
  queryText?: string;
  needleText?: string;
  /** Run the other position mode too, for the needle split (off with --no-ablation). */
  ablation: boolean;
  recentWindow: number;
  html?: string;
}

function parseAnalyzeArgs(args: string[]): AnalyzeOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      model: { type: 'string', short: 'm' },
      'query-range': { type: 'string' },
      'needle-range': { type: 'string' },
      'integer-positions': { type: 'boolean' },
      threads: { type: 'string' },
      device: { type: 'string' },
      storage: { type: 'string' },
      yarn: { type: 'string' },
      'max-tokens': { type: 'string' },
      truncate: { type: 'boolean' },
      json: { type: 'string' },
      'query-text': { type: 'string' },
      'needle-text': { type: 'string' },
      'no-ablation': { type: 'boolean' },
      'recent-window': { type: 'string' },
      html: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length === 0) throw new UsageError('analyze needs a file to read (or - for stdin)');
  if (positionals.length > 1) throw new UsageError(`analyze takes one file, got ${positionals.length}: ${positionals.join(' ')}`);
  if (!values.model) throw new UsageError('analyze needs --model <name-or-folder>');
  const device = values.device ?? 'auto';
  if (device !== 'auto' && device !== 'cpu' && device !== 'cuda' && device !== 'webgpu') {
    throw new UsageError(`--device must be auto, cpu, cuda or webgpu, got "${device}"`);
  }
  const storage = values.storage ?? 'auto';
  if (storage !== 'auto' && storage !== 'fp32' && storage !== 'fp16') {
    throw new UsageError(`--storage must be auto, fp32 or fp16, got "${storage}"`);
  }
  let yarnFactor: number | undefined;
  if (values.yarn !== undefined) {
    yarnFactor = Number(values.yarn);
    if (values.yarn !== '2' && values.yarn !== '4') throw new UsageError(`--yarn must be 2 or 4, got "${values.yarn}"`);
  }
  let threads: number | undefined;
  if (values.threads !== undefined) {
    threads = Number(values.threads);
    if (!/^\d+$/.test(values.threads) || !Number.isSafeInteger(threads) || threads < 1) {
      throw new UsageError(`--threads must be a positive integer, got "${values.threads}"`);
    }
  }
  let maxTokens: number | undefined;
  if (values['max-tokens'] !== undefined) {
    maxTokens = Number(values['max-tokens']);
    if (!/^\d+$/.test(values['max-tokens']) || !Number.isSafeInteger(maxTokens) || maxTokens < 1) {
      throw new UsageError(`--max-tokens must be a positive integer, got "${values['max-tokens']}"`);
    }
  }
  let recentWindow = DEFAULT_RECENT_WINDOW;
  if (values['recent-window'] !== undefined) {
    recentWindow = Number(values['recent-window']);
    if (!/^\d+$/.test(values['recent-window']) || !Number.isSafeInteger(recentWindow)) {
      throw new UsageError(`--recent-window must be an integer ≥ 0, got "${values['recent-window']}"`);
    }
  }
  if (values['query-range'] !== undefined && values['query-text'] !== undefined) throw new UsageError('give either --query-range or --query-text, not both');
  if (values['needle-range'] !== undefined && values['needle-text'] !== undefined) throw new UsageError('give either --needle-range or --needle-text, not both');
  for (const k of ['query-text', 'needle-text'] as const) if (values[k] === '') throw new UsageError(`--${k} is empty`);
  if (values.html === '-') throw new UsageError('--html needs a file name (the report is not written to stdout)');
  const range = (v: string | undefined, label: string) => {
    if (v === undefined) return undefined;
    try {
      return parseRangeSpec(v, label);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  };
  return {
    input: positionals[0],
    model: values.model,
    queryRange: range(values['query-range'], '--query-range'),
    needleRange: range(values['needle-range'], '--needle-range'),
    integerPositions: values['integer-positions'] ?? false,
    threads,
    device,
    storage,
    yarnFactor,
    maxTokens,
    truncate: values.truncate ?? false,
    json: values.json,
    queryText: values['query-text'],
    needleText: values['needle-text'],
    ablation: !values['no-ablation'],
    recentWindow,
    html: values.html,
  };
}

/**
 * Query and needle from the options, chosen before the run (see analysis/targets.ts). Under
 * --truncate the analysed part is known only after tokenizing (in the worker), so a query that is
 * not given is left to the worker's default (the last non-blank line of the analysed part) rather
 * than detected on a whole text that may be cut. An automatic needle is found after the run.
 */
function chooseCliTargets(text: string, opts: AnalyzeOptions): { query?: TargetChoice; needle?: TargetChoice } {
  const explicitQuery = opts.queryRange !== undefined || opts.queryText !== undefined;
  const query = explicitQuery || !opts.truncate ? chooseQuery(text, { range: opts.queryRange, text: opts.queryText }) : undefined;
  const explicitNeedle = opts.needleRange !== undefined || opts.needleText !== undefined;
  const needle = explicitNeedle ? chooseNeedle(text, query ?? { start: 0, end: 0 }, { range: opts.needleRange, text: opts.needleText }) : undefined;
  return { query, needle };
}

/** Progress lines on stderr for long runs (or on a terminal); short runs stay quiet. */
const LONG_RUN_TOKENS = 2048;
function progressNote(tokens: number, message: string): void {
  if (process.stderr.isTTY || tokens >= LONG_RUN_TOKENS) process.stderr.write(`repo-lens: ${message}\n`);
}

/** Text of the input, decoded as UTF-8, with a leading BOM removed (and reported). */
interface InputText {
  text: string;
  bomStripped: boolean;
  warnings: string[];
}

async function readInput(input: string): Promise<InputText> {
  let bytes: Buffer;
  if (input === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
    bytes = Buffer.concat(chunks);
  } else {
    try {
      bytes = fs.readFileSync(input);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new AnalysisError(`file ${input} does not exist`);
      if (code === 'EISDIR') throw new AnalysisError(`${input} is a folder, not a text file`);
      throw new AnalysisError(`cannot read ${input}: ${(e as Error).message}`);
    }
  }
  const warnings: string[] = [];
  let text: string;
  try {
    // ignoreBOM keeps a leading BOM in the string so we can strip it ourselves and say so.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    text = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(bytes);
    warnings.push(`${input === '-' ? 'stdin' : input} is not valid UTF-8; invalid bytes were read as U+FFFD`);
  }
  // Decision: a leading U+FEFF is an encoding signature, not content. Drop it so it is not
  // tokenized (3 byte tokens of noise at position 0); offsets then count from the character after it.
  const bomStripped = text.charCodeAt(0) === 0xfeff;
  if (bomStripped) text = text.slice(1);
  return { text, bomStripped, warnings };
}

/** Fails early (before converting anything) when the output file cannot be created. */
function checkOutputPath(out: string): void {
  if (out === '-') return;
  const dir = path.dirname(path.resolve(out));
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new AnalysisError(`cannot write ${out}: folder ${dir} does not exist`);
  }
  if (!st.isDirectory()) throw new AnalysisError(`cannot write ${out}: ${dir} is not a folder`);
  try {
    if (fs.statSync(out).isDirectory()) throw new AnalysisError(`cannot write ${out}: it is a folder`);
  } catch (e) {
    if (e instanceof AnalysisError) throw e;
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new AnalysisError(`cannot write ${out}: folder ${dir} is not writable`);
  }
}

/** Writes to a temporary file beside `out` and renames it into place. */
function writeAtomic(out: string, data: string): void {
  const abs = path.resolve(out);
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.${process.pid}.${Date.now()}.tmp`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, abs);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new AnalysisError(`cannot write ${out}: ${(e as Error).message}`);
  }
}

async function analyze(args: string[]): Promise<number> {
  const opts = parseAnalyzeArgs(args);
  if (opts === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const t0 = performance.now();
  if (opts.json) checkOutputPath(opts.json);
  let reportBundle: string | undefined;
  if (opts.html) {
    checkOutputPath(opts.html);
    // Fail before any model work when the report bundle was not built.
    reportBundle = loadReportBundle();
  }

  const input = await readInput(opts.input);
  const shownInput = opts.input === '-' ? 'stdin' : opts.input;
  if (input.text.length === 0) {
    throw new AnalysisError(`${shownInput} is empty${input.bomStripped ? ' (it holds only a byte-order mark)' : ''}`);
  }
  const targets = chooseCliTargets(input.text, opts);

  // The model runs through the same InferenceHost (worker thread) as the extension. The worker
  // makes every check that needs no model (tokens, ranges, length, vocabulary, attention size)
  // before converting or loading anything, so a bad request fails fast and prints nothing else.
  const host = new InferenceHost({ executionProvider: opts.device, threads: opts.threads, resultCacheBytes: 0 });
  // Nothing has been written yet (output is written only after a complete result, atomically);
  // an interrupted conversion removes its temporary folder.
  const cancel = cancelOnSigint('waiting for the current step to end');
  const warnings = [...input.warnings];
  let analysis: AnalysisJson;
  let name = opts.model;
  try {
    let convertProgress: ((message: string, fraction: number) => void) | undefined;
    const r = await host.analyze(
      {
        model: opts.model,
        text: input.text,
        queryRange: targets.query && { start: targets.query.start, end: targets.query.end },
        needleRange: targets.needle && { start: targets.needle.start, end: targets.needle.end },
        integerPositions: opts.integerPositions,
        storage: opts.storage,
        yarnFactor: opts.yarnFactor,
        overflow: opts.truncate ? 'truncate' : 'refuse',
        maxTokens: opts.maxTokens,
        label: shownInput,
      },
      {
        signal: cancel.signal,
        onProgress: (p) => {
          if (p.phase === 'tokenized') {
            name = p.model;
            // Past this point the request is valid: show warnings before a possibly long conversion.
            for (const w of [...input.warnings, ...p.warnings]) process.stderr.write(`repo-lens: warning: ${w}\n`);
          } else if (p.phase === 'converting') {
            convertProgress ??= progressPrinter(name);
            convertProgress(p.message, p.fraction);
          } else if (p.phase === 'running') {
            progressNote(p.tokens, `running ${name} on ${p.tokens} tokens (${opts.integerPositions ? 'integer' : 'learned'} positions)`);
          }
        },
      },
    );
    name = r.model.name;
    if (!r.model.cache.hit) {
      process.stderr.write(`repo-lens: converted ${name} in ${(r.timings.convertMs / 1000).toFixed(1)} s (cached in ${r.model.cache.dir})\n`);
    }
    warnings.push(...r.warnings);
    const info = r.model.info;
    const T = r.encoding.ids.length;
    // The plan with how query and needle were chosen; an automatic needle is looked for in the
    // analysed part of the text only. Query tokens are the ones the worker ran.
    const analysed = r.truncated ? input.text.slice(0, r.truncated.endOffset) : input.text;
    const query: TargetChoice = targets.query ?? {
      start: r.plan.query.start,
      end: r.plan.query.end,
      source: 'default',
      note: 'last non-blank line of the analysed part (--truncate)',
    };
    const needle = targets.needle ?? findNeedleSentence(analysed, query);
    const plan = planAnalysis(analysed, r.encoding, { queryRange: query, needleRange: needle });
    // The needle split compares with the other position mode: a second forward pass of the same
    // request. A model without RePo layers computes the same thing in both modes.
    let ablation: RunResult | undefined;
    let ablationRunMs: number | undefined;
    if (opts.ablation && plan.needle) {
      if (info.repoLayers.length === 0) ablation = r.run;
      else {
        progressNote(T, `second pass with ${opts.integerPositions ? 'learned' : 'integer'} positions (needle split; --no-ablation skips it)`);
        const r2 = await host.analyze(
          {
            model: opts.model,
            text: input.text,
            queryRange: { start: r.plan.query.start, end: r.plan.query.end },
            integerPositions: !opts.integerPositions,
            storage: opts.storage,
            yarnFactor: opts.yarnFactor,
            overflow: opts.truncate ? 'truncate' : 'refuse',
            maxTokens: opts.maxTokens,
            label: shownInput,
          },
          { signal: cancel.signal },
        );
        ablation = r2.run;
        ablationRunMs = r2.timings.runMs;
      }
    }
    progressNote(T, 'summarising curves, structure and attention');
    analysis = buildAnalysis({
      text: input.text,
      bomStripped: input.bomStripped,
      enc: r.encoding,
      info,
      result: r.run,
      plan,
      integerPositions: opts.integerPositions,
      ablation,
      recentWindow: opts.recentWindow,
      modelExtra: {
        source: r.model.kind,
        path: r.model.dir,
        vocabSize: info.vocabSize,
        maxPositions: info.maxPositions,
        peMode: info.peMode,
        storage: info.storage,
        ropeType: info.ropeType ?? 'default',
        yarnFactor: opts.yarnFactor ?? null,
        device: r.executionProvider,
        deviceNote: r.providerNote,
        tokenizer: r.model.tokenizer,
        cache: { hit: r.model.cache.hit, key: r.model.cache.key },
      },
      extra: {
        tool: { name: 'repo-lens', version: packageVersion() },
        input: opts.input,
        warnings,
        timings: {
          tokenizeMs: round1(r.timings.tokenizeMs),
          convertMs: round1(r.timings.convertMs),
          loadMs: round1(r.timings.loadMs),
          runMs: round1(r.timings.runMs),
          ...(ablationRunMs !== undefined ? { ablationRunMs: round1(ablationRunMs) } : {}),
          totalMs: round1(performance.now() - t0),
        },
        ...(r.truncated ? { truncated: r.truncated } : {}),
      },
    });
  } catch (e) {
    if (isAbortError(e)) {
      await host.dispose();
      process.stderr.write('repo-lens: cancelled\n');
      return 130;
    }
    const code = (e as { code?: string }).code;
    const details = (e as { details?: { limit?: number } }).details;
    if (code === 'TEXT_TOO_LONG' && details?.limit !== undefined && !opts.truncate) {
      (e as Error).message += `; use --truncate to analyse the first ${details.limit}`;
    }
    throw e;
  } finally {
    await host.dispose();
    cancel.release();
    removeEmptyOrtDebugLog();
  }
  if (cancel.signal.aborted) {
    process.stderr.write('repo-lens: cancelled\n');
    return 130;
  }

  if (opts.json === '-') process.stdout.write(JSON.stringify(analysis) + '\n');
  else if (opts.json) writeAtomic(opts.json, JSON.stringify(analysis) + '\n');
  if (opts.html) writeAtomic(opts.html, renderReportHtml({ analysis, text: input.text, bundle: reportBundle! }));
  // The summary goes to stdout unless stdout carries the JSON itself.
  if (opts.json !== '-') {
    process.stdout.write(summary(analysis, input.text));
    if (opts.json) process.stdout.write(`json    ${opts.json}\n`);
    if (opts.html) process.stdout.write(`report  ${opts.html}\n`);
  }
  return 0;
}

/** Progress lines on stderr: a live line on a terminal, start and end only otherwise. */
function progressPrinter(name: string): (message: string, fraction: number) => void {
  let started = false;
  const tty = process.stderr.isTTY;
  return (message, fraction) => {
    if (tty) {
      const pct = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
      process.stderr.write(`\rrepo-lens: converting ${name} (first use): ${pct}% ${message}`.slice(0, 120).padEnd(120) + (fraction >= 1 ? '\n' : ''));
    } else if (!started) {
      process.stderr.write(`repo-lens: converting ${name} to ONNX (first use; cached afterwards)\n`);
    }
    started = true;
  };
}

/**
 * onnxruntime-node leaves an empty mat-debug-<pid>.log in the temp folder for every process that
 * runs a session; a CLI run would litter one per call. Remove ours when it is empty (best effort).
 */
function removeEmptyOrtDebugLog(): void {
  const f = path.join(os.tmpdir(), `mat-debug-${process.pid}.log`);
  try {
    if (fs.statSync(f).size === 0) fs.rmSync(f);
  } catch {
    // not there, or in use on a platform that forbids removing it: leave it
  }
}

function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function packageVersion(): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
