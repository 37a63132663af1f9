import { Aws, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { CfnNamedQuery, CfnWorkGroup } from 'aws-cdk-lib/aws-athena';
import { CfnDatabase } from 'aws-cdk-lib/aws-glue';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type IBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ATHENA_RESULTS_EXPIRY_DAYS } from '../constants.ts';
import { namedQueries } from '../named-queries.ts';

export interface LakeAnalyticsProps {
  /** The configured name; the database gets `<name>_<deploy id>` (see LakeAnalytics). */
  readonly databaseName: string;
  readonly workgroupName: string;
  /** Tables the named "current state" queries are generated for. */
  readonly tables: readonly string[];
  readonly accessLogsBucket: IBucket;
}

/**
 * Athena over the lake: the Glue database, a workgroup whose settings clients cannot override
 * (results encrypted, in our bucket), and saved queries. The Glue *tables* are not here: the
 * commit Lambda creates and widens them as the schema evolves (lambdas/adapters/glue-catalog.ts).
 */
export class LakeAnalytics extends Construct {
  readonly databaseName: string;
  readonly workgroupName: string;
  readonly resultsBucket: Bucket;
  readonly database: CfnDatabase;
  /** `<database>_raw` (the external tables over every file) and `<database>_current` (views). */
  readonly rawDatabaseName: string;
  readonly currentDatabaseName: string;
  readonly workgroup: CfnWorkGroup;

  constructor(scope: Construct, id: string, props: LakeAnalyticsProps) {
    super(scope, id);
    const account = Stack.of(this).account;
    // The database is kept when the stack is deleted, like the bucket its tables describe, so
    // its name carries the first group of the stack id's UUID: a redeploy after `cdk destroy`
    // creates `<name>_<new id>` instead of failing on the kept one (the GlueDatabase output
    // names it).
    this.databaseName = Fn.join('_', [
      props.databaseName,
      Fn.select(0, Fn.split('-', Fn.select(2, Fn.split('/', Aws.STACK_ID)))),
    ]);
    this.workgroupName = props.workgroupName;

    this.database = new CfnDatabase(this, 'Database', {
      catalogId: account,
      databaseInput: {
        name: this.databaseName,
        description: 'PayLink lake history: committed loads only (views kept by the loader commit)',
      },
    });
    this.database.applyRemovalPolicy(RemovalPolicy.RETAIN);

    // The reading layers (core/glue-view.ts): the raw tables live apart, so that every name in
    // the main database is a committed-only view, and current state has a database of its own.
    // Names follow core/glue-view.ts `lakeDatabases`, which the commit uses to find them.
    this.rawDatabaseName = Fn.join('', [this.databaseName, '_raw']);
    this.currentDatabaseName = Fn.join('', [this.databaseName, '_current']);
    const layers = [
      [
        'RawDatabase',
        this.rawDatabaseName,
        'PayLink lake files as they are, committed or not (not a reading path)',
      ],
      [
        'CurrentDatabase',
        this.currentDatabaseName,
        "PayLink lake current state: each user's latest good load",
      ],
    ] as const;
    for (const [id, name, description] of layers) {
      const database = new CfnDatabase(this, id, {
        catalogId: account,
        databaseInput: { name, description },
      });
      database.applyRemovalPolicy(RemovalPolicy.RETAIN);
    }

    this.resultsBucket = new Bucket(this, 'QueryResults', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'athena-results/',
      // Query results copy lake data: keep them only as long as someone may re-read them.
      lifecycleRules: [{ id: 'expire-results', expiration: Duration.days(ATHENA_RESULTS_EXPIRY_DAYS) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.workgroup = new CfnWorkGroup(this, 'WorkGroup', {
      name: props.workgroupName,
      description: 'Queries over the PayLink lake',
      state: 'ENABLED',
      // Deleted with the stack, saved queries and all, so its fixed name is free on redeploy.
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        // Clients cannot redirect results elsewhere or turn encryption off.
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        // The reading-layer views are written for engine 3 (Trino); AUTO could pick another.
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${this.resultsBucket.bucketName}/`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
          expectedBucketOwner: account,
        },
      },
    });

    for (const query of namedQueries(this.databaseName, props.tables)) {
      const named = new CfnNamedQuery(this, `Query-${query.name}`, {
        name: query.name,
        description: query.description,
        database: this.databaseName,
        workGroup: this.workgroup.ref,
        queryString: query.sql,
      });
      named.node.addDependency(this.database);
    }
  }

  private glueArn(resource: string, resourceName?: string): string {
    return Stack.of(this).formatArn({
      service: 'glue',
      resource,
      ...(resourceName === undefined ? {} : { resourceName }),
    });
  }

  /** Every table and view of the lake's three databases (the commit creates them as they appear). */
  get tableArnPatterns(): string[] {
    return [this.databaseName, this.rawDatabaseName, this.currentDatabaseName].map((db) =>
      this.glueArn('table', `${db}/*`),
    );
  }

  /** `glue:GetTable/CreateTable/UpdateTable` on the lake databases' tables and views only. */
  grantTableSync(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'GlueTables',
        actions: ['glue:GetTable', 'glue:CreateTable', 'glue:UpdateTable'],
        // Glue authorizes table calls against the catalog, the database and the table.
        resources: [
          this.glueArn('catalog'),
          ...[this.databaseName, this.rawDatabaseName, this.currentDatabaseName].map((db) =>
            this.glueArn('database', db),
          ),
          ...this.tableArnPatterns,
        ],
      }),
    );
  }
}
