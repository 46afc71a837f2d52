/**
 * AWS SDK client settings for the operator's own credentials, chosen the way `pulumi up` chooses them for the
 * stack: its `aws:profile` and `aws:region` when set, else the usual AWS_* environment (AWS_PROFILE, keys,
 * SSO, instance roles). The environment is the one handed to the command, not only process.env (which the SDK's
 * own chain reads): keys and AWS_ENDPOINT_URL_<SERVICE> in it are honoured explicitly.
 */
import type { StackConfigView } from "./pulumi";

export const DEFAULT_AWS_TIMEOUT_MS = 10_000;

export interface AwsClientSettings {
  region: string;
  profile?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  endpoint?: string;
  requestHandler: { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: true };
  maxAttempts: number;
}

/**
 * `region` wins when given (an SQS queue lives in the region its URL names; IAM signs in its partition's home
 * region); else the stack's aws:region, the environment's, and us-east-1. Each request is bounded: the SDK's
 * requestTimeout only logs a warning unless throwOnRequestTimeout is set.
 */
export function awsClientConfig(view: StackConfigView, env: NodeJS.ProcessEnv, opts: { service: "IAM" | "SQS"; region?: string }): AwsClientSettings {
  const timeout = Number(env.SP_API_AWS_TIMEOUT_MS) > 0 ? Number(env.SP_API_AWS_TIMEOUT_MS) : DEFAULT_AWS_TIMEOUT_MS;
  const profile = view.provider.profile;
  // With an aws:profile the profile decides, as for the provider; else keys in the environment come first, as in
  // the SDK's own chain.
  const credentials =
    !profile && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
        }
      : undefined;
  const endpoint = env[`AWS_ENDPOINT_URL_${opts.service}`] ?? env.AWS_ENDPOINT_URL;
  return {
    region: opts.region ?? view.provider.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
    ...(profile ? { profile } : {}),
    ...(credentials ? { credentials } : {}),
    ...(endpoint ? { endpoint } : {}),
    requestHandler: { connectionTimeout: timeout, requestTimeout: timeout, throwOnRequestTimeout: true },
    maxAttempts: 3,
  };
}
