/**
 * The stack program: read and validate config, read what the last deployment recorded, build, export.
 * index.ts only hands this to Pulumi.
 */
import * as pulumi from "@pulumi/pulumi";
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";
import { SellingPartnerApiAccess } from "./component";
import { ConfigError, type ConnectorAuth, PROJECT, RawConfig, validateConfig } from "./config";
import { type DeployedIam, lwaSecretStatus, lwaSwitchRefusal, RotationError, SlotRecord } from "./lifecycle";
import {
  type DeployedState,
  deployedStateFrom,
  type OperationalStateOutput,
  operationalOutputs,
  resolveState,
  SECRETS_OUTPUT,
  STATE_BASE_ENV,
  STATE_OUTPUT,
} from "./state";

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
  /** The operational state it exported; undefined before the first deployment that exported one. */
  state?: DeployedState;
}

/**
 * The stack's last outputs, read through a reference to the stack itself. Empty on a first deployment. A failed
 * read turns the rotation guard off (a warning) and leaves the lwa switch to refuse unless recorded evidence allows it.
 */
async function readLastDeployment(): Promise<LastDeployment> {
  const self = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
  try {
    const ref = new pulumi.StackReference("last-deployment", { name: self });
    const [slots, userName, createdAt, state, secrets] = await Promise.all(
      ["accessKeySlots", "userName", "accessKeyCreatedAt", STATE_OUTPUT, SECRETS_OUTPUT].map(async (name) => {
        const details = await ref.getOutputDetails(name);
        return (details.value ?? details.secretValue) as unknown;
      }),
    );
    const deployedState = deployedStateFrom(state, secrets);
    const keySlots = Array.isArray(slots) && slots.length > 0 ? (slots as SlotRecord[]) : undefined;
    return {
      keySlots,
      iam: {
        readable: true,
        holdsIam: keySlots !== undefined || typeof userName === "string",
        ...(typeof userName === "string" ? { userName } : {}),
        ...(typeof createdAt === "string" ? { accessKeyCreatedAt: createdAt } : {}),
      },
      ...(deployedState ? { state: deployedState } : {}),
    };
  } catch (err) {
    pulumi.log.warn(
      `Could not read this stack's last outputs (${(err as Error).message}); the rotation guard is off: ` +
        "bump accessKeyGeneration by exactly one at a time; the working copy's operational state is used as it is.",
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
  /** The operational state this deployment used (src/state.ts): its revision and the non-secret keys the commands write. */
  operationalState: OperationalStateOutput;
  /** The secret operational keys (the LWA secret after a rotation, a set-aside secret), as one Pulumi secret. */
  operationalSecrets: pulumi.Output<Record<string, string>>;
}

/** A refusal of the state: another run deployed since this one read it, or the base cannot be checked. */
class StateError extends Error {}

/** SP_API_IAM_STATE_BASE: the revision a command's `up` started from (its compare-and-set), or undefined. */
function expectedBase(): number | undefined {
  const raw = process.env[STATE_BASE_ENV];
  if (raw === undefined || raw.trim() === "") return undefined;
  if (!/^\d{1,9}$/.test(raw.trim())) {
    throw new StateError(
      `${STATE_BASE_ENV}: ${JSON.stringify(raw.slice(0, 40))} is not a whole number; nothing was changed. ` +
        `Allowed: the state revision a command read (the commands set it themselves). Fix: unset ${STATE_BASE_ENV} and run again.`,
    );
  }
  return Number(raw.trim());
}

export async function runProgram(): Promise<StackOutputs> {
  try {
    return await buildStack();
  } catch (err) {
    // A refusal of the config or of a rotation is a RunError: Pulumi prints its message alone, without a
    // stack trace of the program.
    if (err instanceof ConfigError || err instanceof RotationError || err instanceof StateError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

async function buildStack(): Promise<StackOutputs> {
  const raw = readRawConfig();
  const base = expectedBase();
  // Before validation: the config to validate is the working copy's person settings with the newest operational state.
  const last = await readLastDeployment();
  if (base !== undefined && !last.iam.readable) {
    throw new StateError(
      `${PROJECT}: could not read the last deployment's state to check that no other run changed it (${last.iam.why}); nothing was changed. Fix: run the command again once the backend answers.`,
    );
  }
  const resolution = resolveState({ local: raw, deployed: last.state, expectedBase: base });
  if (resolution.kind === "conflict") throw new StateError(resolution.message);
  for (const warning of resolution.warnings) pulumi.log.warn(warning);
  const { config, warnings } = validateConfig({ ...raw, values: resolution.values, secretKeys: resolution.secretKeys });
  for (const warning of warnings) pulumi.log.warn(warning);
  const operational = operationalOutputs(resolution.values, resolution.secretKeys, resolution.revision);

  let lwaClientSecretExpiresOn: string | undefined;
  if (config.lwaClientSecretIssuedOn) {
    const status = lwaSecretStatus(config.lwaClientSecretIssuedOn, config.lwaExpiryWarningDays, new Date(), config.lwaRotation);
    lwaClientSecretExpiresOn = status.expiresOn;
    if (status.warning) pulumi.log.warn(status.warning);
  }

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
    operationalState: operational.state,
    // pulumi.secret here, not additionalSecretOutputs: the mocks (and so the tests) ignore resource options on the stack.
    operationalSecrets: pulumi.secret(operational.secrets),
  };
}
