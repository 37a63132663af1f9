/**
 * IAM for the offline AWS: every call a principal makes is evaluated against that principal's
 * synthesized identity policies (and the resource's policy where the template has one) with
 * @cloud-copilot/iam-simulate, a kept IAM policy evaluator; no home-made matching. Callers are
 * identified by the access key id each emulated process signs with (one per role).
 *
 * Every decision is recorded, so a test can assert "zero denied calls" and print the action
 * and resource of each denial; a statement can be left out to prove it is needed.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { Cfn } from './cfn-template.ts';

export interface Principal {
  /** Role name (physical), for messages: `arn:aws:iam::<account>:role/<name>`. */
  readonly roleArn: string;
  /** A short label for reports (`plan`, `loadBatch`, `stateMachine`, ...). */
  readonly label: string;
  /** Identity-policy statements, resolved; each tagged with the policy it came from. */
  readonly statements: readonly { policy: string; statement: Cfn }[];
}

export interface Decision {
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  readonly allowed: boolean;
  /** Sids (or indexes) of the identity statements that allowed it. */
  readonly allowedBy: readonly string[];
}

export interface AuthorizeRequest {
  readonly action: string;
  readonly resource: string;
  /** Request context keys (`s3:prefix`, ...). */
  readonly context?: Readonly<Record<string, string | string[]>>;
  /** The resource's own policy (a bucket policy), if it has one. */
  readonly resourcePolicy?: Cfn;
}

/** `id` of a statement for reports and for leaving it out: its Sid, else `<policy>#<index>`. */
export function statementId(policy: string, statement: Cfn, index: number): string {
  return typeof statement.Sid === 'string' ? `${policy}:${statement.Sid}` : `${policy}#${index}`;
}

export class IamGate {
  readonly decisions: Decision[] = [];
  private readonly principals = new Map<string, Principal>();
  /** Statement ids left out of every evaluation (to prove each statement is needed). */
  readonly withheld = new Set<string>();
  /** Statements evaluated instead of the synthesized ones, by id (to replay an older grant). */
  readonly replaced = new Map<string, Cfn>();
  /** Called with every decision (the offline run uses it to stop a run at a denial). */
  readonly listeners = new Set<(decision: Decision) => void>();
  /**
   * Evaluations by everything they depend on (the statements as evaluated now and the request):
   * an offline run asks the same question many times (each invocation's log stream, each Glue
   * table read, each batch's child execution) and iam-simulate answers it the same every time.
   */
  private readonly evaluated = new Map<string, Promise<{ allowed: boolean; allowedBy: string[] }>>();
  private readonly statementSets = new Map<string, number>();

  constructor(readonly account: string) {}

  /** Registers a principal under the access key id its processes sign with. */
  register(accessKeyId: string, principal: Principal): void {
    this.principals.set(accessKeyId, principal);
  }

  principalOf(accessKeyId: string): Principal | undefined {
    return this.principals.get(accessKeyId);
  }

  denied(): Decision[] {
    return this.decisions.filter((d) => !d.allowed);
  }

  /** The statements of a principal as evaluated now (withheld ones left out), with their ids. */
  statementsOf(principal: Principal): { id: string; statement: Cfn }[] {
    const counters = new Map<string, number>();
    return principal.statements
      .map(({ policy, statement }) => {
        const index = counters.get(policy) ?? 0;
        counters.set(policy, index + 1);
        const id = statementId(policy, statement, index);
        return { id, statement: this.replaced.get(id) ?? statement };
      })
      .filter(({ id }) => !this.withheld.has(id));
  }

  /** Evaluates one call; records and returns the decision. Never throws for a denial. */
  async authorize(principal: Principal, request: AuthorizeRequest): Promise<Decision> {
    const statements = this.statementsOf(principal);
    // The statements by a number, so the kept keys stay short.
    const evaluatedStatements = JSON.stringify(statements);
    let statementSet = this.statementSets.get(evaluatedStatements);
    if (statementSet === undefined) {
      statementSet = this.statementSets.size;
      this.statementSets.set(evaluatedStatements, statementSet);
    }
    const key = JSON.stringify([
      principal.roleArn,
      statementSet,
      request.action,
      request.resource,
      request.context ?? {},
      request.resourcePolicy ?? null,
    ]);
    let evaluation = this.evaluated.get(key);
    if (!evaluation) {
      evaluation = this.evaluate(principal, statements, request);
      this.evaluated.set(key, evaluation);
      // A failed evaluation is not kept: it throws for this call and is tried again by the next.
      evaluation.catch(() => this.evaluated.delete(key));
    }
    const { allowed, allowedBy: by } = await evaluation;
    const allowedBy = [...by];
    const decision: Decision = {
      principal: principal.label,
      action: request.action,
      resource: request.resource,
      allowed,
      allowedBy,
    };
    this.decisions.push(decision);
    for (const listener of this.listeners) listener(decision);
    return decision;
  }

  private async evaluate(
    principal: Principal,
    statements: readonly { id: string; statement: Cfn }[],
    request: AuthorizeRequest,
  ): Promise<{ allowed: boolean; allowedBy: string[] }> {
    const result = await runSimulation(
      {
        identityPolicies: [
          {
            name: 'identity',
            policy: {
              Version: '2012-10-17',
              // Sids carry our ids so the analysis says which statement allowed a call.
              Statement: statements.map(({ id, statement }) => ({ ...statement, Sid: sidOf(id) })),
            },
          },
        ],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        ...(request.resourcePolicy ? { resourcePolicy: request.resourcePolicy } : {}),
        request: {
          action: request.action,
          principal: principal.roleArn,
          resource: { accountId: this.account, resource: request.resource },
          contextVariables: {
            // Everything here runs over TLS in AWS (the lake bucket denies anything else).
            'aws:SecureTransport': 'true',
            ...(request.context ?? {}),
          },
        },
      },
      {},
    );
    const analysis = (result as Cfn).result?.analysis;
    if (analysis === undefined) {
      throw new Error(
        `iam-simulate could not evaluate ${request.action} on ${request.resource}: ${JSON.stringify(result).slice(0, 400)}`,
      );
    }
    const allowed = analysis.result === 'Allowed';
    // `explain.identifier` is the statement's Sid (iam-simulate's statement objects are classes).
    const allowedBy = ((analysis.identityAnalysis?.allowStatements ?? []) as Cfn[]).map(
      (s) =>
        statements.find((x) => sidOf(x.id) === s.explain?.identifier)?.id ?? String(s.explain?.identifier),
    );
    return { allowed, allowedBy };
  }

  /** AWS's wording of a denial (it names the action and the resource). */
  static denialMessage(principal: Principal, action: string, resource: string): string {
    return `User: ${principal.roleArn.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')}/offline is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`;
  }
}

/** Sids may hold only letters and digits. */
function sidOf(id: string): string {
  return `S${Buffer.from(id).toString('hex')}`;
}
