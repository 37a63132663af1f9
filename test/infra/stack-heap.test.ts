/**
 * Every loader Lambda gets V8 heap limits in NODE_OPTIONS sized from its own memory, for the
 * isolates it runs (lambdas/core/heap-budget.ts). With neither space flag in NODE_OPTIONS the
 * Lambda runtime adds 90% of the memory as every isolate's old space: load-batch and commit run
 * the Parquet encoding worker beside the main thread, so two such heaps could outgrow the function.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { HEAP_BUDGET } from '#core/heap-budget.ts';
import { FUNCTION_DEFAULTS, WEBHOOK_DEFAULTS } from '#infra/constants.ts';
import { type Cfn, exampleConfig, type Synthesized, synth } from './app-fixture.ts';

let built: Synthesized;
let functions: Map<string, { memoryMiB: number; nodeOptions: string }>;

beforeAll(() => {
  built = synth(exampleConfig());
  const resources = built.template.findResources('AWS::Lambda::Function') as Record<string, Cfn>;
  const byId = (construct: { node: { defaultChild?: unknown } }) => {
    const props = resources[built.stack.getLogicalId(construct.node.defaultChild as never)].Properties;
    return {
      memoryMiB: props.MemorySize as number,
      nodeOptions: String(props.Environment.Variables.NODE_OPTIONS),
    };
  };
  const { plan, loadBatch, commit } = built.stack.functions;
  functions = new Map([
    ['plan', byId(plan)],
    ['loadBatch', byId(loadBatch)],
    ['commit', byId(commit)],
    ['webhook', byId(built.stack.webhooks.function)],
  ]);
});

/** A flag's value in NODE_OPTIONS (MiB); undefined when absent. */
function flag(nodeOptions: string, name: string): number | undefined {
  const match = new RegExp(`(?:^| )--${name}=(\\d+)(?: |$)`).exec(nodeOptions);
  return match === null ? undefined : Number(match[1]);
}

describe('V8 heap limits of the loader Lambdas', () => {
  it('keeps source maps and sets both space flags, so the runtime adds neither of its own', () => {
    for (const [name, { nodeOptions }] of functions) {
      expect(nodeOptions.split(' '), name).toContain('--enable-source-maps');
      expect(flag(nodeOptions, 'max-old-space-size'), name).toBeGreaterThan(0);
      expect(flag(nodeOptions, 'max-semi-space-size'), name).toBeGreaterThan(0);
    }
  });

  it('gives each function its configured memory', () => {
    expect(functions.get('plan')!.memoryMiB).toBe(FUNCTION_DEFAULTS.plan.memoryMiB);
    expect(functions.get('loadBatch')!.memoryMiB).toBe(FUNCTION_DEFAULTS.loadBatch.memoryMiB);
    expect(functions.get('commit')!.memoryMiB).toBe(FUNCTION_DEFAULTS.commit.memoryMiB);
    expect(functions.get('webhook')!.memoryMiB).toBe(WEBHOOK_DEFAULTS.memoryMiB);
  });

  it.each([
    ['loadBatch', 2],
    ['commit', 2],
    ['plan', 1],
    ['webhook', 1],
  ] as const)('%s: its isolates (%i) heaps fit its memory less the reserve, and use it', (name, isolates) => {
    const { memoryMiB, nodeOptions } = functions.get(name)!;
    const oldSpace = flag(nodeOptions, 'max-old-space-size')!;
    const semiSpace = flag(nodeOptions, 'max-semi-space-size')!;
    // V8's young generation holds three semi spaces; each isolate gets both limits.
    const heaps = isolates * (oldSpace + 3 * semiSpace);
    const budget = memoryMiB * (1 - HEAP_BUDGET.reserveFraction);
    expect(heaps).toBeLessThanOrEqual(budget);
    expect(heaps).toBeGreaterThan(budget - isolates - 1);
  });

  it("gives the CLI's worker the old space of each load-batch isolate (a CLI batch is the same batch)", () => {
    const { nodeOptions } = functions.get('loadBatch')!;
    expect(flag(nodeOptions, 'max-old-space-size')).toBe(HEAP_BUDGET.cliWorkerOldSpaceMib);
  });

  it('sizes the two-isolate functions apart from the one-isolate ones', () => {
    // load-batch has 4x plan's memory but two isolates: each gets less than 4x plan's old space.
    const old = (name: string) => flag(functions.get(name)!.nodeOptions, 'max-old-space-size')!;
    expect(old('loadBatch')).toBeLessThan(4 * old('plan'));
    expect(old('loadBatch')).toBeGreaterThan(old('commit'));
  });
});
