// Markdown tables (GitHub's pipe tables), as the experiment commands write to table.md and print.

export type Align = 'left' | 'right' | 'center';

export interface Table {
  headers: string[];
  rows: string[][];
  /** Per column; default: left. */
  align?: Align[];
}

const escape = (cell: string): string => cell.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A Markdown table with columns padded to a common width (readable as plain text too). */
export function markdownTable({ headers, rows, align = [] }: Table): string {
  for (const r of rows) if (r.length !== headers.length) throw new RangeError(`a row has ${r.length} cells, the header ${headers.length}`);
  const cells = [headers, ...rows].map((r) => r.map(escape));
  const width = headers.map((_, j) => Math.max(3, ...cells.map((r) => [...(r[j] as string)].length)));
  const pad = (text: string, j: number) => {
    const w = width[j] as number;
    const n = w - [...text].length;
    const a = align[j] ?? 'left';
    if (a === 'right') return ' '.repeat(n) + text;
    if (a === 'center') return ' '.repeat(Math.floor(n / 2)) + text + ' '.repeat(Math.ceil(n / 2));
    return text + ' '.repeat(n);
  };
  const line = (r: string[]) => `| ${r.map(pad).join(' | ')} |`;
  const rule = width.map((w, j) => {
    const a = align[j] ?? 'left';
    const dashes = '-'.repeat(w);
    return a === 'right' ? `${dashes.slice(1)}:` : a === 'center' ? `:${dashes.slice(2)}:` : dashes;
  });
  return [line(cells[0] as string[]), `| ${rule.join(' | ')} |`, ...cells.slice(1).map(line)].join('\n');
}
