import { english } from '../src/i18n';
import { describeKernelStatus } from '../src/models/kernels';
import {
  clip,
  CHIP_NAME_MAX,
  isQueueReason,
  isQueueWaiting,
  priorityChoices,
  queueChipText,
  queueChoices,
  queuedClause,
  queuePlace,
  queueRequestFields,
  queueRows,
  queueStartupText,
  queueStateLabel,
  usageLine
} from '../src/models/queue';
import { statusChip } from '../src/models/status';
import { IKernelStatus, IProfile, IQueueInfo, QueueState } from '../src/tokens';
import { createRow, renderRow } from '../src/widgets/jobRow';
import { JobQueue } from '../src/widgets/JobQueue';
import { job } from './helpers';

const QUEUED_MESSAGE =
  'Queued in gpu: position 2 of 3; ClusterQueue team-a uses nvidia.com/gpu 1 of 1';

/** A queue object as the server answers it, with overrides. */
function queue(overrides: Partial<IQueueInfo> = {}): IQueueInfo {
  return {
    queue: 'gpu',
    cluster_queue: 'team-a',
    state: 'queued',
    position: 2,
    pending: 3,
    priority_class: null,
    usage: [{ resource: 'nvidia.com/gpu', used: '1', quota: '1' }],
    message: QUEUED_MESSAGE,
    ...overrides
  };
}

/** A queued job: Pending, reason Queued, the queue's message. */
function queuedJob(q: Partial<IQueueInfo> = {}) {
  const info = queue(q);
  const reasons: Record<QueueState, string> = {
    queued: 'Queued',
    preempted: 'Preempted',
    inadmissible: 'Inadmissible',
    admitted: 'Admitted',
    finished: 'Finished'
  };
  return job({
    phase: 'Pending',
    reason: reasons[info.state],
    message: info.message,
    queue: info
  });
}

const HOSTILE = '<img src=x onerror="window.hacked=1">';

describe('queueChipText', () => {
  it('gives a queued job its place: Queued 2/3 in gpu', () => {
    expect(queueChipText(queue())).toBe('Queued 2/3 in gpu');
    expect(queueChipText(queue({ position: 1, pending: 1 }))).toBe(
      'Queued 1/1 in gpu'
    );
  });

  it('does without the parts Kueue did not say', () => {
    expect(queueChipText(queue({ position: null, pending: null }))).toBe(
      'Queued in gpu'
    );
    expect(queueChipText(queue({ position: undefined, pending: 4 }))).toBe(
      'Queued in gpu'
    );
    expect(queueChipText(queue({ position: 2, pending: null }))).toBe(
      'Queued #2 in gpu'
    );
    // A total below the position (two answers of different moments) is not shown.
    expect(queueChipText(queue({ position: 5, pending: 3 }))).toBe(
      'Queued #5 in gpu'
    );
    // Not a count: not shown.
    expect(queueChipText(queue({ position: 1.5 as number, pending: 3 }))).toBe(
      'Queued in gpu'
    );
    expect(queueChipText(queue({ position: 0, pending: 3 }))).toBe(
      'Queued in gpu'
    );
  });

  it('names the other waiting states in a word', () => {
    expect(queueChipText(queue({ state: 'preempted' }))).toBe('Preempted');
    expect(queueChipText(queue({ state: 'inadmissible' }))).toBe(
      'Inadmissible'
    );
  });

  it('says nothing once admitted or finished, or without a queue', () => {
    expect(queueChipText(queue({ state: 'admitted' }))).toBe('');
    expect(queueChipText(queue({ state: 'finished' }))).toBe('');
    expect(queueChipText(null)).toBe('');
    expect(queueChipText(undefined)).toBe('');
  });

  it('clips a long queue name', () => {
    const name = 'q'.repeat(253);
    const text = queueChipText(queue({ queue: name }));
    expect(text).toBe(`Queued 2/3 in ${'q'.repeat(CHIP_NAME_MAX - 1)}…`);
    expect(clip('short', 10)).toBe('short');
    expect(clip('abcdef', 4)).toBe('abc…');
  });
});

