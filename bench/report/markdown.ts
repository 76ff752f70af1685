/** Markdown building blocks shared by the report's sections. */

/** Three significant digits with thousands separators, as on the bench's stdout. */
export function fmt(x: number): string {
  return Number.isFinite(x) ? x.toLocaleString('en-US', { maximumSignificantDigits: 3 }) : '–';
}

/** `median (IQR q1–q3)`. */
export function withIqr(s: { median: number; q1: number; q3: number }, suffix = ''): string {
  return `${fmt(s.median)}${suffix} (${fmt(s.q1)}–${fmt(s.q3)})`;
}

/** Pipes and line breaks would end a cell early. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A table; `align` marks right-aligned (numeric) columns with 'r'. */
export function mdTable(header: readonly string[], rows: readonly (readonly string[])[], align?: string): string {
  const sep = header.map((_, i) => (align?.[i] === 'r' ? '---:' : '---'));
  return [header, sep, ...rows].map((r) => `| ${r.map(cell).join(' | ')} |`).join('\n');
}
