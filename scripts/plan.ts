/**
 * npm run plan [-- --config Pulumi.<stack>.yaml]
 * Runs the real program under Pulumi's mock runtime and prints what `pulumi up` would create: every
 * resource with its name and full IAM documents, the key slots, the dates, and the credentials block with
 * placeholders for what only AWS can know. No AWS account, no Pulumi CLI: for review before anyone deploys.
 */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import type { Output } from "@pulumi/pulumi";
import { PROJECT } from "../src/config";
import { deployedGeneration } from "../src/lifecycle";
import { DeclaredResource, OfflineCloud, resolveOutput, useOfflineRuntime } from "../src/offline";

const PROJECT_PREFIX = `${PROJECT}:`;

interface StackFile {
  values: Record<string, string>;
  /** Keys held encrypted in the stack file: set, but not readable without the stack's passphrase. */
  encrypted: string[];
}

export function readStackFile(file: string): StackFile {
  const doc = (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const values: Record<string, string> = {};
  const encrypted: string[] = [];
  for (const [fullKey, value] of Object.entries(doc.config ?? {})) {
    if (!fullKey.startsWith(PROJECT_PREFIX)) continue; // aws:region, aws:profile: the provider's, not ours
    const key = fullKey.slice(PROJECT_PREFIX.length);
    if (value && typeof value === "object" && "secure" in value) encrypted.push(key);
    else values[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return { values, encrypted };
}

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
  "pulumi:pulumi:StackReference": "reads this stack's last outputs to guard key rotation; creates nothing",
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
  const { values, encrypted } = readStackFile(file);

  const cloud = new OfflineCloud();
  await useOfflineRuntime(cloud, { values }, stack);
  const { runProgram } = await import("../src/program");
  let outputs;
  try {
    outputs = await runProgram();
  } catch (err) {
    throw new PlanError((err as Error).message);
  }
  const credentials = await resolveOutput(outputs.credentials);
  const scalar = async <T>(o: Output<T>) => (await resolveOutput(o)).value;

  const out: string[] = [];
  out.push(`sp-api-iam plan for stack "${stack}" (${file}), offline: no AWS account, no Pulumi CLI.`);
  out.push("Values shown <like this> are known only after pulumi up; the account id 123456789012 stands for yours.", "");
  out.push("Configuration:");
  for (const [k, v] of Object.entries(values)) out.push(`  ${k} = ${v}`);
  for (const k of encrypted) out.push(`  ${k} = [encrypted in ${file}: set, not shown; the block below shows its placeholder]`);
  out.push("", `Resources pulumi up would create (${cloud.resources.length}):`);
  for (const r of cloud.resources) out.push(describe(r));
  out.push("", "Access key slots (IAM allows two keys; a rotation replaces only the older slot):");
  const newest = deployedGeneration(outputs.accessKeySlots);
  for (const s of outputs.accessKeySlots) {
    const role = s.generation === newest ? "newest, in credentials" : "previous";
    out.push(`  slot ${s.slot}: generation ${s.generation}, ${s.status}, ${role}${s.pgpKey ? ", secret PGP-encrypted" : ""}`);
  }
  out.push("", "Outputs:");
  out.push(`  roleArn: ${await scalar(outputs.roleArn)}`);
  out.push(`  userArn: ${await scalar(outputs.userArn)}`);
  out.push(`  userName: ${await scalar(outputs.userName)}`);
  out.push(`  accessKeyId: ${await scalar(outputs.accessKeyId)}`);
  out.push(`  accessKeyCreatedAt: ${await scalar(outputs.accessKeyCreatedAt)} (for a key made now)`);
  out.push(`  accessKeyRotateBy: ${await scalar(outputs.accessKeyRotateBy)} (for a key made now)`);
  out.push(`  lwaClientSecretExpiresOn: ${outputs.lwaClientSecretExpiresOn ?? "<set lwaClientSecretIssuedOn to track it>"}`);
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
      "  Then npm run rotate-lwa rotates the secret (README, Maintenance). The queue's region is the stack's aws:region.",
    );
  }
  out.push("", "The credentials block (pulumi stack output --show-secrets credentials, or npm run credentials):", "");
  out.push(credentials.value);
  return out.join("\n") + "\n";
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const configIndex = args.indexOf("--config");
  const file = configIndex >= 0 ? args[configIndex + 1] : "Pulumi.dev.yaml";
  if (!file || !fs.existsSync(file)) {
    process.stderr.write(`plan: no stack file ${file ?? ""}; usage: npm run plan [-- --config Pulumi.<stack>.yaml]\n`);
    return 2;
  }
  try {
    process.stdout.write(await renderPlan(file));
    return 0;
  } catch (err) {
    if (!(err instanceof PlanError)) throw err;
    process.stderr.write(err.message + "\n");
    return 1;
  }
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exitCode = 3;
    },
  );
}