describe('queue states', () => {
  it('labels every state and knows which wait', () => {
    const states: QueueState[] = [
      'queued',
      'admitted',
      'preempted',
      'inadmissible',
      'finished'
    ];
    expect(states.map(s => queueStateLabel(s))).toEqual([
      'Queued',
      'Admitted',
      'Preempted',
      'Inadmissible',
      'Finished'
    ]);
    expect(states.map(s => isQueueWaiting(queue({ state: s })))).toEqual([
      true,
      false,
      true,
      true,
      false
    ]);
    expect(queueStateLabel('paused' as QueueState)).toBe('paused');
    expect(isQueueReason('Queued')).toBe(true);
    expect(isQueueReason('Unschedulable')).toBe(false);
    expect(isQueueReason(null)).toBe(false);
  });

  it('reads the place and the usage', () => {
    expect(queuePlace(queue())).toBe('2 of 3');
    expect(queuePlace(queue({ pending: null }))).toBe('2');
    expect(queuePlace(queue({ position: null }))).toBe('3 pending');
    expect(queuePlace(queue({ position: null, pending: 0 }))).toBe('');
    expect(
      usageLine({ resource: 'nvidia.com/gpu', used: '1', quota: '1' })
    ).toBe('nvidia.com/gpu 1 of 1');
    expect(usageLine({ resource: 'memory', used: '12Gi', quota: '64Gi' })).toBe(
      'memory 12Gi of 64Gi'
    );
  });
});

describe('statusChip of a queued job', () => {
  it('shows the place in the chip and Kueue’s message in the title', () => {
    expect(statusChip(queuedJob())).toEqual({
      text: 'Pending · Queued 2/3 in gpu',
      tone: 'pending',
      title: `Pending: Queued — ${QUEUED_MESSAGE}`
    });
  });

  it('marks an inadmissible job as one that waiting will not help', () => {
    const message =
      'Inadmissible: couldn’t assign flavors to pod set main: resource nvidia.com/gpu unavailable in ClusterQueue';
    const chip = statusChip(
      queuedJob({ state: 'inadmissible', position: null, message })
    );
    expect(chip.text).toBe('Pending · Inadmissible');
    expect(chip.tone).toBe('error');
    expect(chip.title).toBe(`Pending: Inadmissible — ${message}`);
  });

  it('shows a preempted job as such', () => {
    const chip = statusChip(queuedJob({ state: 'preempted' }));
    expect(chip).toMatchObject({
      text: 'Pending · Preempted',
      tone: 'pending'
    });
  });

  it('leaves an admitted job’s status to the job', () => {
    const running = job({
      phase: 'Running',
      current_cell: 2,
      total_cells: 4,
      queue: queue({
        state: 'admitted',
        message: 'Admitted by ClusterQueue team-a'
      })
    });
    expect(statusChip(running).text).toBe('Running · cell 2/4');
    // Pending but admitted (its pod is being scheduled): the job's own reason.
    const scheduling = job({
      phase: 'Pending',
      reason: 'ContainerCreating',
      queue: queue({ state: 'admitted' })
    });
    expect(statusChip(scheduling).text).toBe('Pending · ContainerCreating');
  });
});

describe('the job row of a queued job', () => {
  it('shows the compact state, the message as text, the whole story as its title', () => {
    const row = createRow();
    renderRow(queuedJob(), row, Date.parse('2026-01-01T10:00:30Z'));
    expect(row.querySelector('.jp-k8s-Chip')!.textContent).toBe(
      'Pending · Queued 2/3 in gpu'
    );
    expect(row.querySelector('.jp-k8s-JobRow-message')!.textContent).toBe(
      QUEUED_MESSAGE
    );
    expect(row.title).toContain(QUEUED_MESSAGE);
  });

  it('never turns a hostile name or message into HTML', () => {
    const row = createRow();
    const hostile = queuedJob({ queue: HOSTILE, message: HOSTILE });
    renderRow(hostile, row, Date.now());
    expect(row.querySelector('img')).toBeNull();
    expect(row.querySelector('.jp-k8s-JobRow-message')!.textContent).toBe(
      HOSTILE
    );
    expect(row.querySelector('.jp-k8s-Chip')!.textContent).toBe(
      `Pending · Queued 2/3 in ${clip(HOSTILE, CHIP_NAME_MAX)}`
    );
  });
});

