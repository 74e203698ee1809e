// Drives a REPL through stdin the way a person does: one line, then wait for the next prompt.
// (Lines piped in all at once would not wait for a top-level `await` to finish.)
import { spawn } from 'node:child_process';

export interface ReplTranscript {
  /** What the REPL printed before its first prompt. */
  banner: string;
  /** What each input printed, prompt removed, trailing newline trimmed. */
  outputs: string[];
  stderr: string;
}

export async function driveRepl(command: string, args: string[], inputs: string[], opts: { cwd: string; prompt?: string; timeoutMs?: number }): Promise<ReplTranscript> {
  const prompt = opts.prompt ?? '> ';
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const child = spawn(command, args, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_NO_WARNINGS: '1' } });
  let out = '';
  let stderr = '';
  let wake: (() => void) | null = null;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    wake?.();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  child.on('close', () => wake?.());

  const untilPrompt = async (from: number): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    while (!out.slice(from).endsWith(prompt)) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill();
        throw new Error(`REPL ${command} ${args.join(' ')}: no prompt after ${JSON.stringify(out.slice(from))}\nstderr: ${stderr}`);
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 200);
      });
    }
    const text = out.slice(from, out.length - prompt.length);
    return text.endsWith('\n') ? text.slice(0, -1) : text;
  };

  const banner = await untilPrompt(0);
  const outputs: string[] = [];
  for (const line of inputs) {
    const from = out.length;
    child.stdin.write(`${line}\n`);
    outputs.push(await untilPrompt(from));
  }
  child.stdin.end();
  await exited;
  return { banner, outputs, stderr };
}

/**
 * The REPL sessions of a Markdown file: ```console blocks that start with `$ <command>`, whose
 * `> ` lines are inputs and whose other lines are what the input before them prints.
 */
export function replSessions(markdown: string): { command: string; inputs: string[]; outputs: string[]; banner: string | null }[] {
  const blocks = [...markdown.matchAll(/```console\n([\s\S]*?)```/g)].map((m) => (m[1] ?? '').replace(/\n$/, '').split('\n'));
  return blocks
    .filter((lines) => lines[0]?.startsWith('$ '))
    .map((lines) => {
      const command = (lines[0] ?? '').slice(2);
      const inputs: string[] = [];
      const outputs: string[][] = [];
      const banner: string[] = [];
      for (const line of lines.slice(1)) {
        if (line.startsWith('> ')) {
          inputs.push(line.slice(2));
          outputs.push([]);
        } else if (outputs.length === 0) banner.push(line);
        else outputs[outputs.length - 1]?.push(line);
      }
      return { command, inputs, outputs: outputs.map((o) => o.join('\n')), banner: banner.length > 0 ? banner.join('\n') : null };
    });
}
