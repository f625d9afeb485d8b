import {
  describeKernelStatus,
  IKernelStartupView,
  IKernelStatusText,
  isStarting,
  kernelTitle,
  KernelStartupWatcher,
  schedulerSummary
} from '../src/models/kernels';
import { IKernelStatus } from '../src/tokens';

const GPU_MESSAGE =
  '0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are ' +
  'available: 1 No preemption victims found for incoming pod.';

function status(overrides: Partial<IKernelStatus> = {}): IKernelStatus {
  return {
    kernel_id: 'k1',
    kernel_name: 'k8s-gpu',
    profile: 'gpu',
    pod: 'jk8s-kernel-k1',
    phase: 'Pending',
    reason: null,
    message: null,
    notebook: 'work/train.ipynb',
    ...overrides
  };
}

describe('describeKernelStatus', () => {
  it('says a GPU is missing, in the scheduler’s words', () => {
    expect(
      describeKernelStatus(
        status({ reason: 'Unschedulable', message: GPU_MESSAGE })
      )
    ).toEqual({
      text: 'Waiting for a GPU: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu',
      tone: 'pending'
    });
  });

  it('names CPU, memory and other resources', () => {
    const text = (message: string) =>
      describeKernelStatus(status({ reason: 'Unschedulable', message })).text;
    expect(text('0/3 nodes are available: 3 Insufficient cpu.')).toBe(
      'Waiting for CPU: 0/3 nodes are available: 3 Insufficient cpu'
    );
    expect(text('0/3 nodes are available: 3 Insufficient memory.')).toBe(
      'Waiting for memory: 0/3 nodes are available: 3 Insufficient memory'
    );
    expect(
      text('0/1 nodes are available: 1 node(s) had untolerated taint {a: b}.')
    ).toBe(
      'Waiting for a node: 0/1 nodes are available: 1 node(s) had untolerated taint {a: b}'
    );
  });

  it('reads each start-up step', () => {
    const text = (o: Partial<IKernelStatus>) => describeKernelStatus(status(o));
    expect(text({ phase: 'Creating' }).text).toBe('Creating the kernel’s pod…');
    expect(text({ reason: 'SchedulingGated' }).text).toBe(
      'Preparing the kernel’s connection…'
    );
    expect(text({ reason: 'Scheduling' }).text).toBe(
      'Waiting for the scheduler…'
    );
    expect(
      text({
        phase: 'Starting',
        reason: 'PullingImage',
        message: 'Pulling image "pytorch:2"'
      }).text
    ).toBe('Pulling the image: Pulling image "pytorch:2"');
    expect(text({ phase: 'Starting', reason: 'ContainerCreating' }).text).toBe(
      'Starting the kernel in its pod…'
    );
    expect(text({ phase: 'Starting', reason: 'Restarting' }).text).toBe(
      'Restarting the kernel…'
    );
    expect(text({ phase: 'Running', node: 'node-1', pod: 'p' })).toEqual({
      text: 'Running on node node-1 (pod p)',
      tone: 'success'
    });
    expect(
      text({
        phase: 'Failed',
        reason: 'ErrImagePull',
        message: 'no such image'
      })
    ).toEqual({ text: 'Failed: ErrImagePull: no such image', tone: 'error' });
  });

  it('says briefly why a start timed out while unschedulable', () => {
    const s = status({
      phase: 'Failed',
      reason: 'StartTimeout',
      message:
        'kernel pod kernel-0d2ee984-xmj2o did not start within 20 s (Pending: ' +
        `Unschedulable: ${GPU_MESSAGE}); the pod was deleted`
    });
    const text = describeKernelStatus(s);
    expect(text).toEqual({
      text: 'Gave up waiting for a GPU: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu',
      tone: 'error'
    });
    expect(`${kernelTitle(s)}: ${text.text}`.length).toBeLessThanOrEqual(140);
  });

  it('knows which phases are still starting', () => {
    expect(
      ['Creating', 'Pending', 'Starting'].map(p =>
        isStarting(status({ phase: p }))
      )
    ).toEqual([true, true, true]);
    expect(isStarting(status({ phase: 'Running' }))).toBe(false);
    expect(isStarting(status({ phase: 'Failed' }))).toBe(false);
  });

  it('keeps the scheduler’s first sentence', () => {
    expect(schedulerSummary(GPU_MESSAGE)).toBe(
      '0/1 nodes are available: 1 Insufficient nvidia.com/gpu'
    );
    expect(schedulerSummary('no preemption here.')).toBe('no preemption here');
  });

  it('titles a kernel by profile and notebook', () => {
    expect(kernelTitle(status())).toBe('Kernel “gpu” for train.ipynb');
    expect(kernelTitle(status({ profile: null, notebook: null }))).toBe(
      'Kernel “k8s-gpu”'
    );
  });
});

