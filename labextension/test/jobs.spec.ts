import {
  compareJobs,
  JobStore,
  matchesFilter,
  pollDelay
} from '../src/models/jobs';
import { job } from './helpers';

describe('JobStore', () => {
  it('diffs full lists: added, changed, removed, finished, settled', () => {
    const store = new JobStore();
    const a = job({
      id: 'a',
      phase: 'Running',
      created: '2026-01-01T10:00:01Z'
    });
    const b = job({
      id: 'b',
      phase: 'Pending',
      created: '2026-01-01T10:00:02Z'
    });
    let diff = store.applyAll([b, a]);
    expect(diff.added.map(j => j.id)).toEqual(['b', 'a']);
    expect(store.all().map(j => j.id)).toEqual(['b', 'a']);
    expect(store.hasUnfinished).toBe(true);

    // The same answer again changes nothing (no re-render, no notification).
    diff = store.applyAll([{ ...b }, { ...a }]);
    expect(diff).toEqual({
      added: [],
      changed: [],
      removed: [],
      finished: [],
      settled: []
    });

    const aDone = {
      ...a,
      phase: 'Succeeded' as const,
      output_state: 'pending' as const
    };
    diff = store.applyAll([aDone]);
    expect(diff.changed.map(j => j.id)).toEqual(['a']);
    expect(diff.finished.map(j => j.id)).toEqual(['a']);
    expect(diff.settled).toEqual([]);
    expect(diff.removed).toEqual(['b']);
    expect(store.unsettledFinished().map(j => j.id)).toEqual(['a']);

    diff = store.applyAll([{ ...aDone, output_state: 'ready' }]);
    expect(diff.finished).toEqual([]);
    expect(diff.settled.map(j => j.id)).toEqual(['a']);
    expect(store.hasUnfinished).toBe(false);
    expect(store.size).toBe(1);
  });

  it('updates from the unfinished list and names the jobs that left it', () => {
    const store = new JobStore();
    store.applyAll([
      job({ id: 'run', phase: 'Running' }),
      job({ id: 'wait', phase: 'Pending' }),
      job({ id: 'old', phase: 'Succeeded', output_state: 'ready' })
    ]);
    const diff = store.applyUnfinished([
      job({ id: 'run', phase: 'Running', current_cell: 2 }),
      job({ id: 'new', phase: 'Pending' })
    ]);
    expect(diff.changed.map(j => j.id)).toEqual(['run']);
    expect(diff.added.map(j => j.id)).toEqual(['new']);
    expect(diff.vanished).toEqual(['wait']);
    expect(diff.removed).toEqual([]);
    // Finished jobs are not in that list and stay as they are.
    expect(store.get('old')?.phase).toBe('Succeeded');
    expect(store.get('wait')?.phase).toBe('Pending');
  });

  it('upserts and removes single jobs', () => {
    const store = new JobStore();
    expect(store.upsert(job({ id: 'x' })).added).toHaveLength(1);
    expect(
      store.upsert(job({ id: 'x', phase: 'Running' })).changed
    ).toHaveLength(1);
    expect(store.remove('x').removed).toEqual(['x']);
    expect(store.remove('x').removed).toEqual([]);
  });

  it('filters by status and notebook text', () => {
    const store = new JobStore();
    store.applyAll([
      job({ id: '1', notebook: 'a/Report.ipynb', phase: 'Running' }),
      job({ id: '2', notebook: 'b/other.ipynb', phase: 'Failed' }),
      job({ id: '3', notebook: 'b/report-2.ipynb', phase: 'Pending' })
    ]);
    const ids = (f: Parameters<JobStore['filter']>[0]) =>
      store
        .filter(f)
        .map(j => j.id)
        .sort();
    expect(ids({})).toEqual(['1', '2', '3']);
    expect(ids({ status: ['Failed'] })).toEqual(['2']);
    expect(ids({ status: ['unfinished'] })).toEqual(['1', '3']);
    expect(ids({ notebook: 'REPORT' })).toEqual(['1', '3']);
    expect(ids({ notebook: ' b/ ', status: ['Pending', 'Failed'] })).toEqual([
      '2',
      '3'
    ]);
    expect(matchesFilter(job(), { notebook: 'nothing-like-it' })).toBe(false);
  });

  it('sorts newest first, then by id', () => {
    const a = job({ id: 'a', created: '2026-01-01T10:00:00Z' });
    const b = job({ id: 'b', created: '2026-01-01T11:00:00Z' });
    const c = job({ id: 'c', created: '2026-01-01T11:00:00Z' });
    expect([a, b, c].sort(compareJobs).map(j => j.id)).toEqual(['c', 'b', 'a']);
  });

  it('diffs 1,000 jobs quickly', () => {
    const jobs = Array.from({ length: 1000 }, (_, i) =>
      job({
        id: `j${i}`,
        phase: i % 10 ? 'Succeeded' : 'Running',
        output_state: 'ready'
      })
    );
    const store = new JobStore();
    store.applyAll(jobs);
    const next = jobs.map(j =>
      j.phase === 'Running' ? { ...j, current_cell: 2 } : { ...j }
    );
    const t = performance.now();
    const diff = store.applyAll(next);
    const ms = performance.now() - t;
    expect(diff.changed).toHaveLength(100);
    expect(ms).toBeLessThan(200);
  });
});

describe('pollDelay', () => {
  const fast = 2000;
  const idle = 15000;
  it('is fast only while a visible view has changing jobs, or a watched job runs', () => {
    const visible = { documentVisible: true };
    expect(
      pollDelay({ ...visible, viewVisible: true, active: true }, fast, idle)
    ).toBe(2000);
    expect(
      pollDelay({ ...visible, viewVisible: true, active: false }, fast, idle)
    ).toBe(15000);
    expect(
      pollDelay({ ...visible, viewVisible: false, active: true }, fast, idle)
    ).toBe(15000);
    expect(
      pollDelay(
        { ...visible, viewVisible: false, active: true, watching: true },
        fast,
        idle
      )
    ).toBe(2000);
  });

  it('waits four times longer in a hidden tab', () => {
    expect(
      pollDelay(
        {
          documentVisible: false,
          viewVisible: true,
          active: true,
          watching: true
        },
        fast,
        idle
      )
    ).toBe(60000);
  });
});
