/**
 * The `jupyter k8s doctor` checklist (GET /jupyter-k8s/doctor) for people: its types, its
 * text, and a plain-DOM rendering the cluster card shows in a dialog.
 *
 * No JupyterLab imports here, so that jest tests it as is; the request and the dialog live
 * in widgets/ClusterCard.ts. The texts of its own (the checks' findings are the server's) go
 * through the translation bundle given last (English by default).
 */

import { el } from './dom';
import { english, Trans } from './i18n';

/** How a check ended: `fail` is a required check that failed. */
export type DoctorStatus = 'ok' | 'fail' | 'warn' | 'skip';

/** One line of the checklist (docs/openapi.yaml: DoctorCheck). */
export interface IDoctorCheck {
  id: string;
  section: string;
  name: string;
  status: DoctorStatus;
  detail: string;
  fix: string | null;
}

/** The whole checklist (docs/openapi.yaml: DoctorReport). */
export interface IDoctorReport {
  ok: boolean;
  exit_code: number;
  counts: Record<DoctorStatus, number>;
  server: string | null;
  context: string | null;
  namespace: string | null;
  checks: IDoctorCheck[];
}

/** The symbols the CLI prints, by status. */
export const STATUS_SYMBOLS: Record<DoctorStatus, string> = {
  ok: '✓',
  fail: '✗',
  warn: '!',
  skip: '-'
};

/** A status in words (a symbol's tooltip). */
function statusWord(status: DoctorStatus, trans: Trans): string {
  switch (status) {
    case 'ok':
      return trans.__('passed');
    case 'fail':
      return trans.__('failed');
    case 'warn':
      return trans.__('warning');
    case 'skip':
      return trans.__('skipped');
    default:
      return status;
  }
}

/** The symbol of a status (an unknown status from a newer server shows as '?'). */
export function statusSymbol(status: string): string {
  return STATUS_SYMBOLS[status as DoctorStatus] ?? '?';
}

/** The checks by section, sections in the order they first appear. */
export function groupBySection(
  checks: IDoctorCheck[]
): { section: string; checks: IDoctorCheck[] }[] {
  const groups: { section: string; checks: IDoctorCheck[] }[] = [];
  for (const check of checks) {
    let group = groups.find(g => g.section === check.section);
    if (!group) {
      group = { section: check.section, checks: [] };
      groups.push(group);
    }
    group.checks.push(check);
  }
  return groups;
}

/** One sentence, as the CLI ends its checklist: "1 required check failed, 2 warnings." */
export function summaryText(
  report: IDoctorReport,
  trans: Trans = english
): string {
  const given: Partial<Record<DoctorStatus, number>> = report.counts ?? {};
  const counts = {
    fail: given.fail ?? 0,
    warn: given.warn ?? 0,
    skip: given.skip ?? 0
  };
  const parts = [
    counts.fail > 0
      ? trans._n(
          '%1 required check failed',
          '%1 required checks failed',
          counts.fail
        )
      : trans.__('all required checks passed')
  ];
  if (counts.warn > 0) {
    parts.push(trans._n('%1 warning', '%1 warnings', counts.warn));
  }
  if (counts.skip > 0) {
    parts.push(trans.__('%1 skipped', counts.skip));
  }
  return `${parts.join(', ')}.`;
}

/** Whether a check's fix is worth showing (problems only). */
export function showsFix(check: IDoctorCheck): boolean {
  return !!check.fix && (check.status === 'fail' || check.status === 'warn');
}

/** The checklist as text, as `jupyter k8s doctor` prints it (for copying). */
export function reportText(
  report: IDoctorReport,
  trans: Trans = english
): string {
  const lines: string[] = [];
  for (const group of groupBySection(report.checks)) {
    if (lines.length) {
      lines.push('');
    }
    lines.push(group.section);
    for (const check of group.checks) {
      lines.push(
        `  ${statusSymbol(check.status)} ${check.name}: ${check.detail}`
      );
      if (showsFix(check)) {
        const [first, ...more] = (check.fix as string).split('\n');
        lines.push(`      fix: ${first}`);
        for (const line of more) {
          lines.push(`           ${line}`);
        }
      }
    }
  }
  lines.push('', summaryText(report, trans));
  return lines.join('\n');
}

const STATUS_COLORS: Record<DoctorStatus, string> = {
  ok: 'var(--jp-success-color1)',
  fail: 'var(--jp-error-color1)',
  warn: 'var(--jp-warn-color1)',
  skip: 'var(--jp-ui-font-color2)'
};

/**
 * The checklist as DOM: a summary, then per section a list whose items carry the status
 * as a class (`jp-mod-ok`, `jp-mod-fail`, ...), the symbol, the finding and, for problems,
 * the fix in a <pre> (commands and Role rules keep their lines).
 */
export function renderDoctorReport(
  report: IDoctorReport,
  trans: Trans = english
): HTMLElement {
  const root = el('div', 'jp-k8s-Doctor');
  root.style.maxWidth = '80ch';
  const where = [
    report.context ? trans.__('context %1', report.context) : null,
    report.namespace ? trans.__('namespace %1', report.namespace) : null,
    report.server
  ].filter(Boolean);
  if (where.length) {
    root.appendChild(el('div', 'jp-k8s-Doctor-where', where.join(' · ')));
  }
  const summary = el(
    'p',
    `jp-k8s-Doctor-summary ${report.ok ? 'jp-mod-ok' : 'jp-mod-fail'}`,
    summaryText(report, trans)
  );
  summary.style.fontWeight = 'bold';
  summary.style.color = report.ok ? STATUS_COLORS.ok : STATUS_COLORS.fail;
  root.appendChild(summary);
  for (const group of groupBySection(report.checks)) {
    root.appendChild(el('h3', 'jp-k8s-Doctor-section', group.section));
    const list = el('ul', 'jp-k8s-Doctor-checks');
    list.style.listStyle = 'none';
    list.style.paddingLeft = '0';
    for (const check of group.checks) {
      const known = check.status in STATUS_SYMBOLS;
      const item = el('li', `jp-k8s-Doctor-check jp-mod-${check.status}`);
      item.dataset.checkId = check.id;
      const symbol = el(
        'span',
        'jp-k8s-Doctor-symbol',
        statusSymbol(check.status)
      );
      symbol.title = statusWord(check.status, trans);
      symbol.style.display = 'inline-block';
      symbol.style.width = '1.5em';
      symbol.style.fontWeight = 'bold';
      if (known) {
        symbol.style.color = STATUS_COLORS[check.status];
      }
      item.appendChild(symbol);
      item.appendChild(el('strong', '', `${check.name}: `));
      item.appendChild(el('span', 'jp-k8s-Doctor-detail', check.detail));
      if (showsFix(check)) {
        const fix = el(
          'pre',
          'jp-k8s-Doctor-fix',
          trans.__('fix: %1', check.fix)
        );
        fix.style.whiteSpace = 'pre-wrap';
        fix.style.margin = '2px 0 6px 1.5em';
        item.appendChild(fix);
      }
      list.appendChild(item);
    }
    root.appendChild(list);
  }
  return root;
}
