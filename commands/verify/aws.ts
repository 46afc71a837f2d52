/**
 * Steps 2 and 3: the access key (STS GetCallerIdentity) and the role (STS AssumeRole), through the AWS SDK.
 * The client is built from the block alone: explicit keys, region and endpoint, so nothing comes from the
 * caller's AWS_* variables, AWS_PROFILE or ~/.aws (a verify that passed on the operator's own credentials
 * would prove nothing about the block).
 */
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { CredentialsBlock, describeKeyId, parseIamArn } from "./block";
import {
  Attempt,
  awsProxyAgents,
  describeTimeout,
  formatDuration,
  RetryHooks,
  retryWhilePropagating,
  Settings,
  throughProxy,
  withDeadline,
} from "../../lib/net";
import { maskKeyId } from "../../lib/output";
import { StepOutcome } from "./report";

export const ROLE_SESSION_NAME = "sp-api-iam-verify";
/** The shortest session STS grants: the check needs seconds. */
const SESSION_SECONDS = 900;
const ROOT_REFUSAL = "Roles may not be assumed by root accounts";

/** What went wrong in an STS call, reduced to what the messages need (no SDK message text). */
export interface StsFailure {
  /** The STS error code (e.g. AccessDenied), or a network error code (ECONNREFUSED, TimeoutError). */
  code: string;
  httpStatus?: number;
  /** Reached STS at all: false for connection errors and timeouts. */
  answered: boolean;
  /** AssumeRole's refusal of a root key, recognised by its message (its code is plain AccessDenied). */
  rootRefused: boolean;
  /** No complete answer within the request timeout (SP_API_VERIFY_TIMEOUT_MS); then answered is false. */
  timedOutMs?: number;
}

export function stsFailureOf(error: unknown): StsFailure {
  const e = (error ?? {}) as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const httpStatus = e.$metadata?.httpStatusCode;
  const answered = httpStatus !== undefined;
  const code = (answered ? e.name : (e.code ?? e.name)) ?? "UnknownError";
  return { code: /^[\w.-]{1,64}$/.test(code) ? code : "UnknownError", httpStatus, answered, rootRefused: String(e.message ?? "").includes(ROOT_REFUSAL) };
}

export function createStsClient(block: CredentialsBlock, settings: Settings): STSClient {
  return new STSClient({
    region: block.values.region,
    credentials: { accessKeyId: block.values.aws_access_key_id, secretAccessKey: block.values.aws_secret_access_key },
    // AWS_ENDPOINT_URL_STS is the SDK's own variable (it honours it natively); passing it explicitly, with
    // configured endpoints ignored, keeps an endpoint_url in ~/.aws/config from redirecting the check.
    endpoint: settings.stsEndpoint,
    ignoreConfiguredEndpointUrls: true,
    useGlobalEndpoint: false,
    useFipsEndpoint: false,
    useDualstackEndpoint: false,
    defaultsMode: "standard",
    // Our own retry waits for IAM propagation; the SDK's may retry a dropped connection once.
    maxAttempts: 2,
    retryMode: "standard",
    userAgentAppId: ROLE_SESSION_NAME,
    // Without throwOnRequestTimeout the SDK only logs that requestTimeout passed, and keeps waiting. The
    // deadline in attemptSts bounds the whole call (both attempts, and reading the body) whatever the SDK does.
    requestHandler: {
      connectionTimeout: settings.requestTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      throwOnRequestTimeout: true,
      ...awsProxyAgents(),
    },
  });
}

/** One STS call (the SDK's own retry included) within SP_API_VERIFY_TIMEOUT_MS. */
async function attemptSts<T>(settings: Settings, call: (abortSignal: AbortSignal) => Promise<T>): Promise<Attempt<T, StsFailure>> {
  const outcome = await withDeadline(settings.requestTimeoutMs, call);
  switch (outcome.kind) {
    case "done":
      return { ok: true, value: outcome.value };
    case "timed-out":
      return { ok: false, error: { code: "TimeoutError", answered: false, rootRefused: false, timedOutMs: settings.requestTimeoutMs } };
    case "failed":
      return { ok: false, error: stsFailureOf(outcome.error) };
  }
}

const afterWaiting = (waitedMs: number) => (waitedMs > 0 ? `, still after waiting ${formatDuration(waitedMs)} for IAM propagation` : "");

const ROOT_KEY_FIX =
  "use the access key of the IAM user this kit creates (npm run credentials writes the block with it), " +
  "then delete the root user's access key (AWS console > your account > Security credentials > Access keys).";

const stsEndpointOf = (settings: Settings, region: string) => settings.stsEndpoint ?? `https://sts.${region}.amazonaws.com`;

