import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type IBucket,
  type LifecycleRule,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { leasesPrefix, stagingPrefix } from '#core/layout.ts';
import { WEBHOOK } from '#core/webhook.ts';
import type { BucketSource } from '../config.ts';
import {
  ABORT_MULTIPART_DAYS,
  ACCESS_LOG_EXPIRY_DAYS,
  NONCURRENT_VERSION_EXPIRY_DAYS,
  STAGING_EXPIRY_DAYS,
} from '../constants.ts';
import { usersListObjectKey } from '../handler-environment.ts';

export interface LakeStorageProps {
  readonly source: BucketSource;
  /** Lake prefix inside the bucket, no leading or trailing slash. */
  readonly prefix: string;
  /** Users list key relative to `_config/`. */
  readonly usersListKey: string;
}

/** Parent folder of the staging area of every load: `_staging/<load_id>/` -> `_staging/`. */
const STAGING_ROOT = stagingPrefix('x').slice(0, -'x/'.length);

/**
 * The lake bucket (created or imported), the bucket its access logs go to, and intent-named
 * grants scoped to the lake prefix. A created bucket is private, TLS-only, encrypted,
 * versioned (a bad commit can be undone), and kept when the stack is deleted.
 */
export class LakeStorage extends Construct {
  readonly bucket: IBucket;
  /** Server access logs of every bucket of the stack (S3 cannot log a log bucket into itself). */
  readonly accessLogsBucket: Bucket;
  readonly prefix: string;
  readonly usersListKey: string;
  private readonly kmsKeyArn: string | undefined;
  private readonly listers = new Set<IGrantable['grantPrincipal']>();

  constructor(scope: Construct, id: string, props: LakeStorageProps) {
    super(scope, id);
    this.prefix = props.prefix;
    this.usersListKey = usersListObjectKey(props.usersListKey);

    this.accessLogsBucket = new Bucket(this, 'AccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // Server access log delivery supports SSE-S3 only.
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(ACCESS_LOG_EXPIRY_DAYS) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    if (props.source.kind === 'import') {
      this.bucket = Bucket.fromBucketName(this, 'Lake', props.source.name);
      this.kmsKeyArn = props.source.kmsKeyArn;
    } else {
      this.bucket = new Bucket(this, 'Lake', {
        blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        encryption: BucketEncryption.S3_MANAGED,
        objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned: true,
        lifecycleRules: lakeLifecycleRules(props.prefix),
        serverAccessLogsBucket: this.accessLogsBucket,
        serverAccessLogsPrefix: 'lake/',
        // Bank data: never deleted with the stack.
        removalPolicy: RemovalPolicy.RETAIN,
      });
      this.kmsKeyArn = undefined;
    }
  }

  /** `s3://bucket/_config/<key>`: where the operator uploads the users list. */
  get usersListUri(): string {
    return `s3://${this.bucket.bucketName}/${this.usersListKey}`;
  }

  /** `s3://bucket/<prefix>/`: the lake root (tables are `<root><table>/`). */
  get lakeUri(): string {
    return `s3://${this.bucket.bucketName}/${this.prefix}/`;
  }

  /**
   * `s3:ListBucket` on the bucket, with no condition. Listing is needed (staging clean-up,
   * schema versions, published keys), and it also decides how S3 answers a read of a missing
   * key: 404 NoSuchKey with ListBucket, **403 AccessDenied without it** (GetObject/HeadObject
   * API reference, "Permissions"). Every step reads keys that are missing on a first run
   * (`_schema/current.json`, the commit intent, the previous marker). An `s3:prefix` condition
   * does not help: a GetObject carries no `s3:prefix`, so for reads the grant would not exist.
   */
  grantList(grantee: IGrantable): void {
    // Once per principal: a policy may not repeat a Sid.
    if (this.listers.has(grantee.grantPrincipal)) return;
    this.listers.add(grantee.grantPrincipal);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'LakeList',
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
      }),
    );
  }

  /** `s3:GetObject` under the given lake areas only (`_staging/`, `_schema/`, `_loads/`, ...). */
  grantReadAreas(grantee: IGrantable, sid: string, areas: readonly string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid,
        actions: ['s3:GetObject'],
        resources: areas.map((area) => this.bucket.arnForObjects(`${this.prefix}/${area}*`)),
      }),
    );
    this.grantKey(grantee, ['kms:Decrypt']);
  }

  /**
   * Write and delete under `_staging/` only: what plan and load-batch produce is uncommitted by
   * definition, so a bug there can never overwrite or delete published data.
   */
  grantWriteStaging(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'LakeStagingWrite',
        // PutObject also authorizes the multipart upload calls; Abort is its own action.
        actions: ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
        resources: [this.bucket.arnForObjects(`${this.prefix}/${STAGING_ROOT}*`)],
      }),
    );
    this.grantKey(grantee, ['kms:Decrypt', 'kms:GenerateDataKey']);
  }

  /** Read, create and delete the load ids' leases (`_leases/`, core/lease.ts), and nothing else. */
  grantLeases(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'LakeLeases',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: [this.bucket.arnForObjects(`${this.prefix}/${leasesPrefix}*`)],
      }),
    );
    this.grantKey(grantee, ['kms:Decrypt', 'kms:GenerateDataKey']);
  }

  /**
   * Create objects under `_events/` only (the webhook receiver): it stores each accepted event
   * with a create-only PutObject and never reads, lists, overwrites or deletes anything.
   */
  grantWriteEvents(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'LakeEventsWrite',
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects(`${this.prefix}/${WEBHOOK.eventsPrefix}*`)],
      }),
    );
    this.grantKey(grantee, ['kms:GenerateDataKey']);
  }

  /**
   * Read, write and delete anywhere under the lake prefix: the commit alone publishes (moves
   * staged parts to their final keys, writes schema versions and the load marker) and removes
   * published keys a re-run no longer writes.
   */
  grantPublish(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'LakePublish',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
        resources: [this.bucket.arnForObjects(`${this.prefix}/*`)],
      }),
    );
    this.grantKey(grantee, ['kms:Decrypt', 'kms:GenerateDataKey']);
  }

  /** Read the one users list object. */
  grantReadUsersList(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'UsersList',
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(this.usersListKey)],
      }),
    );
    // Without ListBucket a missing list would answer 403, not "no users list" (see grantList).
    this.grantList(grantee);
    this.grantKey(grantee, ['kms:Decrypt']);
  }

  /** An imported SSE-KMS bucket: use its key, only through S3. */
  private grantKey(grantee: IGrantable, actions: string[]): void {
    if (this.kmsKeyArn === undefined) return;
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions,
        resources: [this.kmsKeyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
  }
}

/** Lifecycle of a lake bucket: staging expires, old versions expire, failed uploads are aborted. */
export function lakeLifecycleRules(prefix: string): LifecycleRule[] {
  return [
    {
      // Uncommitted loads (crashed or abandoned runs); a commit removes its own staging itself.
      id: 'expire-staging',
      prefix: `${prefix}/${STAGING_ROOT}`,
      expiration: Duration.days(STAGING_EXPIRY_DAYS),
      noncurrentVersionExpiration: Duration.days(1),
    },
    {
      id: 'bucket-hygiene',
      abortIncompleteMultipartUploadAfter: Duration.days(ABORT_MULTIPART_DAYS),
      noncurrentVersionExpiration: Duration.days(NONCURRENT_VERSION_EXPIRY_DAYS),
      expiredObjectDeleteMarker: true,
    },
  ];
}
