/**
 * Reads every stack's config and outputs (never its secrets) through one workspace, concurrently: a fleet's
 * reading time is bounded by the CLI calls, so they run side by side, never one stack after another.
 */
import { mapWithConcurrency, PulumiError, PulumiWorkspace } from "../../lib/pulumi";
import { sortRows, statusRow, type StackFacts, type StatusRow } from "./decide";

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
  const read = await mapWithConcurrency(names, opts.concurrency ?? DEFAULT_READ_CONCURRENCY, async (name): Promise<StackFacts | StatusRow> => {
    if (!lastUpdate.has(name)) return { stack: name, problem: "no such stack in the current backend (npm run pulumi -- stack ls lists them)" };
    try {
      const stack = await workspace.open(name);
      const [config, outputs] = await Promise.all([stack.readConfig({ secrets: false }), stack.readOutputs({ secrets: false })]);
      return { name, lastUpdate: lastUpdate.get(name), config, outputs };
    } catch (error) {
      if (!(error instanceof PulumiError)) throw error;
      return { stack: name, lastUpdate: lastUpdate.get(name), problem: error.message };
    }
  });
  // The stacks of one LWA app (the same lwaClientId), among those shown: one rotation serves them all.
  const facts = read.filter((r): r is StackFacts => "config" in r);
  const sharing = (f: StackFacts) =>
    facts.filter((o) => o.name !== f.name && f.config.values.lwaClientId && o.config.values.lwaClientId === f.config.values.lwaClientId).map((o) => o.name);
  const rows = read.map((r) => ("config" in r ? statusRow({ ...r, sharedWith: sharing(r) }, now, opts.warnDays) : r));
  return sortRows(rows);
}
