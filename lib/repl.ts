// `msam repl`: Node's REPL with msam loaded as `msam` (tensors and modules print readably through
// util.inspect.custom; top-level await works, so `await sam.step(batch)` does too).
import * as repl from 'node:repl';
import * as msam from './index';

export interface ReplOptions {
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
}

export function startRepl(opts: ReplOptions = {}): repl.REPLServer {
  const output = opts.output ?? process.stdout;
  const v = msam.version();
  const flavour = v.cuda === null ? 'CPU' : `CUDA ${v.cuda}`;
  output.write(`msam ${v.msam} on libtorch ${v.libtorch} (${flavour}); \`msam\` is loaded, top-level await works, .exit leaves\n`);
  // useGlobal: one realm with msam, so typed arrays and errors made at the prompt are the ones msam checks against.
  const server = repl.start({ prompt: '> ', input: opts.input ?? process.stdin, output, useGlobal: true });
  Object.defineProperty(server.context, 'msam', { value: msam, enumerable: true, configurable: true, writable: false });
  return server;
}
