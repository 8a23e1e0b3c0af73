/**
 * How the client commands print results, as `openstack` does: a bordered table (the default), JSON
 * (`-f json`) or bare values (`-f value`), limited to some columns with `-c` (repeatable). A list
 * prints one row per item under column headings; a single resource prints Field/Value rows.
 */
import { UsageError } from './usage.js';

export type Format = 'table' | 'json' | 'value';

export interface OutputOptions {
  format: Format;
  /** `-c` columns, by heading or field name (case-insensitive); all when empty. */
  columns: string[];
}

/** A column: its heading and the resource field it shows. */
export interface Column {
  heading: string;
  field: string;
}

export function parseFormat(value: string | undefined): Format {
  const f = value ?? 'table';
  if (f !== 'table' && f !== 'json' && f !== 'value') throw new UsageError(`-f/--format: expected table, json or value, not '${f}'`);
  return f;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(cell).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function pick(all: Column[], wanted: string[]): Column[] {
  if (wanted.length === 0) return all;
  return wanted.map((w) => {
    const c = all.find((col) => col.heading.toLowerCase() === w.toLowerCase() || col.field.toLowerCase() === w.toLowerCase());
    if (!c) throw new UsageError(`-c/--column: no column '${w}' (choose from ${all.map((col) => col.heading).join(', ')})`);
    return c;
  });
}

function table(headings: string[], rows: string[][]): string {
  const widths = headings.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+\n`;
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |\n`;
  return rule + line(headings) + rule + rows.map(line).join('') + (rows.length > 0 ? rule : '');
}

/** Prints items as rows of these columns. */
export function printList(out: OutputOptions, columns: Column[], items: Record<string, unknown>[]): void {
  const cols = pick(columns, out.columns);
  if (out.format === 'json') {
    const rows = items.map((item) => Object.fromEntries(cols.map((c) => [c.heading, item[c.field] ?? null])));
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  } else if (out.format === 'value') {
    process.stdout.write(items.map((item) => `${cols.map((c) => cell(item[c.field])).join(' ')}\n`).join(''));
  } else {
    process.stdout.write(table(cols.map((c) => c.heading), items.map((item) => cols.map((c) => cell(item[c.field])))));
  }
}

/** Prints one resource: every field (sorted), or the `-c` ones. */
export function printOne(out: OutputOptions, resource: Record<string, unknown>): void {
  const all = Object.keys(resource)
    .sort()
    .map((field) => ({ heading: field, field }));
  const cols = pick(all, out.columns);
  if (out.format === 'json') {
    process.stdout.write(`${JSON.stringify(Object.fromEntries(cols.map((c) => [c.field, resource[c.field] ?? null])), null, 2)}\n`);
  } else if (out.format === 'value') {
    process.stdout.write(cols.map((c) => `${cell(resource[c.field])}\n`).join(''));
  } else {
    process.stdout.write(table(['Field', 'Value'], cols.map((c) => [c.field, cell(resource[c.field])])));
  }
}
