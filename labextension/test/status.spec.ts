import {
  baseName,
  cellProgress,
  formatAge,
  formatDuration,
  isSettled,
  isUnfinished,
  statusChip,
  timeSummary
} from '../src/models/status';
import { job } from './helpers';

describe('statusChip', () => {
  it('shows the reason of a pending job, with the message in the title', () => {
    const chip = statusChip(
      job({
        phase: 'Pending',
        reason: 'Unschedulable',
        message: '0/1 nodes are available: 1 Insufficient nvidia.com/gpu.'
      })
    );
    expect(chip).toEqual({
      text: 'Pending · Unschedulable',
      tone: 'pending',
      title:
        'Pending: Unschedulable — 0/1 nodes are available: 1 Insufficient nvidia.com/gpu.'
    });
  });

  it('shows the running cell', () => {
    expect(
      statusChip(job({ phase: 'Running', current_cell: 3, total_cells: 7 }))
    ).toEqual({
      text: 'Running · cell 3/7',
      tone: 'running',
      title: 'Running (cell 3/7)'
    });
    expect(statusChip(job({ phase: 'Running' })).text).toBe('Running');
  });

  it('reads finished jobs', () => {
    expect(statusChip(job({ phase: 'Succeeded' }))).toEqual({
      text: 'Succeeded',
      tone: 'success',
      title: 'Succeeded'
    });
    expect(
      statusChip(
        job({
          phase: 'Failed',
          reason: 'OOMKilled',
          message: 'over its memory limit'
        })
      )
    ).toMatchObject({ text: 'Failed · OOMKilled', tone: 'error' });
    // A reason equal to the phase is not repeated.
    expect(
      statusChip(job({ phase: 'Cancelled', reason: 'Cancelled' }))
    ).toMatchObject({
      text: 'Cancelled',
      tone: 'cancelled',
      title: 'Cancelled'
    });
  });
});

describe('times', () => {
  it('formats durations', () => {
    expect(formatDuration(0.42)).toBe('0.4 s');
    expect(formatDuration(9.99)).toBe('9.9 s');
    expect(formatDuration(41)).toBe('41 s');
    expect(formatDuration(120)).toBe('2 min');
    expect(formatDuration(185)).toBe('3 min 5 s');
    expect(formatDuration(2 * 3600 + 4 * 60)).toBe('2 h 4 min');
    expect(formatDuration(3 * 86400 + 7200)).toBe('3 d 2 h');
    expect(formatDuration(null)).toBe('');
    expect(formatDuration(NaN)).toBe('');
  });

  it('formats ages', () => {
    const now = Date.parse('2026-01-01T10:00:00Z');
    expect(formatAge('2026-01-01T10:00:00Z', now + 2000)).toBe('just now');
    expect(formatAge('2026-01-01T10:00:00Z', now + 30_000)).toBe('30 s ago');
    expect(formatAge('2026-01-01T10:00:00Z', now + 5 * 60_000)).toBe(
      '5 min ago'
    );
    expect(formatAge('2026-01-01T10:00:00Z', now + 3 * 3600_000)).toBe(
      '3 h ago'
    );
    expect(formatAge('2026-01-01T10:00:00Z', now + 49 * 3600_000)).toBe(
      '2 d ago'
    );
    expect(formatAge(null, now)).toBe('');
    expect(formatAge('not a time', now)).toBe('');
  });

  it('summarises a row’s time: duration when finished or running, else age', () => {
    const now = Date.parse('2026-01-01T10:05:00Z');
    expect(
      timeSummary(job({ phase: 'Succeeded', duration_seconds: 41 }), now)
    ).toBe('took 41 s');
    expect(
      timeSummary(job({ phase: 'Running', duration_seconds: 75 }), now)
    ).toBe('for 1 min 15 s');
    expect(timeSummary(job({ phase: 'Pending' }), now)).toBe('5 min ago');
  });
});

describe('helpers', () => {
  it('tell unfinished and settled jobs', () => {
    expect(isUnfinished(job({ phase: 'Running' }))).toBe(true);
    expect(isUnfinished(job({ phase: 'Failed' }))).toBe(false);
    expect(
      isSettled(job({ phase: 'Succeeded', output_state: 'pending' }))
    ).toBe(false);
    expect(isSettled(job({ phase: 'Succeeded', output_state: 'ready' }))).toBe(
      true
    );
    expect(isSettled(job({ phase: 'Failed', output_state: 'none' }))).toBe(
      true
    );
  });

  it('show progress and file names', () => {
    expect(cellProgress(job({ current_cell: 2 }))).toBe('cell 2');
    expect(cellProgress(job())).toBe('');
    expect(baseName('a/b/c.ipynb')).toBe('c.ipynb');
    expect(baseName('c.ipynb')).toBe('c.ipynb');
  });
});
