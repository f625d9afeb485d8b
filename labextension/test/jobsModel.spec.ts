import { IJobsBackend, JobsModel } from '../src/jobsModel';
import { IJobsDiff } from '../src/models/jobs';
import { IJobInfo } from '../src/tokens';
import { job } from './helpers';

class FakeBackend implements IJobsBackend {
  jobs: IJobInfo[] = [];
  calls: string[] = [];
  async listAll(): Promise<IJobInfo[]> {
    this.calls.push('all');
    return this.jobs.map(j => ({ ...j }));
  }
  async listUnfinished(): Promise<IJobInfo[]> {
    this.calls.push('unfinished');
    return this.jobs.filter(
      j => j.phase === 'Pending' || j.phase === 'Running'
    );
  }
  async get(id: string): Promise<IJobInfo> {
    this.calls.push(`get ${id}`);
    const found = this.jobs.find(j => j.id === id);
    if (!found) {
      throw Object.assign(new Error('not found'), {
        response: { status: 404 }
      });
    }
    return { ...found };
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await Promise.resolve();
  }
}

describe('JobsModel', () => {
  let backend: FakeBackend;
  let model: JobsModel;
  let diffs: IJobsDiff[];
  const storage = new Map<string, string>();
  const fakeStorage = {
    getItem: (k: string) => storage.get(k) ?? null,
    setItem: (k: string, v: string) => void storage.set(k, v)
  };

  beforeEach(() => {
    jest.useFakeTimers();
    storage.clear();
    backend = new FakeBackend();
    model = new JobsModel({
      backend,
      fastInterval: 2000,
      idleInterval: 15000,
      storage: fakeStorage,
      now: () => Date.now()
    });
    diffs = [];
    model.changed.connect((_, d) => void diffs.push(d));
  });

  afterEach(() => {
    model.dispose();
    jest.useRealTimers();
  });

  it('lists everything first, then polls only unfinished jobs fast while visible', async () => {
    backend.jobs = [
      job({ id: 'r', phase: 'Running' }),
      job({ id: 'd', phase: 'Succeeded', output_state: 'ready' })
    ];
    model.setViewVisible('panel', true);
    model.start();
    await flush();
    expect(backend.calls).toEqual(['all']);
    expect(model.loaded).toBe(true);
    expect(model.nextDelay()).toBe(2000);

    await jest.advanceTimersByTimeAsync(2000);
    expect(backend.calls).toEqual(['all', 'unfinished']);

    // The running job ends: it leaves the unfinished list and is asked for by id.
    backend.jobs[0] = {
      ...backend.jobs[0],
      phase: 'Succeeded',
      output_state: 'ready'
    };
    await jest.advanceTimersByTimeAsync(2000);
    expect(backend.calls.slice(2)).toEqual(['unfinished', 'get r']);
    const last = diffs[diffs.length - 1];
    expect(last.finished.map(j => j.id)).toEqual(['r']);
    expect(last.settled.map(j => j.id)).toEqual(['r']);

    // Nothing changes any more: slow polling of the full list.
    expect(model.nextDelay()).toBe(15000);
    await jest.advanceTimersByTimeAsync(14000);
    expect(backend.calls.length).toBe(4);
    await jest.advanceTimersByTimeAsync(1000);
    expect(backend.calls[4]).toBe('all');
  });

  it('polls slowly while no view is visible, and at once when one shows', async () => {
    backend.jobs = [job({ id: 'r', phase: 'Running' })];
    model.start();
    await flush();
    expect(model.nextDelay()).toBe(15000);
    await jest.advanceTimersByTimeAsync(5000);
    expect(backend.calls).toEqual(['all']);
    model.setViewVisible('panel', true);
    await flush();
    expect(backend.calls).toEqual(['all', 'unfinished']);
  });

  it('follows watched jobs fast even when hidden, across a reload', async () => {
    backend.jobs = [job({ id: 'mine', phase: 'Pending' })];
    model.watch('mine');
    model.start();
    await flush();
    expect(model.nextDelay()).toBe(2000);
    const again = new JobsModel({ backend, storage: fakeStorage });
    expect(again.isWatched('mine')).toBe(true);
    again.dispose();
    model.unwatch('mine');
    expect(model.nextDelay()).toBe(15000);
  });

  it('forgets a job deleted elsewhere (404)', async () => {
    backend.jobs = [job({ id: 'gone', phase: 'Running' })];
    model.setViewVisible('panel', true);
    model.start();
    await flush();
    backend.jobs = [];
    await jest.advanceTimersByTimeAsync(2000);
    expect(backend.calls).toEqual(['all', 'unfinished', 'get gone']);
    expect(model.store.get('gone')).toBeUndefined();
    expect(diffs[diffs.length - 1].removed).toEqual(['gone']);
  });

  it('keeps the jobs and says the error when the server fails, and recovers', async () => {
    backend.jobs = [
      job({ id: 'a', phase: 'Succeeded', output_state: 'ready' })
    ];
    model.start();
    await flush();
    const states: (string | null)[] = [];
    model.stateChanged.connect(() => void states.push(model.error));
    backend.listAll = async () => {
      throw new Error('the cluster cannot be reached');
    };
    await model.refresh(true);
    expect(model.error).toBe('the cluster cannot be reached');
    expect(model.store.size).toBe(1);
    backend.listAll = FakeBackend.prototype.listAll.bind(backend);
    await model.refresh(true);
    expect(model.error).toBeNull();
    expect(states).toEqual(['the cluster cannot be reached', null]);
  });

  it('emits nothing when nothing changed', async () => {
    backend.jobs = [
      job({ id: 'a', phase: 'Succeeded', output_state: 'ready' })
    ];
    model.start();
    await flush();
    expect(diffs).toHaveLength(1);
    await model.refresh(true);
    expect(diffs).toHaveLength(1);
  });
});
