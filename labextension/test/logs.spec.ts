import { LogTail } from '../src/models/logs';

describe('LogTail', () => {
  it('joins lines cut across chunks', () => {
    const tail = new LogTail(10);
    expect(tail.push('hel')).toEqual({ appended: [], removed: 0 });
    expect(tail.partial).toBe('hel');
    expect(tail.push('lo\nwor')).toEqual({ appended: ['hello'], removed: 0 });
    expect(tail.push('ld\r\n\n')).toEqual({
      appended: ['world', ''],
      removed: 0
    });
    expect(tail.lines).toEqual(['hello', 'world', '']);
    expect(tail.text()).toBe('hello\nworld\n\n');
    expect(tail.received).toBe(3);
  });

  it('keeps only the last lines and tells the view what to drop', () => {
    const tail = new LogTail(3);
    tail.push('1\n2\n');
    expect(tail.push('3\n4\n')).toEqual({ appended: ['3', '4'], removed: 1 });
    expect(tail.lines).toEqual(['2', '3', '4']);
    expect(tail.dropped).toBe(1);
    // One chunk larger than the limit: only its last lines reach the view.
    expect(tail.push('5\n6\n7\n8\n9\n')).toEqual({
      appended: ['7', '8', '9'],
      removed: 3
    });
    expect(tail.lines).toEqual(['7', '8', '9']);
    expect(tail.dropped).toBe(6);
    expect(tail.received).toBe(9);
  });

  it('keeps a view in step with the tail over many chunks', () => {
    const tail = new LogTail(50);
    let view: string[] = [];
    for (let i = 0; i < 500; i++) {
      const { appended, removed } = tail.push(
        `line ${i}\n`.repeat((i % 7) + 1)
      );
      view = [...view, ...appended].slice(removed);
      expect(view).toEqual(tail.lines);
    }
    expect(view).toHaveLength(50);
  });

  it('clears', () => {
    const tail = new LogTail(5);
    tail.push('a\nb');
    tail.clear();
    expect([tail.lines, tail.partial, tail.dropped, tail.received]).toEqual([
      [],
      '',
      0,
      0
    ]);
    expect(tail.text()).toBe('');
  });
});