describe('queueRows', () => {
  it('lists a waiting job’s queue, place, priority, usage and message', () => {
    const rows = queueRows(
      queue({
        priority_class: 'high',
        usage: [
          { resource: 'nvidia.com/gpu', used: '1', quota: '1' },
          { resource: 'cpu', used: '500m', quota: '2' }
        ]
      })
    );
    expect(rows.map(r => [r.key, r.label, r.value])).toEqual([
      ['state', 'State', 'Queued'],
      ['queue', 'Queue', 'gpu'],
      ['cluster_queue', 'ClusterQueue', 'team-a'],
      ['position', 'Position', '2 of 3'],
      ['priority_class', 'Priority class', 'high'],
      ['usage', 'Usage', ['nvidia.com/gpu 1 of 1', 'cpu 500m of 2']],
      ['message', 'Message', QUEUED_MESSAGE]
    ]);
  });

  it('says what is not known, and no position once admitted', () => {
    const waiting = queueRows(
      queue({
        cluster_queue: null,
        position: null,
        pending: null,
        usage: [],
        message: ''
      })
    );
    expect(Object.fromEntries(waiting.map(r => [r.key, r.value]))).toEqual({
      state: 'Queued',
      queue: 'gpu',
      cluster_queue: '—',
      position: 'not known yet',
      priority_class: '—',
      message: '—'
    });
    const admitted = queueRows(
      queue({ state: 'admitted', message: 'Admitted by ClusterQueue team-a' })
    );
    expect(admitted.map(r => r.key)).toEqual([
      'state',
      'queue',
      'cluster_queue',
      'priority_class',
      'usage',
      'message'
    ]);
    // Usage that is not a list (a server of another version): no usage row.
    const odd = queueRows(queue({ usage: null as unknown as [] }));
    expect(odd.some(r => r.key === 'usage')).toBe(false);
  });
});

describe('JobQueue (the job view’s Queue block)', () => {
  it('is hidden for a job in no queue', () => {
    const block = new JobQueue(english);
    block.render(job());
    expect(block.nodes.every(n => n.style.display === 'none')).toBe(true);
    block.render(null);
    expect(block.nodes.every(n => n.style.display === 'none')).toBe(true);
  });

  it('shows the rows and follows the job as it moves up', () => {
    const block = new JobQueue(english);
    const [heading, fields] = block.nodes;
    block.render(queuedJob());
    expect(heading.style.display).toBe('');
    expect(heading.textContent).toBe('Queue');
    const value = (key: string) =>
      fields.querySelector(`dd[data-field="${key}"]`)?.textContent ?? null;
    expect(value('position')).toBe('2 of 3');
    expect(value('usage')).toBe('nvidia.com/gpu 1 of 1');
    expect(fields.classList.contains('jp-mod-waiting')).toBe(true);

    block.render(queuedJob({ position: 1, pending: 2 }));
    expect(value('position')).toBe('1 of 2');

    block.render(
      job({
        phase: 'Running',
        queue: queue({
          state: 'admitted',
          message: 'Admitted by ClusterQueue team-a'
        })
      })
    );
    expect(value('position')).toBeNull();
    expect(value('state')).toBe('Admitted');
    expect(value('message')).toBe('Admitted by ClusterQueue team-a');
    expect(fields.classList.contains('jp-mod-waiting')).toBe(false);
  });

  it('shows untrusted strings as text, never as HTML', () => {
    const block = new JobQueue(english);
    const long = 'x'.repeat(2048);
    block.render(
      queuedJob({
        queue: HOSTILE,
        cluster_queue: HOSTILE,
        priority_class: HOSTILE,
        usage: [{ resource: HOSTILE, used: '1', quota: '1' }],
        message: `${HOSTILE} ${long}`
      })
    );
    const fields = block.nodes[1];
    expect(fields.querySelector('img')).toBeNull();
    expect(fields.querySelector('dd[data-field="queue"]')!.textContent).toBe(
      HOSTILE
    );
    expect(fields.querySelector('dd[data-field="message"]')!.textContent).toBe(
      `${HOSTILE} ${long}`
    );
    expect(fields.querySelector('dd[data-field="usage"]')!.textContent).toBe(
      `${HOSTILE} 1 of 1`
    );
  });
});