class FakeView implements IKernelStartupView {
  log: string[] = [];
  show(id: string, title: string, s: IKernelStatusText): void {
    this.log.push(`show ${id}: ${s.text}`);
  }
  done(id: string, title: string, s: IKernelStatusText): void {
    this.log.push(`done ${id} ${s.tone}: ${s.text}`);
  }
  drop(id: string): void {
    this.log.push(`drop ${id}`);
  }
}

/** A watcher on jest's fake clock; `polledAt` holds the clock's time of each poll. */
function harness(answers: IKernelStatus[][]) {
  const start = Date.now();
  const view = new FakeView();
  const polledAt: number[] = [];
  let polls = 0;
  const watcher = new KernelStartupWatcher({
    fetch: async () => {
      polledAt.push(Date.now() - start);
      const answer = answers[Math.min(polls, answers.length - 1)];
      polls++;
      return answer;
    },
    view,
    interval: 1000,
    linger: 3000,
    grace: 500
  });
  return { watcher, view, polledAt, polls: () => polls };
}

/** Wait for a watcher's polls to end, running the fake clock meanwhile. */
async function polled(watcher: KernelStartupWatcher): Promise<void> {
  const ended = watcher.expect();
  await jest.runAllTimersAsync();
  await ended;
}

describe('KernelStartupWatcher', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('follows a GPU kernel from pending to running, then stops polling', async () => {
    const pending = status({ reason: 'Unschedulable', message: GPU_MESSAGE });
    const { watcher, view, polledAt, polls } = harness([
      [status({ phase: 'Creating' })],
      [pending],
      [pending],
      [status({ phase: 'Running', node: 'n1' })],
      [status({ phase: 'Running', node: 'n1' })]
    ]);
    await polled(watcher);
    expect(view.log).toEqual([
      'show k1: Creating the kernel’s pod…',
      'show k1: Waiting for a GPU: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu',
      'done k1 success: Running on node n1 (pod jk8s-kernel-k1)'
    ]);
    // The first poll waits for the grace; an unchanged status is not shown twice.
    expect(polledAt[0]).toBe(500);
    expect(polls()).toBe(4);
    expect(watcher.polling).toBe(false);
    expect(watcher.showing).toEqual([]);
  });

  it('shows nothing for a kernel that is up by the first poll', async () => {
    const { watcher, view, polls } = harness([
      [status({ phase: 'Running', node: 'n1' })]
    ]);
    await polled(watcher);
    expect(view.log).toEqual([]);
    // It looked until the linger time (3 s) passed: at 0.5, 1.5, 2.5 and 3.5 s.
    expect(polls()).toBe(4);
  });

  it('reports a failed start as an error', async () => {
    const { watcher, view } = harness([
      [status({ phase: 'Starting', reason: 'ContainerCreating' })],
      [
        status({
          phase: 'Failed',
          reason: 'ErrImagePull',
          message: 'not found'
        })
      ]
    ]);
    await polled(watcher);
    expect(view.log).toEqual([
      'show k1: Starting the kernel in its pod…',
      'done k1 error: Failed: ErrImagePull: not found'
    ]);
  });

  it('drops a kernel that vanished while starting', async () => {
    const { watcher, view } = harness([[status()], []]);
    await polled(watcher);
    expect(view.log).toEqual([
      'show k1: Waiting for the scheduler…',
      'drop k1'
    ]);
  });

  it('ignores kernels that were already running or failed', () => {
    const { watcher, view } = harness([]);
    watcher.update([
      status({ kernel_id: 'a', phase: 'Running' }),
      status({ kernel_id: 'b', phase: 'Failed' })
    ]);
    expect(view.log).toEqual([]);
  });

  it('shares one poll loop between concurrent starts', async () => {
    const { watcher } = harness([[]]);
    const first = watcher.expect();
    const second = watcher.expect();
    expect(second).toBe(first);
    await jest.runAllTimersAsync();
    await first;
  });

  it('gives up after repeated errors, keeping what it showed', async () => {
    let calls = 0;
    const view = new FakeView();
    const watcher = new KernelStartupWatcher({
      fetch: async () => {
        calls++;
        if (calls === 1) {
          return [status()];
        }
        throw new Error('server away');
      },
      view,
      grace: 0
    });
    await polled(watcher);
    expect(calls).toBe(6);
    expect(watcher.showing).toEqual(['k1']);
    watcher.dispose();
    expect(view.log).toEqual([
      'show k1: Waiting for the scheduler…',
      'drop k1'
    ]);
  });
});
