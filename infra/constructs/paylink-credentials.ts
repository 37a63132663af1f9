import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { SecretSource } from '../config.ts';

/** Placeholder written into a created secret; the operator replaces the whole value (docs/deploy.md). */
export const SECRET_PLACEHOLDER_KEY = 'api_key';
export const SECRET_PLACEHOLDER_VALUE = 'REPLACE_ME';

/**
 * The PayLink API key/secret in Secrets Manager: created with a placeholder (never a real
 * credential in a template) or imported by its complete ARN. Only `GetSecretValue` on this one
 * ARN is ever granted.
 */
export class PayLinkCredentials extends Construct {
  readonly secret: ISecret;
  readonly secretArn: string;
  /** True when this stack created the secret (it then holds a placeholder until filled). */
  readonly created: boolean;
  private readonly kmsKeyArn: string | undefined;

  constructor(scope: Construct, id: string, props: { readonly source: SecretSource }) {
    super(scope, id);
    if (props.source.kind === 'import') {
      this.secret = Secret.fromSecretCompleteArn(this, 'Secret', props.source.arn);
      this.kmsKeyArn = props.source.kmsKeyArn;
    } else {
      this.secret = new Secret(this, 'Secret', {
        description: 'PayLink API credentials {"api_key","api_secret"}: replace with put-secret-value',
        // A generated value, so no credential-looking literal ever sits in the template; the
        // placeholder key makes a forgotten secret fail fast as rejected credentials.
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ [SECRET_PLACEHOLDER_KEY]: SECRET_PLACEHOLDER_VALUE }),
          generateStringKey: 'api_secret',
          excludePunctuation: true,
        },
        removalPolicy: RemovalPolicy.RETAIN,
      });
      this.kmsKeyArn = undefined;
    }
    this.secretArn = this.secret.secretArn;
    this.created = props.source.kind === 'create';
  }

  grantRead(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PayLinkSecret',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.secretArn],
      }),
    );
    if (this.kmsKeyArn !== undefined) {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [this.kmsKeyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` },
          },
        }),
      );
    }
  }
}
