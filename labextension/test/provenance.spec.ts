import { english } from '../src/i18n';
import { IProvenance } from '../src/tokens';
import { JobSummary, provenanceRows } from '../src/widgets/JobSummary';
import { job } from './helpers';

const digest = 'localhost/jupyter-k8s/notebook@sha256:' + 'ab'.repeat(32);

function stamp(overrides: Partial<IProvenance> = {}): IProvenance {
  return {
    job_id: 'nb-report-abc123',
    parameters: {},
    profile: 'cpu',
    image: 'localhost/jupyter-k8s/notebook:1',
    image_digest: digest,
    node: 'dev-node',
    gpu_count: 0,
    started: '2026-11-29T13:45:07Z',
    finished: '2026-11-29T13:45:10Z',
    duration_seconds: 3,
    outcome: 'Succeeded',
    reason: 'Succeeded',
    gpu_hours: 0,
    ...overrides
  };
}

describe('provenanceRows', () => {
  it('says how it ended, what ran where and for how long', () => {
    expect(provenanceRows(stamp(), english)).toEqual([
      ['Outcome', 'Succeeded'],
      ['Image digest', digest],
      ['Node', 'dev-node'],
      ['Duration', '3.0 s']
    ]);
  });

  it('adds the reason, GPUs, GPU-hours and cost where there are some', () => {
    const rows = provenanceRows(
      stamp({
        outcome: 'Failed',
        reason: 'OOMKilled',
        gpu_resource: 'nvidia.com/gpu',
        gpu_count: 2,
        gpu_product: 'NVIDIA-H200',
        gpu_hours: 0.00166667,
        cost_per_hour: 3.6,
        cost: 0.003
      }),
      english
    );
    expect(Object.fromEntries(rows)).toEqual({
      Outcome: 'Failed (OOMKilled)',
      'Image digest': digest,
      Node: 'dev-node',
      GPUs: '2 × nvidia.com/gpu (NVIDIA-H200)',
      'GPU-hours': '0.0017',
      Duration: '3.0 s',
      Cost: '0.0030 (3.6 per hour)'
    });
  });

  it('shows a dash for what the cluster did not say', () => {
    const rows = provenanceRows(
      stamp({
        image_digest: undefined,
        node: undefined,
        duration_seconds: undefined,
        outcome: 'Cancelled',
        reason: 'Cancelled'
      }),
      english
    );
    expect(rows).toEqual([
      ['Outcome', 'Cancelled'],
      ['Image digest', '—'],
      ['Node', '—'],
      ['Duration', '—']
    ]);
  });
});

describe('JobSummary provenance section', () => {
  const actions = {
    openOutput: () => undefined,
    openLive: () => undefined,
    openPath: () => undefined,
    rerunFailed: () => undefined,
    rerun: () => undefined,
    cancel: () => undefined,
    remove: () => undefined
  };

  function summary(
    fetchProvenance?: (id: string) => Promise<IProvenance | null>
  ) {
    const view = new JobSummary({
      jobId: 'nb-report-abc123',
      actions,
      trans: english,
      fetchProvenance
    });
    const root = document.createElement('div');
    root.append(...view.nodes);
    return { view, root };
  }

  it('asks the job detail once for a collected job, then shows it', async () => {
    const fetch = jest.fn(async () => stamp());
    const { view, root } = summary(fetch);
    const done = job({ phase: 'Succeeded', output_state: 'ready' });
    view.render(done, false);
    view.render({ ...done }, false);
    await Promise.resolve();
    await Promise.resolve();
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(fetch).toHaveBeenCalledWith('nb-report-abc123');
    expect(root.textContent).toContain('Provenance');
    expect(root.textContent).toContain(digest);
    expect(root.textContent).toContain('dev-node');
  });

  it('asks nothing while the job runs, nor when the job carries it', () => {
    const fetch = jest.fn(async () => stamp());
    const { view, root } = summary(fetch);
    view.render(job({ phase: 'Running', output_state: 'pending' }), false);
    expect(root.textContent).toContain(
      'Recorded when the executed notebook is collected.'
    );
    view.render(
      job({
        phase: 'Failed',
        output_state: 'ready',
        provenance: stamp({ outcome: 'Failed', reason: 'OOMKilled' })
      }),
      false
    );
    expect(fetch).not.toHaveBeenCalled();
    expect(root.textContent).toContain('Failed (OOMKilled)');
  });
});
