/** A load SIGKILLed during its commit into a local lake: see test/helpers/commit-crash-suite.ts. */
import { describeCommitCrash, localKind, scratchDir } from '#test/helpers/commit-crash-suite.ts';

describeCommitCrash(localKind(scratchDir));
