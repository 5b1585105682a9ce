#!/usr/bin/env node
// Thin launcher: the CLI is compiled to out/ by `npm ci` (the `prepare` script).
// A reader that stops early (`repo-lens analyze … | head`) closes the pipe: that is not an error,
// and the files the command writes (--json FILE, --html) are still finished.
process.stdout.on('error', (err) => {
  if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
});
require('../out/src/cli/main.js').main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`repo-lens: ${err && err.message ? err.message : err}\n`); process.exitCode = 1; },
);
