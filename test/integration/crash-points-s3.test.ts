/**
 * Every store write of a small load as a crash point, S3 lake (s3rver behind a proxy that honours
 * conditional writes), plus every write request failed once before or after it was applied:
 * see test/helpers/crash-points-suite.ts.
 */
import { s3Kind } from '#test/helpers/commit-crash-suite.ts';
import { describeCrashPoints } from '#test/helpers/crash-points-suite.ts';

describeCrashPoints(s3Kind);