function unreachable(f: StsFailure, settings: Settings, region: string, action: string): StepOutcome {
  if (f.timedOutMs !== undefined) {
    return {
      status: "failed",
      cause:
        `STS at ${stsEndpointOf(settings, region)}${throughProxy(stsEndpointOf(settings, region))} timed out: no complete answer to ${action} within ` +
        `${describeTimeout(f.timedOutMs)} (SP_API_VERIFY_TIMEOUT_MS), so verify gave up.`,
      fix: "check the network connection and any proxy; on a slow network raise SP_API_VERIFY_TIMEOUT_MS; if AWS_ENDPOINT_URL_STS is set, check it.",
    };
  }
  return {
    status: "failed",
    cause: `could not reach STS at ${stsEndpointOf(settings, region)}${throughProxy(stsEndpointOf(settings, region))} (${f.code}).`,
    fix: "check the network connection and any proxy; if AWS_ENDPOINT_URL_STS is set, check it or unset it.",
  };
}

/** A 200 that held no result: the peer speaks HTTP but is not STS (a proxy's or login page). */
function notSts(action: string, settings: Settings, region: string): StepOutcome {
  return {
    status: "failed",
    cause: `the server at ${stsEndpointOf(settings, region)} answered ${action} without an STS result: not an answer from STS (a proxy or login page?).`,
    fix: "check the network's proxy or captive portal; if AWS_ENDPOINT_URL_STS is set, check it or unset it.",
  };
}

/** Step 2's verdict on a failed GetCallerIdentity. Pure. */
export function callerIdentityFailure(f: StsFailure, keyId: string, waitedMs: number, settings: Settings, region: string): StepOutcome {
  if (!f.answered) return unreachable(f, settings, region, "GetCallerIdentity");
  switch (f.code) {
    case "InvalidClientTokenId":
      return {
        status: "failed",
        cause:
          `AWS does not recognise the access key id ${describeKeyId(keyId)} (InvalidClientTokenId${afterWaiting(waitedMs)}): ` +
          "the key was deleted or deactivated, or aws_access_key_id is mistyped.",
        fix:
          "copy the block again from the stack (npm run credentials); if the key was rotated, use the new block. " +
          "The key must be Active: IAM > Users > the connector user > Security credentials.",
      };
    case "SignatureDoesNotMatch":
      return {
        status: "failed",
        cause: "AWS knows the access key id, but aws_secret_access_key is not its secret (SignatureDoesNotMatch).",
        fix:
          "copy aws_secret_access_key again (40 characters; a lost '/' or '+' is the usual cause). If the stack " +
          "encrypts it, decrypt it first: npm run pulumi -- stack output --show-secrets encryptedSecretAccessKey | base64 -d | gpg --decrypt",
      };
    case "RequestExpired":
      return {
        status: "failed",
        cause: "STS refused the request as expired (RequestExpired): this computer's clock is off by more than 5 minutes.",
        fix: "set the clock right (enable NTP: timedatectl set-ntp true) and run verify again.",
      };
    default:
      return genericStsFailure("GetCallerIdentity", f);
  }
}

function genericStsFailure(action: string, f: StsFailure): StepOutcome {
  return {
    status: "failed",
    cause: `STS ${action} answered ${f.code}${f.httpStatus ? ` (HTTP ${f.httpStatus})` : ""}.`,
    fix: "look the error code up in the AWS STS API reference; run verify again if it was a temporary fault.",
  };
}

export interface CallerIdentity {
  arn: string;
  account: string;
}

/** Step 2's verdict on the identity STS reports for the key. Pure. */
export function judgeCallerIdentity(identity: CallerIdentity, block: CredentialsBlock, expectUser?: string): StepOutcome {
  const { arn, account } = identity;
  if (arn.endsWith(":root")) {
    return {
      status: "failed",
      cause: `the access key is the AWS account root user's key (${arn}). STS refuses it: "${ROOT_REFUSAL}".`,
      fix: ROOT_KEY_FIX,
    };
  }
  const user = parseIamArn(arn);
  if (!user || user.kind !== "user") {
    return {
      status: "failed",
      cause: `the key belongs to ${arn}, which is not an IAM user.`,
      fix: "use the long-term access key of the connector's IAM user (npm run credentials writes the block with it).",
    };
  }
  if (block.roleArn && account !== block.roleArn.account) {
    return {
      status: "failed",
      cause: `the key belongs to ${arn}, in account ${account}, but role_arn is in account ${block.roleArn.account}.`,
      fix: "take the key and the role from the same stack: regenerate the block with npm run credentials.",
    };
  }
  if (expectUser !== undefined && !(expectUser.startsWith("arn:") ? arn === expectUser : user.name === expectUser)) {
    return {
      status: "failed",
      cause: `the key belongs to ${arn}, not to the expected user ${expectUser}.`,
      fix: `use the access key of ${expectUser}, or check the --expect-user value.`,
    };
  }
  return { status: "passed", summary: `key ${describeKeyId(block.values.aws_access_key_id)} is valid; it belongs to ${arn}` };
}

type Waiting = Pick<RetryHooks<StsFailure>, "onWait" | "sleep">;

