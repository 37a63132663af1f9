/** The write classes the S3 crash-point and write-request suites pick their points by (test/helpers/write-classes.ts). */
import { describe, expect, it } from 'vitest';
import {
  classesOf,
  firstAndLastOfRuns,
  keyShape,
  occurrenceAt,
  phasesOf,
  tablesOf,
} from '#test/helpers/write-classes.ts';

const part = (batch: string, table: string) =>
  `_staging/load-2/batches/${batch}/parts/${table}/dt=2026-12-01/load-2.${batch}.0000.parquet`;

describe('write classes', () => {
  it('shapes a key with its table, batch, part, load, day and lease number as placeholders', () => {
    const tables = tablesOf([
      part('00000', 'accounts'),
      `_staging/load-2/merged/accounts__tags/dt=2026-12-01/x`,
    ]);
    expect([...tables].sort()).toEqual(['accounts', 'accounts__tags']);
    expect(keyShape(part('00001', 'accounts'), 'load-2', tables)).toBe(
      '_staging/<load>/batches/<batch>/parts/<table>/dt=<day>/<load>.<batch>.<part>.parquet',
    );
    expect(keyShape('accounts__tags/dt=2026-12-01/load-2.00000.0001.parquet', 'load-2', tables)).toBe(
      '<table>/dt=<day>/<load>.<batch>.<part>.parquet',
    );
    expect(keyShape('_leases/load-2/0000000001.json', 'load-2', tables)).toBe('_leases/<load>/<lease>.json');
    expect(keyShape('_dlt_loads/load-2.parquet', 'load-2', tables)).toBe('_dlt_loads/<load>.parquet');
    // A delete of many keys: each kind of key once.
    expect(
      keyShape(
        `${part('00000', 'accounts')},${part('00001', 'accounts__tags')},_staging/load-2/plan.json`,
        'load-2',
        tables,
      ),
    ).toBe(
      '_staging/<load>/batches/<batch>/parts/<table>/dt=<day>/<load>.<batch>.<part>.parquet,_staging/<load>/plan.json',
    );
  });

  it('puts each write in the phase it runs in: staging, publishing after the intent, committed after the commit point', () => {
    const writes = [
      { kind: 'put', key: '_staging/load-2/commit-intent.json' },
      { kind: 'move', key: 'accounts/x.parquet' },
      { kind: 'close', key: '_dlt_loads/load-2.parquet' },
      { kind: 'delete', key: '_leases/load-2/0000000001.json' },
    ];
    expect(phasesOf(writes)).toEqual(['staging', 'publishing', 'publishing', 'committed']);
    expect(classesOf(writes, 'load-2', phasesOf(writes))[3]).toBe(
      'delete _leases/<load>/<lease>.json (committed)',
    );
  });

  it('takes the first and the last write of each consecutive run of one class, and a run of one once', () => {
    const classes = ['a', 'a', 'a', 'b', 'a', 'c', 'c'];
    expect(firstAndLastOfRuns(classes)).toEqual([
      { index: 0, cls: 'a', place: 'first' },
      { index: 2, cls: 'a', place: 'last' },
      { index: 3, cls: 'b', place: 'only' },
      { index: 4, cls: 'a', place: 'only' },
      { index: 5, cls: 'c', place: 'first' },
      { index: 6, cls: 'c', place: 'last' },
    ]);
    expect(firstAndLastOfRuns([])).toEqual([]);
    expect(occurrenceAt(classes, 4)).toBe(4);
    expect(occurrenceAt(classes, 6)).toBe(2);
  });
});
