/**
 * repo-lens command line: `analyze`, `models`, `--help`.
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
  TextRange,
  buildAnalysis,
  parseRangeSpec,
  planAnalysis,
  topHeads,
} from '../engine/analysis';
import {
  ModelError,
  chooseTokenizer,
  configLimits,
  ensureConverted,
  listEmbeddedModels,
  modelCacheDir,
  repoRoot,
  resolveModel,
} from '../engine/models';

/** A mistake in how the command was called: exit code 2 and a pointer to --help. */
class UsageError extends Error {}

/**
 * Largest attention tensor we ask the model for (L × H × Q × T float32 values). A query range
 * covering a whole long prompt on a big model would otherwise need many gigabytes.
 */
const MAX_ATTENTION_VALUES = 256 * 1024 * 1024;

const HELP = `repo-lens: see how a RePo language model re-positions a prompt.

Usage:
  repo-lens analyze <file|-> --model <name-or-folder> [options]
  repo-lens models
  repo-lens --help

analyze options:
  --model M              embedded model name (see \`repo-lens models\`) or a checkpoint folder in the
                         official RePo/OLMo-2 layout (config.json + safetensors)
  --query-range A:B      query text (default: the last non-blank line, trimmed)
  --needle-range A:B     needle text; adds needle attention mass per layer and head
  --integer-positions    feed integer positions 0..T-1 to the RePo layers (ablation)
  --threads N            CPU threads for inference
  --device auto|cpu|cuda execution provider (default auto: CUDA when it loads, else CPU)
  --storage fp32|fp16    weight storage of the converted ONNX file (default fp32)
  --json OUT             write the analysis JSON (schema repo-lens/analysis@1) to OUT ("-" = stdout);
                         without it a short summary is printed

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
    throw new UsageError(`unknown command "${command}" (commands: analyze, models)`);
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
    process.stdout.write('Usage: repo-lens models\nLists the embedded models and the conversion cache folder.\n');
    return 0;
  }
  const lines: string[] = ['Embedded models (from ' + path.join(repoRoot(), 'models') + '):'];
  for (const m of listEmbeddedModels()) {
    lines.push(`  ${m.name.padEnd(10)} ${m.available ? 'available' : 'MISSING  '}  ${m.description}`);
    lines.push(`  ${''.padEnd(10)} ${m.detail}`);
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
  device: 'auto' | 'cpu' | 'cuda';
  storage: 'fp32' | 'fp16';
  json?: string;
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
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length === 0) throw new UsageError('analyze needs a file to read (or - for stdin)');
  if (positionals.length > 1) throw new UsageError(`analyze takes one file, got ${positionals.length}: ${positionals.join(' ')}`);
  if (!values.model) throw new UsageError('analyze needs --model <name-or-folder>');
  const device = values.device ?? 'auto';
  if (device !== 'auto' && device !== 'cpu' && device !== 'cuda') {
    throw new UsageError(`--device must be auto, cpu or cuda, got "${device}"`);
  }
  const storage = values.storage ?? 'fp32';
  if (storage !== 'fp32' && storage !== 'fp16') throw new UsageError(`--storage must be fp32 or fp16, got "${storage}"`);
  let threads: number | undefined;
  if (values.threads !== undefined) {
    threads = Number(values.threads);
    if (!/^\d+$/.test(values.threads) || !Number.isSafeInteger(threads) || threads < 1) {
      throw new UsageError(`--threads must be a positive integer, got "${values.threads}"`);
    }
  }
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
    json: values.json,
  };
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

  // 1. Everything that needs no model run: input, model folder, tokens, ranges, size limits.
  const input = await readInput(opts.input);
  const shownInput = opts.input === '-' ? 'stdin' : opts.input;
  if (input.text.length === 0) {
    throw new AnalysisError(`${shownInput} is empty${input.bomStripped ? ' (it holds only a byte-order mark)' : ''}`);
  }
  const src = resolveModel(opts.model);
  const limits = configLimits(src.config, src.name);
  const { tokenizer, warnings: tokWarnings } = chooseTokenizer(src);
  const tTok = performance.now();
  const enc = tokenizer.encode(input.text);
  const tokenizeMs = performance.now() - tTok;
  const plan = planAnalysis(input.text, enc, { queryRange: opts.queryRange, needleRange: opts.needleRange });
  const T = enc.ids.length;
  checkLength(shownInput, T, limits.maxPositions, src.name);
  const attnValues = limits.numLayers * limits.numHeads * plan.query.tokens.length * T;
  if (attnValues > MAX_ATTENTION_VALUES) {
    throw new AnalysisError(
      `the query covers ${plan.query.tokens.length} tokens of ${T}: its attention would need ${attnValues} values ` +
        `(${limits.numLayers} layers × ${limits.numHeads} heads), more than the limit ${MAX_ATTENTION_VALUES}; choose a shorter --query-range`,
    );
  }

  // 2. Past this point the request is valid: show warnings, convert (or reuse), run.
  const warnings = [...input.warnings, ...tokWarnings];
  for (const w of warnings) process.stderr.write(`repo-lens: warning: ${w}\n`);

  const { convertCheckpoint, CONVERTER_VERSION } = await import('../engine/model/convert');
  const cached = await ensureConverted(src, {
    storage: opts.storage,
    converterVersion: CONVERTER_VERSION,
    convert: (dir, out, o) => convertCheckpoint(dir, out, o),
    onProgress: progressPrinter(src.name),
  });
  if (!cached.hit) {
    process.stderr.write(`repo-lens: converted ${src.name} in ${(cached.convertMs / 1000).toFixed(1)} s (cached in ${cached.dir})\n`);
  }

  // onnxruntime logs natively to stderr (e.g. the failed CUDA probe under --device auto, optimiser
  // notes); the CLI reports what matters itself, so keep ORT quiet unless asked otherwise.
  const ort = await import('onnxruntime-node');
  ort.env.logLevel = ortLogLevel(process.env.REPO_LENS_ORT_LOG_LEVEL);
  const { RePoSession } = await import('../engine/model/session');
  const tLoad = performance.now();
  const session = await RePoSession.open(cached.onnxPath, { executionProvider: opts.device, threads: opts.threads });
  let analysis: AnalysisJson;
  try {
    const loadMs = performance.now() - tLoad;
    const info = session.info;
    // The converted model's own limit is authoritative (the config check above is an early guess).
    checkLength(shownInput, T, info.maxPositions, src.name);
    if (info.vocabSize < tokenizer.vocabSize && enc.ids.some((id) => id >= info.vocabSize)) {
      throw new ModelError(`${src.name} has only ${info.vocabSize} token ids, fewer than the tokenizer produces`);
    }
    const tRun = performance.now();
    const result = await session.run({ ids: enc.ids, queryRows: plan.query.tokens, integerPositions: opts.integerPositions });
    const runMs = performance.now() - tRun;
    analysis = buildAnalysis({
      text: input.text,
      bomStripped: input.bomStripped,
      enc,
      info,
      result,
      plan,
      integerPositions: opts.integerPositions,
      modelExtra: {
        source: src.kind,
        path: src.dir,
        vocabSize: info.vocabSize,
        maxPositions: info.maxPositions,
        peMode: info.peMode,
        storage: info.storage,
        device: session.executionProvider,
        deviceNote: session.providerNote,
        tokenizer: tokenizer.kind,
        cache: { hit: cached.hit, key: cached.key },
      },
      extra: {
        tool: { name: 'repo-lens', version: packageVersion() },
        input: opts.input,
        warnings,
        timings: {
          tokenizeMs: round1(tokenizeMs),
          convertMs: round1(cached.convertMs),
          loadMs: round1(loadMs),
          runMs: round1(runMs),
          totalMs: round1(performance.now() - t0),
        },
      },
    });
  } finally {
    await session.dispose();
    removeEmptyOrtDebugLog();
  }

  if (opts.json === '-') process.stdout.write(JSON.stringify(analysis) + '\n');
  else if (opts.json) writeAtomic(opts.json, JSON.stringify(analysis) + '\n');
  else process.stdout.write(summary(analysis, input.text));
  return 0;
}

function checkLength(input: string, T: number, maxPositions: number, model: string): void {
  if (Number.isFinite(maxPositions) && T > maxPositions) {
    throw new AnalysisError(`${input} is ${T} tokens long, but ${model} handles at most ${maxPositions} tokens`);
  }
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

function ortLogLevel(v: string | undefined): 'verbose' | 'info' | 'warning' | 'error' | 'fatal' {
  return v === 'verbose' || v === 'info' || v === 'warning' || v === 'error' ? v : 'fatal';
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

/** A short quoted excerpt of the text for the terminal (JSON escaping keeps control chars visible). */
function excerpt(text: string, start: number, end: number, max = 48): string {
  const s = text.slice(start, end);
  return JSON.stringify(s.length > max ? s.slice(0, max - 1) + '…' : s);
}

function summary(a: AnalysisJson, text: string): string {
  const m = a.model as AnalysisJson['model'] & { device?: string; deviceNote?: string; source?: string };
  const t = (a.timings ?? {}) as Record<string, number>;
  const lines: string[] = [];
  const repo = m.repoLayers.length ? `RePo layers ${m.repoLayers.join(',')}` : 'no RePo layers';
  lines.push(`model   ${m.name} (${m.source}; ${m.numLayers} layers × ${m.numHeads} heads; ${repo}) on ${m.device}`);
  if (m.deviceNote) lines.push(`        ${m.deviceNote}`);
  lines.push(`text    ${a.text.length} UTF-16 units → ${a.tokens.length} tokens${a.text.bomStripped ? ' (BOM stripped)' : ''}`);
  lines.push(
    `query   ${a.query.start}:${a.query.end} ${excerpt(text, a.query.start, a.query.end)} (${a.query.tokens.length} tokens${a.query.defaulted ? ', last line' : ''})`,
  );
  if (a.needle) lines.push(`needle  ${a.needle.start}:${a.needle.end} ${excerpt(text, a.needle.start, a.needle.end)} (${a.needle.tokens.length} tokens)`);
  lines.push(
    `time    ${t.convertMs ? `convert ${(t.convertMs / 1000).toFixed(1)} s, ` : ''}load ${Math.round(t.loadMs)} ms, run ${Math.round(t.runMs)} ms, total ${Math.round(t.totalMs)} ms`,
  );
  if (a.integerPositions) lines.push('        positions: integer 0..T-1 (ablation)');
  if (a.needleMass) {
    lines.push('needle mass (query attention summed over needle tokens), top heads:');
    for (const h of topHeads(a.needleMass, 5)) lines.push(`  layer ${h.layer} head ${h.head}  ${h.value.toFixed(4)}`);
  }
  if (a.positions.length) {
    lines.push('learned position span (max − min) per RePo layer, over heads:');
    a.positions.forEach((perHead, r) => {
      const spans = perHead.map((row) => row.reduce((mx, v) => Math.max(mx, v), -Infinity) - row.reduce((mn, v) => Math.min(mn, v), Infinity));
      lines.push(`  layer ${m.repoLayers[r]}  ${spans.map((s) => s.toFixed(1)).join('  ')}`);
    });
  }
  return lines.join('\n') + '\n';
}
