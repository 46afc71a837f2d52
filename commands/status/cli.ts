/**
 * npm run status -- [--stack <name>...] [--json] [--warn-days <n>]
 * Every customer's credentials at a glance, from the stacks' outputs and config alone (no AWS call, no secret
 * decrypted), most urgent first. Exit code: 0 nothing overdue or expired, 1 something is (or a stack cannot be
 * read, or the output's reader went away: runCommand, lib/cli.ts), 2 usage error, 3 internal error.
 */
import { parseCommandLine, runCommand } from "../../lib/cli";
import { PulumiError, PulumiWorkspace } from "../../lib/pulumi";
import { statusExitCode, type StatusRow } from "./decide";
import { collectStatus } from "./run";

export const USAGE = [
  "usage: npm run status -- [--stack <name>...] [--json] [--warn-days <n>]",
  "Shows every stack of this project (or the ones named): SP-API region, role, key age and rotate-by date, key",
  "rotation phase, the LWA secret's expiry, last update, and the next thing due. Reads no secret and calls no AWS API.",
  "Exit code: 0 nothing overdue or expired, 1 something is or a stack cannot be read, 2 usage error.",
].join("\n");

export type StatusArgs = { kind: "run"; stacks: string[]; json: boolean; warnDays?: number } | { kind: "help" } | { kind: "error"; message: string };

export function parseStatusArgs(argv: string[]): StatusArgs {
  const parsed = parseCommandLine(argv, { stack: { type: "string", multiple: true }, json: { type: "boolean" }, "warn-days": { type: "string" } });
  if (parsed.kind !== "parsed") return parsed;
  const v = parsed.values;
  let warnDays: number | undefined;
  if (v["warn-days"] !== undefined) {
    if (!/^\d{1,4}$/.test(v["warn-days"]))
      return { kind: "error", message: `--warn-days takes a whole number of days; given ${JSON.stringify(v["warn-days"])}` };
    warnDays = Number(v["warn-days"]);
  }
  return { kind: "run", stacks: v.stack ?? [], json: v.json ?? false, warnDays };
}

const COLOUR = { expired: "\x1b[1;31m", overdue: "\x1b[31m", due: "\x1b[33m", ok: "", unreadable: "\x1b[35m" } as const;

function cells(row: StatusRow): string[] {
  if (row.problem) return [row.stack, "", "", "", "", "", "", row.lastUpdate?.slice(0, 16).replace("T", " ") ?? "", `cannot read: ${row.problem}`];
  const shared = row.lwa?.sharedWith?.length ? ` [app shared with ${row.lwa.sharedWith.join(", ")}]` : "";
  const lwa = (row.lwa?.expiresOn ? `${row.lwa.expiresOn} (${row.lwa.source === "amazon" ? "Amazon's" : "tracked"})` : "not tracked") + shared;
  return [
    row.stack,
    row.spApiRegion ?? "",
    row.connectorAuth === "lwa" ? "none (LWA only)" : (row.roleArn ?? ""),
    row.key ? `${row.key.ageDays} d` : "",
    row.key?.rotateBy ?? "",
    row.connectorAuth === "lwa" ? "no key (LWA only)" : (row.key?.phase.replace(/-/g, " ") ?? ""),
    lwa,
    row.lastUpdate?.slice(0, 16).replace("T", " ") ?? "",
    row.next ? `${row.next.date} ${row.next.urgency.toUpperCase()}: ${row.next.what}` : "",
  ];
}

/** The rows as a table; colour (expired, overdue, due, unreadable) only when `colour` is set. */
export function formatTable(rows: readonly StatusRow[], colour: boolean): string {
  const head = ["STACK", "REGION", "ROLE ARN", "KEY AGE", "ROTATE BY", "KEY PHASE", "LWA SECRET EXPIRES", "LAST UPDATE", "NEXT"];
  const body = rows.map(cells);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const lines = [line(head)];
  rows.forEach((row, i) => {
    const text = line(body[i]!);
    const tone = row.problem ? COLOUR.unreadable : row.next ? COLOUR[row.next.urgency] : "";
    lines.push(colour && tone ? `${tone}${text}\x1b[0m` : text);
  });
  return lines.join("\n") + "\n";
}

export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv,
  stdout: NodeJS.WritableStream & { isTTY?: boolean },
  stderr: NodeJS.WritableStream,
): Promise<number> {
  const args = parseStatusArgs(argv);
  if (args.kind === "help") {
    stdout.write(USAGE + "\n");
    return 0;
  }
  if (args.kind === "error") {
    stderr.write(`status: ${args.message}\n${USAGE}\n`);
    return 2;
  }
  let rows: StatusRow[];
  try {
    rows = await collectStatus(await PulumiWorkspace.connect({ env }), { stacks: args.stacks, warnDays: args.warnDays });
  } catch (error) {
    if (!(error instanceof PulumiError)) throw error;
    stderr.write(`status: ${error.message}\n`);
    return 1;
  }
  if (args.json) stdout.write(JSON.stringify(rows, null, 2) + "\n");
  else if (rows.length === 0) stdout.write("No stacks in the current backend: npm run up creates one.\n");
  else stdout.write(formatTable(rows, Boolean(stdout.isTTY) && !env.NO_COLOR));
  return statusExitCode(rows);
}

if (require.main === module) runCommand("status", () => main(process.argv.slice(2), process.env, process.stdout, process.stderr));
