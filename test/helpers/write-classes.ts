/**
 * Classes of a load's writes, for suites that run a fault at one write of each kind instead of at
 * every write (crash-points-suite.ts on S3).
 *
 * A write's class is what the store does and where, with what varies from one table, batch or
 * part to the next replaced by placeholders: `openWrite _staging/<load>/batches/<batch>/parts/
 * <table>/dt=<day>/<load>.<batch>.<part>.parquet`. Within one consecutive run of a class (the 9
 * moves of a commit, the openWrites of a batch's parts) the first and the last write are the
 * partly-done states: nothing of the run done yet but one, everything done but one. The writes
 * in between leave the lake in the same kind of state, one more object further.
 */

export interface ClassedWrite {
  /** Which store call (or S3 operation) it is. */
  readonly kind: string;
  /** The key written (several, comma-joined, for a delete). */
  readonly key: string;
}

/** A write picked from a list: its 0-based index, its class, and where it sits in its run. */
export interface PickedWrite {
  readonly index: number;
  readonly cls: string;
  readonly place: 'only' | 'first' | 'last';
}

/**
 * The table names a load's keys name: the folder after `parts/` and `merged/` in staging, which
 * is where every table the load writes appears.
 */
export function tablesOf(keys: readonly string[]): Set<string> {
  const tables = new Set<string>();
  for (const key of keys.flatMap((k) => k.split(',')))
    for (const m of key.matchAll(/\/(?:parts|merged)\/([^/]+)\//g)) tables.add(m[1]!);
  return tables;
}

/** `key` with the load id, table names, batch and part numbers, day and lease number as placeholders. */
export function keyShape(key: string, loadId: string, tables: ReadonlySet<string>): string {
  const shapes = key.split(',').map((one) =>
    one
      .split('/')
      .map((segment) => {
        if (tables.has(segment)) return '<table>';
        if (segment === loadId) return '<load>';
        if (/^\d{5}$/.test(segment)) return '<batch>';
        if (/^dt=\d{4}-\d{2}-\d{2}$/.test(segment)) return 'dt=<day>';
        if (/^\d{10}\.json$/.test(segment)) return '<lease>.json';
        return segment
          .replace(`${loadId}.`, '<load>.')
          .replace(/\.\d{5}\.\d{4}\.parquet$/, '.<batch>.<part>.parquet')
          .replace(new RegExp(`^${loadId.replace(/\W/g, '\\$&')}\\.parquet$`), '<load>.parquet');
      })
      .join('/'),
  );
  // A delete of many keys: the kinds of keys it deletes, each once.
  return [...new Set(shapes)].sort().join(',');
}

/**
 * The phase of each write of a load, from its own writes: `staging` until the commit intent is
 * written, `publishing` from then until the commit point (the close of the load's `_dlt_loads`
 * file), `committed` after it. The same write means another recovery in each: before the intent
 * a crashed load's staging is only discarded or resumed, after it the commit is rolled forward,
 * after the commit point only clean-up is left.
 */
export function phasesOf(writes: readonly ClassedWrite[]): string[] {
  let phase = 'staging';
  return writes.map((w) => {
    const now = phase;
    // A phase starts after the write that opens it: dying at that write leaves the one before.
    if (phase === 'staging' && /(^|\/)commit-intent\.json$/.test(w.key)) phase = 'publishing';
    if (w.kind === 'close' && /(^|\/)_dlt_loads\/[^/]+\.parquet$/.test(w.key)) phase = 'committed';
    return now;
  });
}

/** Each write's class: kind, key shape and (if given) phase. */
export function classesOf(
  writes: readonly ClassedWrite[],
  loadId: string,
  phases?: readonly string[],
  tables: ReadonlySet<string> = tablesOf(writes.map((w) => w.key)),
): string[] {
  return writes.map(
    (w, i) => `${w.kind} ${keyShape(w.key, loadId, tables)}${phases ? ` (${phases[i]})` : ''}`,
  );
}

/**
 * The first and last write of each consecutive run of one class (a run of one gives one write),
 * in write order.
 */
export function firstAndLastOfRuns(classes: readonly string[]): PickedWrite[] {
  const picked: PickedWrite[] = [];
  let start = 0;
  for (let i = 1; i <= classes.length; i++) {
    if (i < classes.length && classes[i] === classes[start]) continue;
    const cls = classes[start]!;
    if (i - 1 === start) picked.push({ index: start, cls, place: 'only' });
    else picked.push({ index: start, cls, place: 'first' }, { index: i - 1, cls, place: 'last' });
    start = i;
  }
  return picked;
}

/** How many writes of `classes[index]`'s class come up to and including `index` (1-based). */
export function occurrenceAt(classes: readonly string[], index: number): number {
  return classes.slice(0, index + 1).filter((c) => c === classes[index]).length;
}
