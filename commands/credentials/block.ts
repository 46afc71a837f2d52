/**
 * The stack's `credentials` output, as the commands take it: the HJSON block `pulumi up` renders
 * (src/credentials.template.hjson, or src/credentials-lwa.template.hjson for connectorAuth lwa), its values, and the
 * JSON object the connector's docs show for a named credential ("Generic" type in the product's Credentials page). Pure.
 */
import * as Hjson from "hjson";
import { CREDENTIAL_FIELDS, CredentialField, CredentialValues, isPlaceholder, LWA_ONLY_FIELDS } from "../../src/credentials";

export class BlockError extends Error {}

/** A block's values: the seven of an iam stack's block, or only client_id, client_secret and refresh_token (lwa). */
export type BlockValues = Partial<CredentialValues>;

/** Which fields a block holds: an LWA-only block has no role_arn (and none of the other IAM fields). */
export function blockFields(values: BlockValues): readonly CredentialField[] {
  return values.role_arn === undefined ? LWA_ONLY_FIELDS : CREDENTIAL_FIELDS;
}

/**
 * The values of a rendered block: all seven, or exactly the three of an LWA-only block. Messages name fields
 * only: the block holds secrets.
 */
export function blockValues(hjson: string): BlockValues {
  let parsed: unknown;
  try {
    parsed = Hjson.parse(hjson);
  } catch {
    throw new BlockError("the stack's credentials output is not an HJSON block; run `pulumi up` again");
  }
  const object = (parsed as { credentials?: unknown } | null)?.credentials;
  if (typeof object !== "object" || object === null) throw new BlockError("the stack's credentials output has no credentials: { ... } object");
  // LWA-only when it holds none of the IAM fields: a block with some of them and not others is a broken iam block.
  const lwaOnly = !CREDENTIAL_FIELDS.some((f) => !(LWA_ONLY_FIELDS as readonly string[]).includes(f) && f in object);
  const values: BlockValues = {};
  for (const field of lwaOnly ? LWA_ONLY_FIELDS : CREDENTIAL_FIELDS) {
    const value = (object as Record<string, unknown>)[field];
    if (typeof value !== "string") throw new BlockError(`the stack's credentials output lacks ${field}`);
    values[field] = value;
  }
  return values;
}

/**
 * Who the block belongs to: its role, and its LWA client id unless that is still a placeholder. An LWA-only block
 * names no role: its objects are recognised by client id (decide.ts, fieldChanges).
 */
export function blockIdentity(values: BlockValues): { roleArn?: string; lwaClientId?: string } {
  const lwaClientId = values.client_id === undefined || isPlaceholder(values.client_id) ? undefined : values.client_id;
  return { ...(values.role_arn !== undefined ? { roleArn: values.role_arn } : {}), ...(lwaClientId ? { lwaClientId } : {}) };
}

/** The block as deliverBlock and checkTargets take it. */
export interface DeliveryBlock {
  /** The rendered block, as the stack's `credentials` output holds it. */
  hjson: string;
  values: BlockValues;
  /** The fields the block holds, the only ones delivery writes; unset: blockFields(values). */
  fields?: readonly CredentialField[];
  /** Absent for an LWA-only block. */
  roleArn?: string;
  lwaClientId?: string;
  /** The stack's other access key ids (previous, adopted): objects holding one get the current pair. */
  keyIds?: readonly string[];
  /** role_arn values recorded as the stack's earlier role. */
  formerRoleArns?: readonly string[];
}

/** The names of the stack's further authorizations (output `authorizations`), sorted. */
export function authorizationNames(outputs: Record<string, { value: unknown }>): string[] {
  const regions = outputs.authorizations?.value;
  return regions !== null && typeof regions === "object" ? Object.keys(regions).sort() : [];
}

/**
 * The block from a stack's outputs (PulumiStack.readOutputs() or up()): the default authorization's (`credentials`),
 * or with `authorization` that authorization's (`authorizationCredentials`). Throws BlockError, naming the stack.
 */
export function blockFromOutputs(stack: string, outputs: Record<string, { value: unknown }>, authorization?: string): DeliveryBlock {
  let hjson = outputs.credentials?.value;
  if (authorization !== undefined) {
    const blocks = outputs.authorizationCredentials?.value as Record<string, unknown> | undefined;
    hjson = blocks !== null && typeof blocks === "object" && Object.prototype.hasOwnProperty.call(blocks, authorization) ? blocks[authorization] : undefined;
    if (typeof hjson !== "string") {
      const names = authorizationNames(outputs);
      throw new BlockError(
        `Stack ${stack} has no authorization ${JSON.stringify(authorization)} deployed (${names.length ? `its authorizations: ${names.join(", ")}` : "it has none beside the default one"}). ` +
          `Add it: pulumi config set --path 'authorizations.${authorization}.spApiRegion' <na|eu|fe> --stack ${stack} && ` +
          `pulumi config set --secret --path 'authorizations.${authorization}.refreshToken' --stack ${stack}, then npm run up -- ${stack}.`,
      );
    }
  }
  if (typeof hjson !== "string") throw new BlockError(`Stack ${stack} has no credentials output yet: run \`npm run up -- ${stack}\` first.`);
  const values = blockValues(hjson);
  const identity = blockIdentity(values);
  const roleArn = outputs.roleArn?.value;
  if (identity.roleArn !== undefined && typeof roleArn === "string") identity.roleArn = roleArn;
  const ids = outputs.accessKeyIds?.value;
  const keyIds = Array.isArray(ids) ? ids.filter((id): id is string => typeof id === "string") : [];
  return { hjson, values, fields: blockFields(values), ...identity, ...(keyIds.length ? { keyIds } : {}) };
}

/** The block as the connector's docs show a named credential's content: a JSON object of the block's fields. */
export function blockAsJson(values: BlockValues): string {
  const ordered: Record<string, string> = {};
  for (const field of blockFields(values)) ordered[field] = values[field]!;
  return `${JSON.stringify(ordered, null, 2)}\n`;
}
