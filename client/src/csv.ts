/**
 * CSV (RFC 4180) for exports: fields with a comma, quote or line break are quoted, quotes doubled;
 * lines end with CRLF. A field starting with `=`, `+`, `-` or `@` is prefixed with `'` so that a
 * spreadsheet does not run it as a formula (OWASP, "CSV Injection").
 *
 * @example
 * toCsv([['deal', 'revenue'], ['Headphones', 89000]]) // 'deal,revenue\r\nHeadphones,89000\r\n'
 */
export function toCsv(rows: ReadonlyArray<ReadonlyArray<string | number | null>>): string {
  return rows.map((row) => row.map(field).join(',')).join('\r\n') + '\r\n';
}

function field(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** Offers `text` as a file download named `filename`. */
export function downloadText(filename: string, text: string, type = 'text/csv;charset=utf-8'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
