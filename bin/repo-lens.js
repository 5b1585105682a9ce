#!/usr/bin/env node
// Thin launcher: the CLI is compiled to out/ by `npm ci` (the `prepare` script).
require('../out/src/cli/main.js').main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`repo-lens: ${err && err.message ? err.message : err}\n`); process.exitCode = 1; },
);
