import { terminalSafe } from './display.js';

/** The longest a cell is shown in a table (user agents can be 512 characters); `--json` has everything. */
const maxCellLength = 80;

function cell(text: string): string {
  const safe = terminalSafe(text);
  const points = [...safe];
  return points.length > maxCellLength ? `${points.slice(0, maxCellLength - 1).join('')}…` : safe;
}

/** A plain-text table: a header row, then one aligned row per item, columns two spaces apart. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = [headers.map(cell), ...rows.map((row) => row.map(cell))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => [...(row[column] ?? '')].length)));
  return cells
    .map((row) => row.map((text, column) => text + ' '.repeat((widths[column] ?? 0) - [...text].length)).join('  ').trimEnd())
    .join('\n');
}
