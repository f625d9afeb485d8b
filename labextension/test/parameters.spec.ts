import {
  classifyLiteral,
  findParametersSource,
  formatValue,
  isValidParameterName,
  jsonEqual,
  parseFormValue,
  parseParametersCell,
  parsePythonLiteral
} from '../src/models/parameters';

describe('findParametersSource', () => {
  it('finds the first code cell tagged parameters (string or line list)', () => {
    const cells = [
      {
        cell_type: 'markdown',
        metadata: { tags: ['parameters'] },
        source: 'x = 1'
      },
      { cell_type: 'code', metadata: {}, source: 'y = 2' },
      {
        cell_type: 'code',
        metadata: { tags: ['a', 'parameters'] },
        source: ['n = 3\n', 'm = 4']
      },
      {
        cell_type: 'code',
        metadata: { tags: ['parameters'] },
        source: 'later = 5'
      }
    ];
    expect(findParametersSource(cells)).toBe('n = 3\nm = 4');
  });

  it('says null when no cell is tagged', () => {
    expect(
      findParametersSource([{ cell_type: 'code', source: 'n = 1' }])
    ).toBeNull();
    expect(findParametersSource([])).toBeNull();
  });
});

describe('parseParametersCell', () => {
  it('types simple literals', () => {
    const specs = parseParametersCell(
      [
        'n = 3',
        'rate = 0.5',
        "label = 'run'",
        'title = "a \\"quoted\\" word"',
        'flag = True',
        'off = False',
        'nothing = None',
        'items = [1, 2, "three"]',
        "opts = {'a': 1, 'b': [True, None]}",
        'pair = (1, 2)',
        'big = 1_000',
        'tiny = 1e-3',
        'neg = -2'
      ].join('\n')
    );
    const byName = Object.fromEntries(specs.map(s => [s.name, s]));
    expect(byName.n).toMatchObject({ kind: 'int', value: 3 });
    expect(byName.rate).toMatchObject({ kind: 'float', value: 0.5 });
    expect(byName.label).toMatchObject({ kind: 'string', value: 'run' });
    expect(byName.title).toMatchObject({
      kind: 'string',
      value: 'a "quoted" word'
    });
    expect(byName.flag).toMatchObject({ kind: 'boolean', value: true });
    expect(byName.off).toMatchObject({ kind: 'boolean', value: false });
    expect(byName.nothing).toMatchObject({ kind: 'null', value: null });
    expect(byName.items).toMatchObject({
      kind: 'json',
      value: [1, 2, 'three']
    });
    expect(byName.opts).toMatchObject({
      kind: 'json',
      value: { a: 1, b: [true, null] }
    });
    expect(byName.pair).toMatchObject({ kind: 'json', value: [1, 2] });
    expect(byName.big).toMatchObject({ kind: 'int', value: 1000 });
    expect(byName.tiny).toMatchObject({ kind: 'float', value: 0.001 });
    expect(byName.neg).toMatchObject({ kind: 'int', value: -2 });
    expect(specs.map(s => s.name)).toEqual([
      'n',
      'rate',
      'label',
      'title',
      'flag',
      'off',
      'nothing',
      'items',
      'opts',
      'pair',
      'big',
      'tiny',
      'neg'
    ]);
  });

  it('keeps other expressions as text, with their source', () => {
    const specs = parseParametersCell(
      'import numpy as np\nstart = datetime.now()\narr = np.arange(3)\nf = f"x{1}"\n'
    );
    expect(specs).toEqual([
      {
        name: 'start',
        kind: 'text',
        value: undefined,
        source: 'datetime.now()'
      },
      { name: 'arr', kind: 'text', value: undefined, source: 'np.arange(3)' },
      { name: 'f', kind: 'text', value: undefined, source: 'f"x{1}"' }
    ]);
  });

  it('reads comments, annotations, and skips what is not a top-level assignment', () => {
    const specs = parseParametersCell(
      [
        '# Parameters of the run',
        'n: int = 3  # rows to read',
        'url = "http://x/#frag"  # a hash inside the string',
        'if n > 2:',
        '    inner = 5',
        'x == 4',
        'y += 1',
        'def f(): pass',
        'for = 3',
        ''
      ].join('\n')
    );
    expect(specs).toEqual([
      {
        name: 'n',
        kind: 'int',
        value: 3,
        source: '3',
        annotation: 'int',
        comment: 'rows to read'
      },
      {
        name: 'url',
        kind: 'string',
        value: 'http://x/#frag',
        source: '"http://x/#frag"',
        comment: 'a hash inside the string'
      }
    ]);
  });

  it('joins a list or dict written over several lines', () => {
    const specs = parseParametersCell(
      'cols = [\n  "a",  # first\n  "b",\n]\nafter = 1\n'
    );
    expect(specs[0]).toMatchObject({
      name: 'cols',
      kind: 'json',
      value: ['a', 'b']
    });
    expect(specs[1]).toMatchObject({ name: 'after', value: 1 });
  });

  it('keeps the last value of a name assigned twice, at its first place', () => {
    const specs = parseParametersCell('a = 1\nb = 2\na = 3\n');
    expect(specs.map(s => [s.name, s.value])).toEqual([
      ['a', 3],
      ['b', 2]
    ]);
  });

  it('handles Windows line ends and an empty cell', () => {
    expect(
      parseParametersCell('a = 1\r\nb = "x"\r\n').map(s => s.value)
    ).toEqual([1, 'x']);
    expect(parseParametersCell('')).toEqual([]);
  });
});

