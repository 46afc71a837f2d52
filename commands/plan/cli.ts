/**
 * npm run plan -- [<stack file> | --config <stack file> | --stack <name>]
 * Runs the real program under Pulumi's mock runtime and prints what `pulumi up` would create: every
 * resource with its name and full IAM documents, the key slots, the dates, and the credentials block with
 * placeholders for what only AWS can know. No AWS account, no Pulumi CLI: for review before anyone deploys.
 */
import { errorLine, helpText, parseCommandLine, runCommand, usageErrorText } from "../../lib/cli";
import * as fs from "fs";
import * as path from "path";
import type { Output } from "@pulumi/pulumi";
import { deployedGeneration } from "../../src/lifecycle";
import { DeclaredResource, OfflineCloud, resolveOutput, useOfflineRuntime } from "../../src/offline";
import { userPath } from "../../lib/files";
import { readStackFile, StackFileError } from "./stack-file";

const PROJECT_DIR = path.resolve(__dirname, "..", "..");
/** The project directory a stack name is looked up in: this repository, unless SP_API_IAM_PROJECT_DIR names another. */
const projectDirOf = (env: NodeJS.ProcessEnv) => env.SP_API_IAM_PROJECT_DIR?.trim() || PROJECT_DIR;

function documentOrValue(value: unknown): string {
  if (typeof value === "string") {
    try {
      const parsed = JSON.parse(value);
      if (parsed && typeof parsed === "object" && "Statement" in parsed) return JSON.stringify(parsed, null, 2);
    } catch {
      // not a policy document: shown as it is
    }
    return value;
  }
  return JSON.stringify(value);
}

const NOTES: Record<string, string> = {
  "pulumi:pulumi:StackReference": "reads this stack's last outputs to guard key rotation and the switch to connectorAuth lwa; creates nothing",
};

function describe(resource: DeclaredResource): string {
  const head = `  + ${resource.type}  ${resource.name}`;
  const note = NOTES[resource.type] ? `    (${NOTES[resource.type]})` : "";
  const lines = [head + note];
  for (const [key, value] of Object.entries(resource.inputs)) {
    if (value === undefined || key === "__defaults") continue;
    const shown = documentOrValue(value).split("\n");
    lines.push(`      ${key}: ${shown[0]}`, ...shown.slice(1).map((l) => `        ${l}`));
  }
  return lines.join("\n");
}

export class PlanError extends Error {}

/** The whole plan for one stack file, as text. Throws PlanError for a config the program refuses. */
export async function renderPlan(file: string): Promise<string> {
  const stack = path.basename(file).replace(/^Pulumi\.|\.ya?ml$/g, "");
  const { values, encrypted, providerValues, importsEnvironments } = readStackFile(file);

  const cloud = new OfflineCloud();
  await useOfflineRuntime(cloud, { values, providerValues }, stack);
  const { runProgram } = await import("../../src/program");
  let outputs;
  try {
    outputs = await runProgram();
  } catch (err) {
    throw new PlanError((err as Error).message);
  }
  const credentials = await resolveOutput(outputs.credentials);
  // With lwa the block waits on no resource: let the queue's registrations (when declared) settle before they are listed.
  if (outputs.lwaNotificationQueueUrl) await resolveOutput(outputs.lwaNotificationQueueUrl);
  await new Promise((resolve) => setImmediate(resolve));
  const scalar = async <T>(o: Output<T>) => (await resolveOutput(o)).value;

  const out: string[] = [];
  out.push(`sp-api-iam plan for stack "${stack}" (${file}), offline: no AWS account, no Pulumi CLI.`);
  out.push("Values shown <like this> are known only after pulumi up; the account id 123456789012 stands for yours.");
  out.push("No state is read: this is the stack's first deployment. For a stack already deployed, pulumi preview shows the changes.", "");
  out.push("Configuration:");
  for (const [k, v] of Object.entries(values)) out.push(`  ${k} = ${v}`);
  for (const k of encrypted) out.push(`  ${k} = [encrypted in ${file}: set, not shown; the block below shows its placeholder]`);
  if (importsEnvironments) out.push(`  (not shown: values of the ESC environments ${file} imports, which only the Pulumi CLI reads)`);
  out.push("", `Resources pulumi up would create (${cloud.resources.length}):`);
  for (const r of cloud.resources) out.push(describe(r));
  const slots = outputs.accessKeySlots ?? [];
  if (outputs.connectorAuth === "lwa") {
    out.push(
      "",
      "connectorAuth lwa: no IAM user, role, group, policy or access key (the connector sends the LWA token alone; docs/lwa-only.md).",
      "The block holds client_id, client_secret and refresh_token only.",
    );
  } else {
    out.push("", "Access key slots (IAM allows two keys; a rotation replaces only the older slot):");
    const newest = deployedGeneration(slots);
    for (const s of slots) {
      const role = s.generation === newest ? "newest, in credentials" : "previous";
      out.push(`  slot ${s.slot}: generation ${s.generation}, ${s.status}, ${role}${s.pgpKey ? ", secret PGP-encrypted" : ""}`);
    }
  }
  out.push("", "Outputs:");
  out.push(`  connectorAuth: ${outputs.connectorAuth}`);
  if (outputs.roleArn && outputs.userArn && outputs.userName && outputs.accessKeyId && outputs.accessKeyCreatedAt && outputs.accessKeyRotateBy) {
    out.push(`  roleArn: ${await scalar(outputs.roleArn)}`);
    out.push(`  userArn: ${await scalar(outputs.userArn)}`);
    out.push(`  userName: ${await scalar(outputs.userName)}`);
    out.push(`  accessKeyId: ${await scalar(outputs.accessKeyId)}`);
    out.push(`  accessKeyCreatedAt: ${await scalar(outputs.accessKeyCreatedAt)} (for a key made now)`);
    out.push(`  accessKeyRotateBy: ${await scalar(outputs.accessKeyRotateBy)} (for a key made now)`);
  } else {
    out.push("  roleArn, userArn, userName, accessKeyId, accessKeyCreatedAt, accessKeyRotateBy, accessKeySlots: absent (connectorAuth lwa)");
  }
  out.push(`  lwaClientSecretExpiresOn: ${outputs.lwaClientSecretExpiresOn ?? "<not tracked: set lwaClientSecretIssuedOn to track it>"}`);
  if (outputs.encryptedSecretAccessKey) out.push("  encryptedSecretAccessKey: [secret] <PGP ciphertext, known after pulumi up>");
  out.push(`  credentials: [secret]${credentials.secret ? "" : " (NOT SECRET: a defect, please report)"}`);
  if (outputs.lwaNotificationQueueArn && outputs.lwaNotificationQueueUrl) {
    const queueArn = await scalar(outputs.lwaNotificationQueueArn);
    out.push(`  lwaNotificationQueueArn: ${queueArn}`, `  lwaNotificationQueueUrl: ${await scalar(outputs.lwaNotificationQueueUrl)}`);
    out.push(
      "",
      "LWA secret rotation (lwaRotation): after pulumi up, one step by hand, once:",
      "  Developer Console (Solution Provider Portal) > Notification Preferences: for the rows",
      '  "Application Client New Secret" and "Application Client Secret Expiry", Add new destination (SQS ARN)',
      `  ${queueArn} (its real value: pulumi stack output lwaNotificationQueueArn), then Subscribe.`,
      "  Then npm run rotate-lwa rotates the secret (docs/lwa-rotation.md).",
    );
  }
  out.push("", "The credentials block (pulumi stack output --show-secrets credentials, or npm run credentials):", "");
  out.push(credentials.value);
  return out.join("\n") + "\n";
}

