/**
 * The stack's `credentials` output, as the commands take it: the HJSON block `pulumi up` renders
 * (src/credentials.template.hjson), its seven values, and the JSON object the connector's docs show for a
 * named credential ("Generic" type in the product's Credentials page). Pure.
 */
import * as Hjson from "hjson";
import { CREDENTIAL_FIELDS, CredentialValues, isPlaceholder } from "../../src/credentials";

export class BlockError extends Error {}

/** The seven values of a rendered block. Messages name fields only: the block holds secrets. */
export function blockValues(hjson: string): CredentialValues {
  let parsed: unknown;
  try {
    parsed = Hjson.parse(hjson);
  } catch {
    throw new BlockError("the stack's credentials output is not an HJSON block; run `pulumi up` again");
  }
  const object = (parsed as { credentials?: unknown } | null)?.credentials;
  if (typeof object !== "object" || object === null) throw new BlockError("the stack's credentials output has no credentials: { ... } object");
  const values: Partial<CredentialValues> = {};
  for (const field of CREDENTIAL_FIELDS) {
    const value = (object as Record<string, unknown>)[field];
    if (typeof value !== "string") throw new BlockError(`the stack's credentials output lacks ${field}`);
    values[field] = value;
  }
  return values as CredentialValues;
}

/** Who the block belongs to: its role, and its LWA client id unless that is still a placeholder. */
export function blockIdentity(values: CredentialValues): { roleArn: string; lwaClientId?: string } {
  return { roleArn: values.role_arn, lwaClientId: isPlaceholder(values.client_id) ? undefined : values.client_id };
}

/** The block as deliverBlock and checkTargets take it. */
export interface DeliveryBlock {
  /** The rendered block, as the stack's `credentials` output holds it. */
  hjson: string;
  values: CredentialValues;
  roleArn: string;
  lwaClientId?: string;
}

/** The block from a stack's outputs (PulumiStack.readOutputs() or up()). Throws BlockError, naming the stack. */
export function blockFromOutputs(stack: string, outputs: Record<string, { value: unknown }>): DeliveryBlock {
  const hjson = outputs.credentials?.value;
  if (typeof hjson !== "string") throw new BlockError(`Stack ${stack} has no credentials output yet: run \`npm run up -- ${stack}\` first.`);
  const values = blockValues(hjson);
  const roleArn = outputs.roleArn?.value;
  return { hjson, values, ...blockIdentity(values), roleArn: typeof roleArn === "string" ? roleArn : values.role_arn };
}

/** The block as the connector's docs show a named credential's content: a JSON object of the seven fields. */
export function blockAsJson(values: CredentialValues): string {
  const ordered: Record<string, string> = {};
  for (const field of CREDENTIAL_FIELDS) ordered[field] = values[field];
  return `${JSON.stringify(ordered, null, 2)}\n`;
}
