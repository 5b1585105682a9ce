/**
 * Ctrl-C for long CLI commands: the first press aborts the returned signal (the command then stops
 * at its next step and reports what was kept), a second press kills the process by the signal
 * itself, without running exit hooks inside a busy worker. `release()` removes the handler.
 */
export function cancelOnSigint(what: string): { signal: AbortSignal; release: () => void } {
  const cancel = new AbortController();
  let presses = 0;
  const onSigint = () => {
    presses++;
    if (presses === 1) {
      cancel.abort();
      const eol = process.stderr.isTTY ? '\n' : ''; // end the terminal's "^C" line
      process.stderr.write(`${eol}repo-lens: cancelling (${what}; Ctrl-C again to quit at once)\n`);
    } else {
      process.off('SIGINT', onSigint);
      process.kill(process.pid, 'SIGINT');
    }
  };
  process.on('SIGINT', onSigint);
  return { signal: cancel.signal, release: () => process.off('SIGINT', onSigint) };
}
