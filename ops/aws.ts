/**
 * AWS SDK client settings for the operator's own credentials, chosen the way `pulumi up` chooses them for the
 * stack: its `aws:profile` and `aws:region` when set, else the usual AWS_* environment (AWS_PROFILE, keys,
 * SSO, instance roles). Endpoints follow the SDK's own AWS_ENDPOINT_URL_<SERVICE> variables.
 */
import type { StackConfigView } from "./pulumi";

export const DEFAULT_AWS_TIMEOUT_MS = 10_000;

export interface AwsClientSettings {
  region: string;
  profile?: string;
  requestHandler: { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: true };
  maxAttempts: number;
}

/**
 * `region` wins when given (an SQS queue lives in the region its URL names); else the stack's aws:region, the
 * environment's, and us-east-1 (IAM is global). Each request is bounded: the SDK's requestTimeout only logs
 * a warning unless throwOnRequestTimeout is set.
 */
export function awsClientConfig(view: StackConfigView, env: NodeJS.ProcessEnv = process.env, region?: string): AwsClientSettings {
  const timeout = Number(env.SP_API_AWS_TIMEOUT_MS) > 0 ? Number(env.SP_API_AWS_TIMEOUT_MS) : DEFAULT_AWS_TIMEOUT_MS;
  return {
    region: region ?? view.provider.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
    ...(view.provider.profile ? { profile: view.provider.profile } : {}),
    requestHandler: { connectionTimeout: timeout, requestTimeout: timeout, throwOnRequestTimeout: true },
    maxAttempts: 3,
  };
}
