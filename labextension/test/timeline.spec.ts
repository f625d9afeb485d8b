import { buildTimeline, timelineTime } from '../src/models/timeline';
import { IJobEvent } from '../src/tokens';
import { job } from './helpers';

function event(overrides: Partial<IJobEvent>): IJobEvent {
  return {
    time: '2026-01-01T10:00:01Z',
    type: 'Normal',
    reason: 'Scheduled',
    message: 'Successfully assigned ns/p to node-1',
    object: 'Pod',
    name: 'nb-report-abc123-x1',
    count: 1,
    ...overrides
  };
}

describe('buildTimeline', () => {
  it('merges milestones with events, oldest first', () => {
    const entries = buildTimeline(
      job({
        phase: 'Succeeded',
        started: '2026-01-01T10:00:03Z',
        finished: '2026-01-01T10:00:09Z',
        reason: 'Completed'
      }),
      [
        event({
          time: '2026-01-01T10:00:09Z',
          reason: 'Completed',
          message: 'Job completed',
          object: 'Job',
          name: 'nb-report-abc123'
        }),
        event({
          time: '2026-01-01T10:00:02Z',
          reason: 'Started',
          message: 'Container started',
          container: 'runner'
        }),
        event({})
      ]
    );
    expect(entries.map(e => `${e.title}:${e.tone}`)).toEqual([
      'Submitted:info',
      'Scheduled:info',
      'Started:info',
      'Running:info',
      'Completed:info',
      'Succeeded:success'
    ]);
    expect(entries[0].detail).toBe('reports/report.ipynb with profile cpu');
    expect(entries[1].source).toBe('Pod/nb-report-abc123-x1');
    expect(entries[2].source).toBe('Pod/nb-report-abc123-x1 (runner)');
    expect(entries[5].detail).toBe('Completed');
  });

  it('shows warnings, repeats and failures', () => {
    const entries = buildTimeline(
      job({
        phase: 'Failed',
        finished: '2026-01-01T10:05:00Z',
        reason: 'DeadlineExceeded',
        message: 'the job ran past its deadline'
      }),
      [
        event({
          type: 'Warning',
          reason: 'FailedScheduling',
          message: '0/1 nodes are available: 1 Insufficient nvidia.com/gpu.',
          count: 4
        })
      ]
    );
    expect(entries[1]).toMatchObject({
      tone: 'warning',
      title: 'FailedScheduling',
      count: 4
    });
    expect(entries[2]).toMatchObject({
      tone: 'error',
      title: 'Failed',
      detail: 'DeadlineExceeded: the job ran past its deadline'
    });
  });

  it('puts entries without a time last, in their order', () => {
    const entries = buildTimeline(job({ created: null }), [
      event({ time: null, reason: 'A' }),
      event({ reason: 'B' }),
      event({ time: null, reason: 'C' })
    ]);
    expect(entries.map(e => e.title)).toEqual(['B', 'A', 'C']);
  });

  it('formats times and their absence', () => {
    expect(timelineTime(null)).toBe('—');
    expect(timelineTime('not a time')).toBe('—');
    expect(timelineTime('2026-01-01T10:00:01Z')).toMatch(/\d{2}:\d{2}:\d{2}/);
  });
});

describe('buildTimeline ordering', () => {
  it('ends with the finish, also when the last event is stamped a second later', () => {
    const entries = buildTimeline(
      job({
        phase: 'Succeeded',
        started: '2026-01-01T10:00:02Z',
        finished: '2026-01-01T10:00:09Z'
      }),
      [
        event({
          time: '2026-01-01T10:00:10Z',
          reason: 'Completed',
          object: 'Job',
          name: 'nb-report-abc123'
        })
      ]
    );
    expect(entries.map(e => e.title)).toEqual([
      'Submitted',
      'Running',
      'Completed',
      'Succeeded'
    ]);
  });

  it('leaves out how jupyter-k8s makes a job (suspended, then resumed)', () => {
    const entries = buildTimeline(job(), [
      event({ object: 'Job', reason: 'Suspended', message: 'Job suspended' }),
      event({
        object: 'Job',
        reason: 'SuccessfulCreate',
        message: 'Created pod: p'
      }),
      event({ object: 'Job', reason: 'Resumed', message: 'Job resumed' })
    ]);
    expect(entries.map(e => e.title)).toEqual([
      'Submitted',
      'SuccessfulCreate'
    ]);
  });

  it('keeps the server’s order within a second (whole-second kubelet stamps)', () => {
    const entries = buildTimeline(
      job({
        created: '2026-01-01T10:00:01.200Z',
        started: '2026-01-01T10:00:02Z'
      }),
      [
        event({ time: '2026-01-01T10:00:01.600Z', reason: 'Scheduled' }),
        event({ time: '2026-01-01T10:00:01Z', reason: 'Pulled' }),
        event({ time: '2026-01-01T10:00:01Z', reason: 'Started' })
      ]
    );
    expect(entries.map(e => e.title)).toEqual([
      'Submitted',
      'Scheduled',
      'Pulled',
      'Started',
      'Running'
    ]);
  });
});
