/**
 * A synthesized CloudFormation template, "deployed" on paper: every intrinsic function
 * (Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split, Fn::Sub without variables map) resolved
 * to the physical names and ARNs CloudFormation would give the resources in one account and
 * region. The offline AWS run reads role policies, function environments and the state
 * machine definition through this, so it runs exactly what the template says.
 *
 * Physical ids follow CloudFormation's documented return values (each resource type's
 * "Return values" section): Ref of a bucket is its name, of a function its name, of a state
 * machine its ARN, of a secret its ARN, of a log group its name; Fn::GetAtt Arn as below.
 * Resources without an explicit name get `<stack>-<logicalId>` (CloudFormation adds a random
 * suffix; a fixed one keeps tests deterministic).
 */

/** Synthesized CloudFormation, free-form JSON. */
// biome-ignore lint/suspicious/noExplicitAny: template JSON is untyped by nature.
export type Cfn = any;

export interface Deployment {
  readonly account: string;
  readonly region: string;
  readonly stackName: string;
  /** The stack id CloudFormation assigns: `arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>`. */
  readonly stackId: string;
  /** Physical names to use instead of generated ones, by logical id (e.g. the lake bucket). */
  readonly names?: Readonly<Record<string, string>>;
}

export class ResolvedTemplate {
  readonly resources: Record<string, Cfn>;
  private readonly cache = new Map<string, string>();

  constructor(
    readonly template: Cfn,
    readonly deployment: Deployment,
  ) {
    this.resources = template.Resources as Record<string, Cfn>;
  }

  private arn(
    service: string,
    resource: string,
    region = this.deployment.region,
    account = this.deployment.account,
  ) {
    return `arn:aws:${service}:${region}:${account}:${resource}`;
  }

  /** The physical name of a resource (explicit name property, configured name, or generated). */
  nameOf(logicalId: string): string {
    const cached = this.cache.get(logicalId);
    if (cached !== undefined) return cached;
    const resource = this.resources[logicalId];
    if (!resource) throw new Error(`template has no resource ${logicalId}`);
    const p = resource.Properties ?? {};
    const explicit =
      this.deployment.names?.[logicalId] ??
      p.BucketName ??
      p.FunctionName ??
      p.StateMachineName ??
      p.LogGroupName ??
      p.RoleName ??
      p.Name ??
      p.DatabaseInput?.Name ??
      p.QueueName ??
      p.TopicName;
    const name =
      explicit === undefined
        ? `${this.deployment.stackName}-${logicalId}`.toLowerCase()
        : String(this.resolve(explicit));
    this.cache.set(logicalId, name);
    return name;
  }

  private ref(logicalId: string): string {
    const { account, region, stackName, stackId } = this.deployment;
    const pseudo: Record<string, string> = {
      'AWS::AccountId': account,
      'AWS::Region': region,
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': stackName,
      'AWS::StackId': stackId,
    };
    if (pseudo[logicalId] !== undefined) return pseudo[logicalId];
    const type = this.resources[logicalId]?.Type as string | undefined;
    const name = this.nameOf(logicalId);
    switch (type) {
      case 'AWS::StepFunctions::StateMachine':
        return this.arn('states', `stateMachine:${name}`);
      case 'AWS::SecretsManager::Secret':
        return this.arn('secretsmanager', `secret:${name}-AbCdEf`);
      case 'AWS::SNS::Topic':
        return this.arn('sns', name);
      case 'AWS::SQS::Queue':
        return `https://sqs.${region}.amazonaws.com/${account}/${name}`;
      default:
        return name;
    }
  }

  private getAtt(logicalId: string, attribute: string): string {
    const type = this.resources[logicalId]?.Type as string | undefined;
    const name = this.nameOf(logicalId);
    if (attribute === 'Name') return name;
    if (attribute !== 'Arn') throw new Error(`unsupported Fn::GetAtt ${logicalId}.${attribute}`);
    switch (type) {
      case 'AWS::S3::Bucket':
        return `arn:aws:s3:::${name}`;
      case 'AWS::Lambda::Function':
        return this.arn('lambda', `function:${name}`);
      case 'AWS::Logs::LogGroup':
        return this.arn('logs', `log-group:${name}:*`);
      case 'AWS::IAM::Role':
        return `arn:aws:iam::${this.deployment.account}:role/${name}`;
      case 'AWS::SQS::Queue':
        return this.arn('sqs', name);
      case 'AWS::StepFunctions::StateMachine':
        return this.ref(logicalId);
      default:
        throw new Error(`unsupported Fn::GetAtt ${logicalId}.Arn (${type})`);
    }
  }

  /** Resolves every intrinsic function in `value` (deeply). */
  resolve(value: Cfn): Cfn {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') return value;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const [fn] = keys as [string];
      const arg = value[fn];
      switch (fn) {
        case 'Ref':
          return this.ref(arg);
        case 'Fn::GetAtt': {
          const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split('.');
          return this.getAtt(id, attribute);
        }
        case 'Fn::Join': {
          const [separator, parts] = arg as [string, Cfn[]];
          return (this.resolve(parts) as unknown[]).map(String).join(separator);
        }
        case 'Fn::Select': {
          const [index, list] = arg as [number, Cfn];
          return (this.resolve(list) as unknown[])[Number(this.resolve(index))];
        }
        case 'Fn::Split': {
          const [separator, source] = arg as [string, Cfn];
          return String(this.resolve(source)).split(separator);
        }
        case 'Fn::Sub': {
          if (typeof arg !== 'string') throw new Error('Fn::Sub with a variables map is not supported');
          return arg.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
            const [id, attribute] = name.split('.');
            return attribute ? this.getAtt(id!, attribute) : this.ref(id!);
          });
        }
        default:
          if (fn.startsWith('Fn::') || fn === 'Condition') throw new Error(`unsupported intrinsic ${fn}`);
      }
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.resolve(v)]));
  }

  /** Logical ids of resources of a type. */
  idsOfType(type: string): string[] {
    return Object.entries(this.resources)
      .filter(([, r]) => r.Type === type)
      .map(([id]) => id);
  }

  /** Every identity-policy statement attached to a role (inline and AWS::IAM::Policy), resolved, with its policy. */
  roleStatements(roleLogicalId: string): { policy: string; statement: Cfn }[] {
    const role = this.resources[roleLogicalId];
    const inline = ((role?.Properties?.Policies ?? []) as Cfn[]).flatMap((p) =>
      (p.PolicyDocument.Statement as Cfn[]).map((statement) => ({
        policy: p.PolicyName as string,
        statement,
      })),
    );
    const attached = Object.entries(this.resources)
      .filter(
        ([, r]) =>
          r.Type === 'AWS::IAM::Policy' &&
          (r.Properties.Roles as Cfn[]).some((ref) => ref.Ref === roleLogicalId),
      )
      .flatMap(([id, r]) =>
        (r.Properties.PolicyDocument.Statement as Cfn[]).map((statement) => ({ policy: id, statement })),
      );
    if ((role?.Properties?.ManagedPolicyArns ?? []).length > 0)
      throw new Error(`${roleLogicalId}: managed policies are not modelled`);
    return [...inline, ...attached].map(({ policy, statement }) => ({
      policy,
      statement: this.resolve(statement),
    }));
  }
}