export async function checkCallerIdentity(
  client: STSClient,
  block: CredentialsBlock,
  settings: Settings,
  waiting: Waiting,
  expectUser?: string,
): Promise<StepOutcome> {
  const result = await retryWhilePropagating(
    () => attemptSts(settings, (abortSignal) => client.send(new GetCallerIdentityCommand({}), { abortSignal })),
    settings.retry,
    // A brand-new key is refused as unknown until it has propagated.
    { ...waiting, isTransient: (f) => f.code === "InvalidClientTokenId" },
  );
  if (!result.ok) return callerIdentityFailure(result.error, block.values.aws_access_key_id, result.waitedMs, settings, block.values.region);
  const { Arn, Account } = result.value;
  if (!Arn || !Account) return notSts("GetCallerIdentity", settings, block.values.region);
  return judgeCallerIdentity({ arn: Arn, account: Account }, block, expectUser);
}

export interface SessionCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

/** Step 3's verdict on a failed AssumeRole. Pure. */
export function assumeRoleFailure(f: StsFailure, block: CredentialsBlock, waitedMs: number, settings: Settings): StepOutcome {
  if (!f.answered) return unreachable(f, settings, block.values.region, "AssumeRole");
  if (f.rootRefused) {
    return { status: "failed", cause: `STS refused the key: "${ROOT_REFUSAL}" (it is the account root user's key).`, fix: ROOT_KEY_FIX };
  }
  switch (f.code) {
    case "AccessDenied":
      return {
        status: "failed",
        cause: `not allowed to assume ${block.values.role_arn} (AccessDenied${afterWaiting(waitedMs)}).`,
        details: [
          "Likely causes: the role does not exist (deleted, or role_arn is mistyped); its trust policy does not name",
          "this user; or the user's policy lacks sts:AssumeRole on this role.",
        ],
        fix:
          "check role_arn against the stack's role ARN (npm run pulumi -- stack output); run npm run pulumi -- up to restore the trust and " +
          "user policies. If pulumi up finished moments ago, run verify again in a minute.",
      };
    case "InvalidClientTokenId":
      return callerIdentityFailure(f, block.values.aws_access_key_id, waitedMs, settings, block.values.region);
    case "RegionDisabledException":
      return {
        status: "failed",
        cause: `STS is not activated in ${block.values.region} for this account (RegionDisabledException).`,
        fix: `IAM > Account settings > Security Token Service (STS) > Endpoints: activate ${block.values.region}.`,
      };
    case "ValidationError":
      return {
        status: "failed",
        cause: "STS rejected the AssumeRole request as malformed (ValidationError): role_arn is probably not a valid role ARN.",
        fix: "put the role ARN from the stack output in role_arn (arn:aws:iam::<account>:role/<name>).",
      };
    default:
      return genericStsFailure("AssumeRole", f);
  }
}

/** The user-for-role mix-up, caught before calling STS: the connector would get AccessDenied and no hint. */
export function userArnInRoleField(block: CredentialsBlock): StepOutcome | undefined {
  if (block.roleArn?.kind !== "user") return undefined;
  return {
    status: "failed",
    cause: `role_arn names an IAM user (${block.values.role_arn}): the user ARN was given where the role ARN belongs.`,
    fix:
      "put the role's ARN (arn:aws:iam::<account>:role/<name>, from the stack output) in role_arn; the connector " +
      "assumes that role with the user's key. Seller Central must have the same role ARN registered with the app.",
  };
}

export async function assumeRole(
  client: STSClient,
  block: CredentialsBlock,
  settings: Settings,
  waiting: Waiting,
): Promise<{ outcome: StepOutcome; session?: SessionCredentials }> {
  const mixUp = userArnInRoleField(block);
  if (mixUp) return { outcome: mixUp };
  const result = await retryWhilePropagating(
    () =>
      attemptSts(settings, (abortSignal) =>
        client.send(new AssumeRoleCommand({ RoleArn: block.values.role_arn, RoleSessionName: ROLE_SESSION_NAME, DurationSeconds: SESSION_SECONDS }), {
          abortSignal,
        }),
      ),
    settings.retry,
    // A new role, trust policy or user policy is refused with AccessDenied until it has propagated.
    { ...waiting, isTransient: (f) => !f.rootRefused && (f.code === "AccessDenied" || f.code === "InvalidClientTokenId") },
  );
  if (!result.ok) return { outcome: assumeRoleFailure(result.error, block, result.waitedMs, settings) };
  const c = result.value.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) {
    return { outcome: notSts("AssumeRole", settings, block.values.region) };
  }
  const until = c.Expiration ? `, valid until ${c.Expiration.toISOString().replace(/\.\d{3}Z$/, "Z")}` : "";
  return {
    outcome: {
      status: "passed",
      summary: `assumed as ${result.value.AssumedRoleUser?.Arn ?? block.values.role_arn}; session key ${maskKeyId(c.AccessKeyId)}${until}`,
    },
    session: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken },
  };
}
