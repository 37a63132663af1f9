import { App } from 'aws-cdk-lib';
import { ConfigError } from '#core/errors.ts';
import { composePaylinkApp } from './paylink-app.ts';

try {
  composePaylinkApp(new App(), {
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`Invalid stack config: ${error.message}`);
  process.exitCode = 1;
}
