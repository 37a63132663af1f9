/** Every store write of a small load as a crash point, local lake: see test/helpers/crash-points-suite.ts. */
import { localKind } from '#test/helpers/commit-crash-suite.ts';
import { describeCrashPoints } from '#test/helpers/crash-points-suite.ts';

describeCrashPoints(localKind, { points: 'every' });
