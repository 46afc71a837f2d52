/**
 * The stack program: read and validate config, read what the last deployment recorded, build, export.
 * index.ts only hands this to Pulumi.
 */
import * as pulumi from "@pulumi/pulumi";
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";
import { SellingPartnerApiAccess } from "./component";
import { ConfigError, type ConnectorAuth, RawConfig, validateConfig } from "./config";
import { type DeployedIam, lwaSecretStatus, lwaSwitchRefusal, RotationError, SlotRecord } from "./lifecycle";

/** The SDK tells secret config keys apart with this function; it is marked internal, so it is reached this way. */
const isConfigSecret = (runtimeConfig as unknown as { isConfigSecret(key: string): boolean }).isConfigSecret;

/**
 * This project's keys, as the Pulumi engine hands them to the program (secrets already decrypted), and
 * the provider's region, which decides the partition.
 */
export function readRawConfig(): RawConfig {
  const namespace = `${pulumi.getProject()}:`;
  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  const all = pulumi.runtime.allConfig();
  for (const [fullKey, value] of Object.entries(all)) {
    if (!fullKey.startsWith(namespace)) continue;
    const key = fullKey.slice(namespace.length);
    values[key] = value;
    if (isConfigSecret(fullKey)) secretKeys.add(key);
  }
  return { values, secretKeys, ...(all["aws:region"] !== undefined ? { providerRegion: all["aws:region"] } : {}) };
}

/** What this stack's last deployment recorded, as the program needs it: the key slots and what it held of IAM. */
interface LastDeployment {
  /** Undefined on a first deployment, on a connectorAuth lwa stack, or when the outputs cannot be read. */
  keySlots?: SlotRecord[];
  iam: DeployedIam;
}

/**
 * The stack's last outputs, read through a reference to the stack itself. Empty on a first deployment. A failed
 * read turns the rotation guard off (a warning) and leaves the lwa switch to refuse unless recorded evidence allows it.
 */
async function readLastDeployment(): Promise<LastDeployment> {
  const self = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
  try {
    const ref = new pulumi.StackReference("last-deployment", { name: self });
    const [slots, userName, createdAt] = await Promise.all(
      ["accessKeySlots", "userName", "accessKeyCreatedAt"].map(async (name) => (await ref.getOutputDetails(name)).value as unknown),
    );
    const keySlots = Array.isArray(slots) && slots.length > 0 ? (slots as SlotRecord[]) : undefined;
    return {
      keySlots,
      iam: {
        readable: true,
        holdsIam: keySlots !== undefined || typeof userName === "string",
        ...(typeof userName === "string" ? { userName } : {}),
        ...(typeof createdAt === "string" ? { accessKeyCreatedAt: createdAt } : {}),
      },
    };
  } catch (err) {
    pulumi.log.warn(
      `Could not read this stack's last outputs (${(err as Error).message}); the rotation guard is off: ` +
        "bump accessKeyGeneration by exactly one at a time.",
    );
    return { iam: { readable: false, why: (err as Error).message } };
  }
}

/** With connectorAuth lwa, the IAM outputs (roleArn to accessKeySlots) are absent: the stack holds none of it. */
export interface StackOutputs {
  connectorAuth: ConnectorAuth;
  roleArn?: pulumi.Output<string>;
  userArn?: pulumi.Output<string>;
  userName?: pulumi.Output<string>;
  accessKeyId?: pulumi.Output<string>;
  accessKeyCreatedAt?: pulumi.Output<string>;
  accessKeyRotateBy?: pulumi.Output<string>;
  accessKeySlots?: SlotRecord[];
  /** Every access key id of the stack, the newest first (delivery's field rule: commands/credentials/decide.ts). */
  accessKeyIds?: pulumi.Output<string[]>;
  credentials: pulumi.Output<string>;
  /** Only with `authorizations`: a secret map from each authorization's name to its credentials block. */
  authorizationCredentials?: pulumi.Output<Record<string, string>>;
  /** Only with `authorizations`: each authorization's SP-API region, by name. */
  authorizations?: Record<string, string>;
  encryptedSecretAccessKey?: pulumi.Output<string>;
  lwaClientSecretExpiresOn?: string;
  lwaNotificationQueueArn?: pulumi.Output<string>;
  lwaNotificationQueueUrl?: pulumi.Output<string>;
  /** An adopted stack's deployed properties, "as-found" or "kit": npm run adopt reads it as evidence of a step. */
  adoptionDeployed?: string;
}