describe('parsePythonLiteral', () => {
  it.each([
    ['1', 1],
    ['-1.5', -1.5],
    ['.5', 0.5],
    ['1.', 1],
    ["'\\n\\t\\x41\\u00e9'", '\n\tAé'],
    ["'it\\'s'", "it's"],
    ['[]', []],
    ['{}', {}],
    ['(1,)', [1]],
    ['[1, [2, {"k": None}]]', [1, [2, { k: null }]]],
    ['  True  ', true]
  ])('%s', (text, value) => {
    expect(parsePythonLiteral(text)?.value).toEqual(value);
  });

  it.each([
    'abc',
    '1 + 2',
    '(1)',
    '007',
    "'''doc'''",
    '"unterminated',
    '{1: 2}',
    '[1, 2',
    'nan',
    '12345678901234567890',
    'True1'
  ])('%s is not a literal', text => {
    expect(parsePythonLiteral(text)).toBeUndefined();
  });

  it('tells floats from integers', () => {
    expect(classifyLiteral('1.0')).toEqual({ kind: 'float', value: 1 });
    expect(classifyLiteral('1')).toEqual({ kind: 'int', value: 1 });
    expect(classifyLiteral('[1.0]')).toEqual({ kind: 'json', value: [1] });
  });
});

describe('form values', () => {
  it('formats values for the form', () => {
    expect(formatValue('float', 1)).toBe('1.0');
    expect(formatValue('float', 0.25)).toBe('0.25');
    expect(formatValue('int', 3)).toBe('3');
    expect(formatValue('string', 'x')).toBe('x');
    expect(formatValue('boolean', false)).toBe('False');
    expect(formatValue('null', null)).toBe('None');
    expect(formatValue('json', { a: [1, 2], 'b c': null })).toBe(
      '{"a": [1, 2], "b c": null}'
    );
    expect(formatValue('text', undefined)).toBe('');
  });

  it('parses typed input', () => {
    expect(parseFormValue('int', ' 42 ')).toEqual({ ok: true, value: 42 });
    expect(parseFormValue('int', '4.2')).toEqual({
      ok: false,
      error: 'must be an integer'
    });
    expect(parseFormValue('int', '99999999999999999999')).toEqual({
      ok: false,
      error: 'is too large'
    });
    expect(parseFormValue('float', '2')).toEqual({ ok: true, value: 2 });
    expect(parseFormValue('float', '1e3')).toEqual({ ok: true, value: 1000 });
    expect(parseFormValue('float', 'abc')).toEqual({
      ok: false,
      error: 'must be a number'
    });
    expect(parseFormValue('string', ' keep spaces ')).toEqual({
      ok: true,
      value: ' keep spaces '
    });
    expect(parseFormValue('boolean', 'False')).toEqual({
      ok: true,
      value: false
    });
    expect(parseFormValue('boolean', 'maybe').ok).toBe(false);
    expect(parseFormValue('null', 'whatever')).toEqual({
      ok: true,
      value: null
    });
    expect(parseFormValue('json', '[1, 2]')).toEqual({
      ok: true,
      value: [1, 2]
    });
    expect(parseFormValue('json', "{'a': True}")).toEqual({
      ok: true,
      value: { a: true }
    });
    expect(parseFormValue('json', '[1,')).toEqual({
      ok: false,
      error: 'is not valid JSON'
    });
  });

  it('checks names and compares JSON', () => {
    expect(isValidParameterName('alpha_1')).toBe(true);
    expect(isValidParameterName('1alpha')).toBe(false);
    expect(isValidParameterName('class')).toBe(false);
    expect(isValidParameterName('a-b')).toBe(false);
    expect(jsonEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toBe(true);
    expect(jsonEqual({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(true);
    expect(jsonEqual([1, 2], [2, 1])).toBe(false);
    expect(jsonEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(jsonEqual(null, undefined)).toBe(false);
    expect(jsonEqual([], {})).toBe(false);
  });
});
