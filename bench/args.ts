// The benches' command-line flags: `--name value` pairs, with a fallback when absent.
const args = process.argv.slice(2);

/** The value after `name`, or `fallback`. */
export const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : fallback;
};

/** A comma-separated list flag. */
export const list = (name: string, fallback: string): string[] => flag(name, fallback).split(',').filter(Boolean);