export async function runProgram(): Promise<StackOutputs> {
  try {
    return await buildStack();
  } catch (err) {
    // A refusal of the config or of a rotation is a RunError: Pulumi prints its message alone, without a
    // stack trace of the program.
    if (err instanceof ConfigError || err instanceof RotationError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

async function buildStack(): Promise<StackOutputs> {
  const { config, warnings } = validateConfig(readRawConfig());
  for (const warning of warnings) pulumi.log.warn(warning);

  let lwaClientSecretExpiresOn: string | undefined;
  if (config.lwaClientSecretIssuedOn) {
    const status = lwaSecretStatus(config.lwaClientSecretIssuedOn, config.lwaExpiryWarningDays, new Date(), config.lwaRotation);
    lwaClientSecretExpiresOn = status.expiresOn;
    if (status.warning) pulumi.log.warn(status.warning);
  }

  const last = await readLastDeployment();
  if (config.connectorAuth === "lwa") {
    // Before anything is declared: with lwa the program declares no user, so an IAM user in the last deployment
    // would be deleted at this pulumi up.
    const refusal = lwaSwitchRefusal({ deployed: last.iam, unusedAt: config.iamKeysUnusedAt, now: new Date() });
    if (refusal) throw new ConfigError([refusal]);
  }
  const deployedKeySlots = last.keySlots;
  const access = new SellingPartnerApiAccess("sp-api", {
    connectorAuth: config.connectorAuth,
    spApiRegion: config.spApiRegion,
    spApiRegions: config.spApiRegions,
    roleName: config.roleName,
    userName: config.userName,
    path: config.path,
    permissionsBoundary: config.permissionsBoundary,
    tags: config.tags,
    lwaClientId: config.lwaClientId,
    lwaClientSecret: config.lwaClientSecret === undefined ? undefined : pulumi.secret(config.lwaClientSecret),
    lwaRefreshToken: config.lwaRefreshToken === undefined ? undefined : pulumi.secret(config.lwaRefreshToken),
    accessKeyGeneration: config.accessKeyGeneration,
    previousAccessKey: config.previousAccessKey,
    maxAccessKeyAgeDays: config.maxAccessKeyAgeDays,
    pgpKey: config.pgpKey,
    deployedKeySlots,
    lwaRotation: config.lwaRotation,
    adoption: config.adoption,
    authorizations: Object.entries(config.authorizations).map(([name, a]) => ({
      name,
      spApiRegion: a.spApiRegion,
      ...(a.refreshToken !== undefined ? { refreshToken: pulumi.secret(a.refreshToken) } : {}),
    })),
  });

  const iamOutputs =
    access.connectorAuth === "iam"
      ? {
          roleArn: access.roleArn,
          userArn: access.userArn,
          userName: access.userName,
          accessKeyId: access.accessKeyId,
          accessKeyCreatedAt: access.accessKeyCreatedAt,
          accessKeyRotateBy: access.accessKeyRotateBy,
          accessKeySlots: access.keySlots,
          ...(access.accessKeyIds ? { accessKeyIds: access.accessKeyIds } : {}),
        }
      : {};
  return {
    connectorAuth: access.connectorAuth,
    ...iamOutputs,
    credentials: access.credentials,
    ...(access.authorizationCredentials ? { authorizationCredentials: access.authorizationCredentials } : {}),
    ...(access.authorizationRegions ? { authorizations: access.authorizationRegions } : {}),
    ...(access.encryptedSecretAccessKey ? { encryptedSecretAccessKey: access.encryptedSecretAccessKey } : {}),
    ...(lwaClientSecretExpiresOn ? { lwaClientSecretExpiresOn } : {}),
    ...(access.lwaNotificationQueueArn ? { lwaNotificationQueueArn: access.lwaNotificationQueueArn } : {}),
    ...(access.lwaNotificationQueueUrl ? { lwaNotificationQueueUrl: access.lwaNotificationQueueUrl } : {}),
    ...(access.adoptionDeployed ? { adoptionDeployed: access.adoptionDeployed } : {}),
  };
}
