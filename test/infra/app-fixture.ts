/**
 * Builds the CDK app the way `cdk synth` does (cdk.json's context: feature flags and the
 * example `paylink` config), with a config override and, by default, without bundling.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { REPO_ROOT } from '#infra/constructs/loader-function.ts';
import { composePaylinkApp } from '#infra/paylink-app.ts';
import type { PaylinkLoaderStack } from '#infra/paylink-stack.ts';

export const CDK_JSON = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
  app: string;
  context: Record<string, unknown> & { paylink: Record<string, unknown> };
};

/** The example config of cdk.json with some keys replaced. */
export function exampleConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...CDK_JSON.context.paylink, ...overrides };
}

export interface Synthesized {
  readonly app: App;
  readonly stack: PaylinkLoaderStack;
  readonly template: Template;
}

export interface BuildOptions {
  /** Run esbuild (slow); default false. */
  readonly bundle?: boolean;
  /**
   * Keep aws-cdk-lib's built-in CloudFormation validation (~4 s a synth, as in `cdk synth`);
   * default false. The bundling test keeps it, so it still runs once per test run.
   */
  readonly schemaValidation?: boolean;
  readonly outdir?: string;
  /** Register cdk-nag as a synth-time validation plugin, as `cdk synth` does; default false. */
  readonly nag?: boolean;
}

export function buildApp(
  paylink: unknown,
  options: BuildOptions = {},
): {
  app: App;
  stack: PaylinkLoaderStack;
} {
  const app = new App({
    context: {
      ...CDK_JSON.context,
      paylink,
      // Skips esbuild for every stack: template tests need the template, not the code.
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
    },
    ...(options.outdir === undefined ? {} : { outdir: options.outdir }),
    builtinCloudFormationValidation: options.schemaValidation ?? false,
  });
  // Most tests run cdk-nag through validateScope and assert on its report instead.
  const stack = composePaylinkApp(app, { nag: options.nag ?? false });
  return { app, stack };
}

export function synth(paylink: unknown): Synthesized {
  const { app, stack } = buildApp(paylink);
  return { app, stack, template: Template.fromStack(stack) };
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** Synthesized CloudFormation, read by tests: free-form JSON, checked by the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: template JSON is untyped by nature.
export type Cfn = any;

/** A state machine's ASL: the DefinitionString's Fn::Join with every token as the text TOKEN. */
export function definitionOf(resource: { Properties: { DefinitionString: Json } }): Record<string, Cfn> {
  const body = resource.Properties.DefinitionString;
  if (typeof body === 'string') return JSON.parse(body);
  const parts = (body as { 'Fn::Join': [string, Json[]] })['Fn::Join'][1];
  return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'TOKEN')).join(''));
}

/** Every state machine of the template by logical id, with its parsed definition. */
export function stateMachines(template: Template): Map<string, { properties: Cfn; definition: Cfn }> {
  const found = template.findResources('AWS::StepFunctions::StateMachine');
  return new Map(
    Object.entries(found).map(([id, r]) => [
      id,
      { properties: r.Properties, definition: definitionOf(r as never) },
    ]),
  );
}

/** All Allow statements of all IAM policies attached to a role (by the role's logical id). */
export function statementsOfRole(template: Template, roleLogicalId: string): Cfn[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => (p.Properties.Roles as Cfn[]).some((r) => r.Ref === roleLogicalId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Cfn[]);
}
