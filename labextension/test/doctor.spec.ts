import {
  groupBySection,
  IDoctorCheck,
  IDoctorReport,
  renderDoctorReport,
  reportText,
  showsFix,
  statusSymbol,
  summaryText
} from '../src/doctor';

function check(overrides: Partial<IDoctorCheck> = {}): IDoctorCheck {
  return {
    id: 'api.reachable',
    section: 'Cluster',
    name: 'API server',
    status: 'ok',
    detail: 'https://k answers, Kubernetes v1.37.2',
    fix: null,
    ...overrides
  };
}

const FAILED: IDoctorReport = {
  ok: false,
  exit_code: 1,
  counts: { ok: 2, fail: 1, warn: 1, skip: 0 },
  server: 'https://k',
  context: 'dev',
  namespace: 'notebooks',
  checks: [
    check({
      id: 'config.namespace',
      section: 'Configuration',
      name: 'namespace'
    }),
    check(),
    check({
      id: 'rbac.batch/jobs',
      section: 'Permissions',
      name: 'batch/jobs',
      status: 'fail',
      detail: 'delete batch/jobs: denied',
      fix: 'add this rule:\n- apiGroups: ["batch"]'
    }),
    check({
      id: 'rbac.nodes',
      section: 'Permissions',
      name: 'list nodes (optional)',
      status: 'warn',
      detail: 'denied',
      fix: 'kubectl create clusterrole ...'
    })
  ]
};

describe('doctor checklist', () => {
  it('groups checks by section in order of appearance', () => {
    const groups = groupBySection(FAILED.checks);
    expect(groups.map(g => [g.section, g.checks.length])).toEqual([
      ['Configuration', 1],
      ['Cluster', 1],
      ['Permissions', 2]
    ]);
  });

  it('summarizes like the CLI', () => {
    expect(summaryText(FAILED)).toBe('1 required check failed, 1 warning.');
    expect(
      summaryText({
        ...FAILED,
        ok: true,
        counts: { ok: 5, fail: 0, warn: 2, skip: 1 }
      })
    ).toBe('all required checks passed, 2 warnings, 1 skipped.');
    expect(
      summaryText({ ...FAILED, counts: { ok: 1, fail: 3, warn: 0, skip: 0 } })
    ).toBe('3 required checks failed.');
  });

  it('prints the text the CLI prints', () => {
    expect(reportText(FAILED).split('\n')).toEqual([
      'Configuration',
      '  ✓ namespace: https://k answers, Kubernetes v1.37.2',
      '',
      'Cluster',
      '  ✓ API server: https://k answers, Kubernetes v1.37.2',
      '',
      'Permissions',
      '  ✗ batch/jobs: delete batch/jobs: denied',
      '      fix: add this rule:',
      '           - apiGroups: ["batch"]',
      '  ! list nodes (optional): denied',
      '      fix: kubectl create clusterrole ...',
      '',
      '1 required check failed, 1 warning.'
    ]);
  });

  it('shows fixes for problems only, and symbols for any status', () => {
    expect(showsFix(check({ fix: 'x' }))).toBe(false);
    expect(showsFix(check({ status: 'warn', fix: 'x' }))).toBe(true);
    expect(showsFix(check({ status: 'fail', fix: null }))).toBe(false);
    expect(statusSymbol('skip')).toBe('-');
    expect(statusSymbol('something-new')).toBe('?');
  });

  it('renders a list per section with the fix under the failure', () => {
    const node = renderDoctorReport(FAILED);
    expect(node.querySelector('.jp-k8s-Doctor-summary')?.textContent).toBe(
      '1 required check failed, 1 warning.'
    );
    expect(node.querySelector('.jp-k8s-Doctor-where')?.textContent).toBe(
      'context dev · namespace notebooks · https://k'
    );
    const sections = [...node.querySelectorAll('h3')].map(h => h.textContent);
    expect(sections).toEqual(['Configuration', 'Cluster', 'Permissions']);
    const failed = node.querySelector(
      '[data-check-id="rbac.batch/jobs"]'
    ) as HTMLElement;
    expect(failed.classList.contains('jp-mod-fail')).toBe(true);
    expect(failed.querySelector('.jp-k8s-Doctor-symbol')?.textContent).toBe(
      '✗'
    );
    expect(failed.querySelector('.jp-k8s-Doctor-fix')?.textContent).toBe(
      'fix: add this rule:\n- apiGroups: ["batch"]'
    );
    expect(node.querySelectorAll('.jp-k8s-Doctor-fix')).toHaveLength(2);
    // Text from the server is text, never markup.
    const hostile = renderDoctorReport({
      ...FAILED,
      checks: [check({ detail: '<img src=x onerror=alert(1)>' })]
    });
    expect(hostile.querySelector('img')).toBeNull();
  });
});
