import { type App, type Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readStackConfig } from './config.ts';
import { acknowledgeNagFindings } from './nag-acknowledgements.ts';
import { PaylinkLoaderStack } from './paylink-stack.ts';

export interface ComposeOptions {
  readonly env?: Environment;
  /** Run cdk-nag AwsSolutions on synth (default true): any unacknowledged finding fails synth. */
  readonly nag?: boolean;
}

/** The whole app: config from context, the stack, its cdk-nag acknowledgements and the checks. */
export function composePaylinkApp(app: App, options: ComposeOptions = {}): PaylinkLoaderStack {
  const config = readStackConfig(app);
  const stack = new PaylinkLoaderStack(app, config.stackName, {
    config,
    ...(options.env === undefined ? {} : { env: options.env }),
    description: 'PayLink lake loader: scheduled loads of Atomic PayLink data into a Parquet lake',
  });
  acknowledgeNagFindings(stack);
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}
