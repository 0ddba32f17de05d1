/** One line of the results table. */
export interface Row {
  workload: string;
  measure: string;
  gateway: string;
  baseline: string;
  ratio: string;
  goal: string;
  /** `met`, or what was missed in plain words, or empty when the line has no goal. */
  verdict: string;
}

export interface Report {
  title: string;
  rows: Row[];
  /** What was measured and how, in sentences under the table. */
  notes: string[];
}

export function met(ok: boolean, missed: string): string {
  return ok ? 'met' : `**MISSED**: ${missed}`;
}

const escapeCell = (cell: string) => cell.replaceAll('|', '\\|').replaceAll('\n', ' ');

export function renderMarkdown(report: Report): string {
  const header = ['Workload', 'Measure', 'Gateway', 'Baseline', 'Ratio', 'Goal', 'Verdict'];
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    // A workload is named on its first line only.
    ...report.rows.map(
      (row, i) =>
        `| ${[
          i > 0 && report.rows[i - 1]!.workload === row.workload ? '' : row.workload,
          row.measure,
          row.gateway,
          row.baseline,
          row.ratio,
          row.goal,
          row.verdict,
        ]
          .map(escapeCell)
          .join(' | ')} |`,
    ),
  ];
  return [`## ${report.title}`, '', ...lines, '', ...report.notes.map((note) => `- ${note}`), ''].join('\n');
}
