/** A load SIGKILLed during its commit into an S3 lake (s3rver): see test/helpers/commit-crash-suite.ts. */
import { describeCommitCrash, s3Kind, scratchDir } from '#test/helpers/commit-crash-suite.ts';

describeCommitCrash(s3Kind(scratchDir));
