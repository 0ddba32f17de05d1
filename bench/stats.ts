/** Three runs of one figure: the median is what the table compares, min and max stand beside it. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function summarize(runs: number[]): Summary {
  const sorted = [...runs].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)!, runs };
}

/** A number with a sensible precision for its size: 4,512 · 212 · 37.4 · 2.31 · 0.412 */
export function number(value: number, digits?: number): string {
  if (!Number.isFinite(value)) return '—';
  const fraction =
    digits ?? (Math.abs(value) >= 1000 ? 0 : Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : Math.abs(value) >= 1 ? 2 : 3);
  return value.toLocaleString('en-US', { minimumFractionDigits: fraction, maximumFractionDigits: fraction });
}

/** `median (min–max) unit`, or just the value when all runs agree or there was one run. */
export function figure(summary: Summary, unit = '', digits?: number): string {
  const suffix = unit ? ` ${unit}` : '';
  if (summary.runs.length === 1 || summary.min === summary.max) return `${number(summary.median, digits)}${suffix}`;
  return `${number(summary.median, digits)}${suffix} (${number(summary.min, digits)}–${number(summary.max, digits)})`;
}

export function ratio(value: number): string {
  if (!Number.isFinite(value)) return '—';
  return `${number(value, value >= 100 ? 0 : value >= 10 ? 1 : 2)}×`;
}
