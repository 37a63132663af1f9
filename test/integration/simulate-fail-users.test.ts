/**
 * `simulate --fail-users` names users of the simulator's world: one it does not have would fail
 * nobody (README's example once named `user-000003`, which no world has: its fourth identifier
 * is always an unusual one), so it is refused with how to list the identifiers.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSimulateArgs } from '#cli/simulate-command.ts';
import { ConfigError } from '#core/errors.ts';
import { parseSimulatorOptions } from '#simulator/options.ts';
import { startSimulator } from '#simulator/server.ts';
import { generateIdentifiers, identifierIndex } from '#simulator/world.ts';
import { captureIo, credentialsEnv, runLoad, Scratch } from '#test/helpers/lake-harness.ts';

let scratch: Scratch;
beforeAll(async () => {
  scratch = await Scratch.create('sim-fail-users');
});
afterAll(async () => {
  await scratch.dispose();
});

describe('simulate --fail-users', () => {
  it('refuses an identifier the world does not have, in one line naming it and how to list them', () => {
    const io = captureIo().io;
    const parse =
      (...argv: string[]) =>
      () =>
        parseSimulateArgs(['--port', '0', ...argv], io);
    expect(parse('--fail-users', 'user-000003')).toThrow(ConfigError);
    expect(parse('--fail-users', 'user-000003')).toThrow(
      /^--fail-users: 'user-000003' is not a user of the simulator's world \(seed 'paylink'\): list its identifiers with --users <n>[^\n]*$/,
    );
    // Listed with --users: one past the users written is no user of the load either.
    const tenth = generateIdentifiers('paylink', 10)[9]!;
    expect(parse('--users', '5', '--fail-users', tenth)).toThrow(
      `--fail-users: '${tenth}' is not one of the 5 users written to sim-users.txt (it is user number 10 of the world): name one listed there`,
    );
    // The unusual identifiers are users too, by their exact spelling.
    const fourth = generateIdentifiers('other', 4)[3]!;
    expect(fourth).not.toMatch(/^user-/);
    expect(parseSimulateArgs(['--seed', 'other', '--fail-users', fourth], io).options.faults).toMatchObject({
      failUsers: [fourth],
    });
    expect(parse('--seed', 'other', '--fail-users', `${fourth}0`)).toThrow(
      /is not a user of the simulator's world/,
    );
  });

  it('knows each identifier of the world by its index, and no other', () => {
    const ids = generateIdentifiers('paylink', 300);
    expect(ids.map((id) => identifierIndex('paylink', id))).toEqual(ids.map((_, i) => i));
    for (const id of ['user-000003', 'user-3', 'user-0000002', 'Ngọc Trần 4', 'nobody', ''])
      expect(identifierIndex('paylink', id), id).toBeUndefined();
  });

  it("fails the users README's example names, as written", async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const line = readme
      .split('\n')
      .find((l) => l.includes('paylink-loader simulate') && l.includes('--fail-users'));
    expect(line).toBeDefined();
    const argv = line!.split('paylink-loader simulate ')[1]!.trim().split(/\s+/);
    const parsed = parseSimulateArgs(
      argv.map((a, i) => (argv[i - 1] === '--port' ? '0' : a)),
      captureIo().io,
    );
    const named = parsed.options.faults?.failUsers ?? [];
    expect(named.length).toBeGreaterThan(0);
    const { seed } = parseSimulatorOptions(parsed.options);
    const listed = generateIdentifiers(seed, parsed.users!);
    for (const id of named) expect(listed).toContain(id);
    const sim = await startSimulator(parsed.options);
    try {
      // A load of the named users and two others: exactly the named ones fail.
      const others = listed.filter((id) => !named.includes(id)).slice(0, 2);
      const users = await scratch.users('users.txt', [...named, ...others]);
      const run = await runLoad(
        { users, dest: scratch.path('lake'), baseUrl: sim.url, resources: ['accounts'], json: true },
        credentialsEnv('sim-key', 'sim-secret'),
      );
      // 3: committed, some users failed.
      expect(run.code, run.stderr).toBe(3);
      const summary = JSON.parse(run.stdout) as { failedUsers: string[] };
      expect([...summary.failedUsers].sort()).toEqual([...named].sort());
    } finally {
      await sim.close();
    }
  });
});
