/**
 * What a step concludes and how it is printed: one status line per step, a cross followed by the cause and
 * the fix. Pure: outcomes in, lines out.
 */

export type StepOutcome =
  | { status: "passed"; summary: string; details?: string[] }
  | { status: "failed"; cause: string; fix: string; details?: string[] }
  | { status: "skipped"; reason: string }
  | { status: "not-run"; reason: string };

export interface StepReport {
  number: number;
  title: string;
  outcome: StepOutcome;
}

const MARK = { passed: "✓", failed: "✗", skipped: "-", "not-run": "-" } as const;
const INDENT = "     ";

export function formatStep({ number, title, outcome }: StepReport): string[] {
  const head = `${MARK[outcome.status]} ${number}. ${title}`;
  switch (outcome.status) {
    case "passed":
      return [`${head}: ${outcome.summary}`, ...(outcome.details ?? []).map((d) => INDENT + d)];
    case "failed":
      return [`${head}: ${outcome.cause}`, ...(outcome.details ?? []).map((d) => INDENT + d), `${INDENT}Fix: ${outcome.fix}`];
    case "skipped":
      return [`${head}: skipped (${outcome.reason})`];
    case "not-run":
      return [`${head}: not run (${outcome.reason})`];
  }
}

/** 0 when every step that ran passed; skipped steps count for nothing. */
export function exitCodeOf(reports: readonly StepReport[]): number {
  return reports.some((r) => r.outcome.status === "failed") ? 1 : 0;
}

export function summaryLine(reports: readonly StepReport[]): string {
  const count = (status: StepOutcome["status"]) => reports.filter((r) => r.outcome.status === status).length;
  const failed = reports.filter((r) => r.outcome.status === "failed").map((r) => r.number);
  const parts = [`${count("passed")} passed`];
  if (failed.length > 0) parts.push(`${failed.length} failed (step ${failed.join(", ")})`);
  if (count("skipped") > 0) parts.push(`${count("skipped")} skipped`);
  if (count("not-run") > 0) parts.push(`${count("not-run")} not run`);
  return `${exitCodeOf(reports) === 0 ? "OK" : "FAILED"}: ${parts.join(", ")}.`;
}
