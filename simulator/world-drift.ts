/**
 * Type drift across users, the way real API data drifts between backend versions and
 * integrations: most users get clean types, a deterministic minority get numeric strings,
 * "N/A", fractional or textual billing days, or sync markers that are not timestamps.
 * A loader must keep every value without a query ever failing on it.
 */
import type { JsonValue } from '#core/types.ts';
import type { Rng } from './prng.ts';

/** Every invented date is an offset from this instant: the world never reads the clock. */
export const WORLD_EPOCH_MS = Date.UTC(2025, 5, 1);
const DAY_MS = 86_400_000;

export interface DriftProfile {
  /** Money amounts: numbers, numeric strings ("12.50"), or numbers mixed with "N/A". */
  readonly amounts: 'number' | 'numeric-string' | 'not-applicable';
  /** Billing day of month: integers, floats (15.5) or strings ("15", "15th"). */
  readonly billingDay: 'integer' | 'float' | 'string';
  /** lastSyncedAt: ISO timestamps, or sometimes a marker that is not a timestamp. */
  readonly syncedAt: 'iso' | 'not-timestamp';
}

export function driftProfile(rng: Rng): DriftProfile {
  return {
    amounts: rng.weighted([
      ['number', 80],
      ['numeric-string', 12],
      ['not-applicable', 8],
    ]),
    billingDay: rng.weighted([
      ['integer', 84],
      ['float', 8],
      ['string', 8],
    ]),
    syncedAt: rng.weighted([
      ['iso', 88],
      ['not-timestamp', 12],
    ]),
  };
}

/** An ISO-8601 UTC timestamp `daysFrom`..`daysTo` days around the world epoch, to the second. */
export function timestamp(rng: Rng, daysFrom: number, daysTo: number): string {
  const offset = Math.floor((daysFrom + rng.next() * (daysTo - daysFrom)) * DAY_MS);
  return new Date(WORLD_EPOCH_MS + Math.floor(offset / 1000) * 1000).toISOString();
}

/** A calendar date (YYYY-MM-DD), as some APIs send due dates. */
export function isoDate(rng: Rng, daysFrom: number, daysTo: number): string {
  return timestamp(rng, daysFrom, daysTo).slice(0, 10);
}

export function amountValue(rng: Rng, drift: DriftProfile, amount: number): JsonValue {
  switch (drift.amounts) {
    case 'number':
      return amount;
    case 'numeric-string':
      return amount.toFixed(2);
    case 'not-applicable':
      return rng.chance(0.5) ? 'N/A' : amount;
  }
}

export function billingDayValue(rng: Rng, drift: DriftProfile): JsonValue {
  const day = rng.int(1, 28);
  if (rng.chance(0.05)) return null;
  switch (drift.billingDay) {
    case 'integer':
      return day;
    case 'float':
      return day + 0.5;
    case 'string':
      return rng.chance(0.5) ? String(day) : `${day}${ordinalSuffix(day)}`;
  }
}

function ordinalSuffix(day: number): string {
  if (day >= 11 && day <= 13) return 'th';
  return ['th', 'st', 'nd', 'rd'][day % 10] ?? 'th';
}

export function syncedAtValue(rng: Rng, drift: DriftProfile): JsonValue {
  if (drift.syncedAt === 'not-timestamp' && rng.chance(0.7)) return rng.pick(['never', 'pending', '', 'N/A']);
  if (rng.chance(0.04)) return null;
  return timestamp(rng, -14, 0);
}