export const USAGE = [
  "Usage: npm run plan -- [<stack file> | --config <stack file> | --stack <name>]",
  "  Prints what pulumi up would create for a stack, offline: no AWS account, no Pulumi CLI.",
  "  <stack file>, --config <stack file>  a Pulumi.<stack>.yaml, relative to where you run the command",
  "  -s, --stack <name>                   the project's Pulumi.<name>.yaml (default: Pulumi.dev.yaml)",
].join("\n");

export type PlanArgs = { file: string } | { help: true } | { usageError: string };

/**
 * Which stack file the user means. A path is taken relative to the directory the user ran the command in
 * (npm runs scripts in the project directory and passes the user's as INIT_CWD); a stack name means the
 * project's Pulumi.<name>.yaml, where `pulumi up` reads it.
 */
export function parsePlanArgs(args: string[], userDir: string, projectDir = PROJECT_DIR): PlanArgs {
  const parsed = parseCommandLine(args, { config: { type: "string", multiple: true }, stack: { type: "string", multiple: true } }, { positionals: true });
  if (parsed.kind === "help") return { help: true };
  if (parsed.kind === "error") return { usageError: parsed.message };
  const sources: string[] = [];
  for (const token of parsed.tokens) {
    if (token.kind === "positional") sources.push(path.resolve(userDir, token.value));
    else if (token.kind === "option" && token.name === "config") sources.push(path.resolve(userDir, token.value!));
    else if (token.kind === "option" && token.name === "stack") {
      if (!/^[A-Za-z0-9_.-]+$/.test(token.value!)) return { usageError: `--stack ${JSON.stringify(token.value)} is not a stack name` };
      sources.push(path.join(projectDir, `Pulumi.${token.value}.yaml`));
    }
  }
  if (sources.length > 1) return { usageError: "give one stack file or one stack, not several" };
  return { file: sources[0] ?? path.join(projectDir, "Pulumi.dev.yaml") };
}

export interface PlanIo {
  /** INIT_CWD in it is the directory the user ran the command in. */
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** The command: exit code 0 with the plan, 1 for a file or config refused, 2 for a usage error. */
export async function runPlanCommand(args: string[], io: PlanIo): Promise<number> {
  const parsed = parsePlanArgs(args, userPath(".", io.env), projectDirOf(io.env));
  if ("help" in parsed) {
    io.stdout(helpText(USAGE));
    return 0;
  }
  if ("usageError" in parsed) {
    io.stderr(usageErrorText("plan", USAGE, parsed.usageError));
    return 2;
  }
  if (!fs.existsSync(parsed.file)) {
    const byName = /\.ya?ml$/.test(parsed.file) ? "" : ` (a stack by its name: --stack ${path.basename(parsed.file)})`;
    io.stderr(usageErrorText("plan", USAGE, `no stack file ${parsed.file}${byName}`));
    return 2;
  }
  try {
    io.stdout(await renderPlan(parsed.file));
    return 0;
  } catch (err) {
    if (!(err instanceof PlanError || err instanceof StackFileError)) throw err;
    io.stderr(errorLine("plan", err.message) + "\n");
    return 1;
  }
}

if (require.main === module) {
  const io: PlanIo = { env: process.env, stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };
  runCommand("plan", () => runPlanCommand(process.argv.slice(2), io));
}
