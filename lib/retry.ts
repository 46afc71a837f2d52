/**
 * Waiting out IAM's eventual consistency. Right after `pulumi up` a new access key, user, role or policy can
 * take several seconds (AWS says "usually less than a minute") to reach STS everywhere, so a first call may
 * be refused with InvalidClientTokenId or AccessDenied although the stack is right.
 */

export interface RetrySettings {
  /** Total time to spend waiting between attempts before giving up. */
  budgetMs: number;
  /** The first wait; each further wait doubles, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetrySettings = { budgetMs: 60_000, baseDelayMs: 1_000, maxDelayMs: 10_000 };

/** The waits, in order, that fit in the budget: 1 s, 2 s, 4 s, 8 s, 10 s, 10 s, ... (the last cut to fit). */
export function backoffSchedule({ budgetMs, baseDelayMs, maxDelayMs }: RetrySettings): number[] {
  const waits: number[] = [];
  let spent = 0;
  let next = Math.max(1, baseDelayMs);
  while (spent < budgetMs) {
    const wait = Math.min(next, maxDelayMs, budgetMs - spent);
    waits.push(wait);
    spent += wait;
    next *= 2;
  }
  return waits;
}

export interface RetryHooks<E> {
  /** Whether a failure may be IAM propagation (worth waiting for) rather than a lasting fault. */
  isTransient(error: E): boolean;
  /** Told before each wait: to print that we are waiting, and why. */
  onWait(error: E, attempt: number, waitMs: number): void;
  sleep(ms: number): Promise<void>;
}

export type Attempt<T, E> = { ok: true; value: T } | { ok: false; error: E };

/** Runs `attempt` until it succeeds, fails lastingly, or the schedule runs out; returns the last outcome
 * and how long it waited in total. */
export async function retryWhilePropagating<T, E>(
  attempt: () => Promise<Attempt<T, E>>,
  settings: RetrySettings,
  hooks: RetryHooks<E>,
): Promise<Attempt<T, E> & { waitedMs: number }> {
  const schedule = backoffSchedule(settings);
  let waitedMs = 0;
  for (let i = 0; ; i++) {
    const outcome = await attempt();
    if (outcome.ok || !hooks.isTransient(outcome.error) || i >= schedule.length) return { ...outcome, waitedMs };
    hooks.onWait(outcome.error, i + 1, schedule[i]);
    await hooks.sleep(schedule[i]);
    waitedMs += schedule[i];
  }
}

/** "20 ms", "1.5 s", "60 s": for the waiting messages. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return `${Number.isInteger(ms / 1000) ? ms / 1000 : (ms / 1000).toFixed(1)} s`;
}

export const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
