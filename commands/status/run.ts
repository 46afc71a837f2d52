/**
 * Reads every stack's config and outputs (never its secrets) through one workspace, concurrently: a fleet's
 * reading time is bounded by the CLI calls, so they run side by side, never one stack after another.
 */
import { mapWithConcurrency, PulumiError, PulumiWorkspace } from "../../lib/pulumi";
import { sortRows, statusRow, type StatusRow } from "./decide";

export const DEFAULT_READ_CONCURRENCY = 8;

export interface StatusOptions {
  /** Stacks to show; all of this project's when empty. */
  stacks: string[];
  warnDays?: number;
  now?: Date;
  concurrency?: number;
}

export async function collectStatus(workspace: PulumiWorkspace, opts: StatusOptions): Promise<StatusRow[]> {
  const now = opts.now ?? new Date();
  const listed = await workspace.list();
  const lastUpdate = new Map(listed.map((s) => [s.name, s.lastUpdate]));
  const names = opts.stacks.length > 0 ? opts.stacks : listed.map((s) => s.name);
  const rows = await mapWithConcurrency(names, opts.concurrency ?? DEFAULT_READ_CONCURRENCY, async (name): Promise<StatusRow> => {
    if (!lastUpdate.has(name)) return { stack: name, problem: "no such stack in the current backend (pulumi stack ls lists them)" };
    try {
      const stack = await workspace.open(name);
      const [config, outputs] = await Promise.all([stack.readConfig({ secrets: false }), stack.readOutputs({ secrets: false })]);
      return statusRow({ name, lastUpdate: lastUpdate.get(name), config, outputs }, now, opts.warnDays);
    } catch (error) {
      if (!(error instanceof PulumiError)) throw error;
      return { stack: name, lastUpdate: lastUpdate.get(name), problem: error.message };
    }
  });
  return sortRows(rows);
}
