/**
 * Crash points of a small load on an S3 lake (s3rver behind a proxy that honours conditional
 * writes): the first and last write of each run of one class of write, see
 * test/helpers/crash-points-suite.ts (the local-folder run crashes at every write). The write
 * request faults are test/integration/write-request-faults-s3.test.ts, a file of their own so
 * the two vitest workers can run them side by side.
 */
import { s3Kind } from '#test/helpers/commit-crash-suite.ts';
import { describeCrashPoints } from '#test/helpers/crash-points-suite.ts';

describeCrashPoints(s3Kind, { points: 'each-class' });