function kernel(overrides: Partial<IKernelStatus> = {}): IKernelStatus {
  return {
    kernel_id: 'k1',
    kernel_name: 'k8s-gpu-queued',
    profile: 'gpu-queued',
    pod: 'jk8s-kernel-k1',
    phase: 'Pending',
    reason: null,
    message: null,
    notebook: 'train.ipynb',
    ...overrides
  };
}

describe('a queued kernel’s start-up line', () => {
  const message =
    'Queued in gpu: position 1 of 1; ClusterQueue team-a uses nvidia.com/gpu 1 of 1';

  it('reads Kueue’s words as they are, not as the scheduler’s', () => {
    expect(describeKernelStatus(kernel({ reason: 'Queued', message }))).toEqual(
      { text: message, tone: 'pending' }
    );
    // A kernel status with a queue object: its message.
    expect(
      describeKernelStatus(
        kernel({
          reason: 'SchedulingGated',
          message: 'gated',
          queue: queue({ position: 1, pending: 1, message })
        })
      ).text
    ).toBe(message);
    // Kueue's own reason has "insufficient" in it: not read as a missing resource.
    const quota =
      'Queued in gpu: position 1 of 1; insufficient unused quota for nvidia.com/gpu in flavor default-flavor, 1 more needed';
    expect(
      describeKernelStatus(kernel({ reason: 'Queued', message: quota })).text
    ).toBe(quota);
  });

  it('says the state first where the message does not', () => {
    expect(
      queueStartupText({
        reason: 'Preempted',
        message: 'by a higher priority workload'
      })
    ).toBe('Preempted: by a higher priority workload');
    expect(
      queueStartupText({
        reason: 'Preempted',
        message:
          'Preempted by a higher priority workload in ClusterQueue team-a (job requeued); Queued in gpu: position 1 of 2'
      })
    ).toBe(
      'Preempted by a higher priority workload in ClusterQueue team-a (job requeued); Queued in gpu: position 1 of 2'
    );
    expect(
      queueStartupText({
        reason: 'Inadmissible',
        message: 'Inadmissible: LocalQueue gpu doesn’t exist'
      })
    ).toBe('Inadmissible: LocalQueue gpu doesn’t exist');
  });

  it('builds a line from the queue object without a message', () => {
    expect(
      queueStartupText({
        queue: queue({ position: 1, pending: 1, message: '' })
      })
    ).toBe('Queued in gpu: position 1 of 1');
    expect(
      queueStartupText({
        queue: queue({ position: null, pending: null, message: '' })
      })
    ).toBe('Queued in gpu');
    expect(
      queueStartupText({ queue: queue({ state: 'preempted', message: '' }) })
    ).toBe('Preempted in queue gpu');
    expect(queueStartupText({ reason: 'Queued' })).toBe(
      'Waiting in a Kueue queue…'
    );
  });

  it('says a kernel Kueue just admitted is admitted', () => {
    expect(
      describeKernelStatus(
        kernel({
          reason: 'Admitted',
          message: 'Admitted by ClusterQueue team-a'
        })
      ).text
    ).toBe('Admitted by ClusterQueue team-a');
    expect(queueStartupText({ reason: 'Admitted' })).toBe('Admitted by Kueue');
  });

  it('leaves other statuses to the scheduler’s wording', () => {
    expect(
      queueStartupText({ reason: 'Unschedulable', message: 'x' })
    ).toBeNull();
    expect(
      queueStartupText({ queue: queue({ state: 'admitted' }), reason: null })
    ).toBeNull();
    expect(
      describeKernelStatus(
        kernel({
          reason: 'Unschedulable',
          message: '0/1 nodes are available: 1 Insufficient nvidia.com/gpu.',
          queue: queue({ state: 'admitted' })
        })
      ).text
    ).toBe(
      'Waiting for a GPU: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu'
    );
  });

  it('says briefly that a start timed out in the queue', () => {
    const failed = kernel({
      phase: 'Failed',
      reason: 'StartTimeout',
      message: `kernel pod jk8s-kernel-k1 did not start within 600 s: it was still waiting in its Kueue queue (${message}); the pod was deleted`
    });
    expect(describeKernelStatus(failed)).toEqual({
      text: 'Gave up waiting in the queue: Queued in gpu: position 1 of 1',
      tone: 'error'
    });
    expect(queuedClause('Queued in gpu (3 pending)')).toBe('Queued in gpu');
    expect(
      queuedClause(
        'kernel pod p did not start within 600 s: it was still waiting in its Kueue queue (Inadmissible: LocalQueue gpu is stopped); the pod was deleted'
      )
    ).toBe('Inadmissible: LocalQueue gpu is stopped');
    expect(queuedClause('nothing here')).toBeNull();
  });
});

