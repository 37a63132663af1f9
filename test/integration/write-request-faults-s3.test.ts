/**
 * A small load on an S3 lake whose write requests fail once, 503 before or 500 after s3rver
 * applied them (the first and last request of each run of one class of request, both faults for
 * a run of one): it ends exactly as a fault-free load. See test/helpers/crash-points-suite.ts.
 */
import { s3Kind } from '#test/helpers/commit-crash-suite.ts';
import { describeWriteRequestFaults } from '#test/helpers/crash-points-suite.ts';

describeWriteRequestFaults(s3Kind);