function profile(overrides: Partial<IProfile> = {}): IProfile {
  return {
    name: 'gpu-queued',
    display_name: 'GPU (queued)',
    gpus: 1,
    gpu_resource: 'nvidia.com/gpu',
    default: false,
    ...overrides
  };
}

describe('the submit form’s queue and priority choices', () => {
  it('offers no choice where there is none', () => {
    expect(queueChoices(undefined)).toBeNull();
    expect(queueChoices(profile())).toBeNull();
    expect(queueChoices(profile({ queue: 'gpu', queues: ['gpu'] }))).toBeNull();
    expect(
      priorityChoices(
        profile({
          queue: 'gpu',
          priority_class: 'low',
          priority_classes: ['low']
        })
      )
    ).toBeNull();
  });

  it('lists the default first, then the others, once each', () => {
    expect(
      queueChoices(
        profile({ queue: 'gpu', queues: ['gpu', 'gpu-long', 'gpu'] })
      )
    ).toEqual([
      { value: 'gpu', label: 'gpu (default)' },
      { value: 'gpu-long', label: 'gpu-long' }
    ]);
    expect(
      priorityChoices(
        profile({ priority_class: 'low', priority_classes: ['low', 'high'] })
      )
    ).toEqual([
      { value: 'low', label: 'low (default)' },
      { value: 'high', label: 'high' }
    ]);
  });

  it('offers "not queued" when the profile has no queue of its own', () => {
    expect(queueChoices(profile({ queues: ['gpu'] }))).toEqual([
      { value: '', label: 'Not queued (run at once)' },
      { value: 'gpu', label: 'gpu' }
    ]);
    expect(
      priorityChoices(profile({ queue: 'gpu', priority_classes: ['high'] }))
    ).toEqual([
      { value: '', label: 'None (the queue’s default)' },
      { value: 'high', label: 'high' }
    ]);
  });

  it('sends only picks that differ from the profile’s defaults', () => {
    const p = profile({
      queue: 'gpu',
      queues: ['gpu', 'gpu-long'],
      priority_class: 'low',
      priority_classes: ['low', 'high']
    });
    expect(queueRequestFields(p, undefined, undefined)).toEqual({});
    expect(queueRequestFields(p, 'gpu', 'low')).toEqual({});
    expect(queueRequestFields(p, 'gpu-long', 'high')).toEqual({
      queue: 'gpu-long',
      priority_class: 'high'
    });
    expect(queueRequestFields(p, undefined, 'high')).toEqual({
      priority_class: 'high'
    });
    expect(queueRequestFields(undefined, 'gpu', 'high')).toEqual({});
  });

  it('sends no priority class without a queue to use it in', () => {
    const optional = profile({ queues: ['gpu'], priority_classes: ['high'] });
    expect(queueRequestFields(optional, '', 'high')).toEqual({});
    expect(queueRequestFields(optional, undefined, 'high')).toEqual({});
    expect(queueRequestFields(optional, 'gpu', 'high')).toEqual({
      queue: 'gpu',
      priority_class: 'high'
    });
  });
});
