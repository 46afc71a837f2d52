/**
 * Step 4: exchanging the refresh token for an access token at Login with Amazon (LWA), as the connector does
 * before every SP-API call. Errors are mapped from LWA's OAuth error code; the response body is never
 * printed, since LWA may echo a submitted value.
 */
import { CredentialsBlock } from "./block";
import { StepOutcome } from "./report";
import { describeContentType, describeTimeout, Settings, throughProxy } from "../../lib/net";
import { LWA_ACCESS_TOKEN_PREFIX, LwaAnswer, requestLwaToken } from "../../lib/lwa";

export async function requestAccessToken(block: CredentialsBlock, settings: Settings): Promise<LwaAnswer> {
  const { refresh_token, client_id, client_secret } = block.values;
  return requestLwaToken(settings.lwaEndpoint, { grant_type: "refresh_token", refresh_token, client_id, client_secret }, settings.requestTimeoutMs);
}

const SECRET_ROTATION =
  "Seller Central > Apps and Services > Develop Apps > your app > LWA credentials > View > Rotate secret " +
  "(client secrets expire 180 days after issue; the old one stays valid 7 days). Then store the new one: " +
  "npm run rotate-lwa -- --stored-by-hand (the secret on standard input; it stores it in every stack of the app and runs pulumi up), " +
  "and deliver the new credentials block.";

const REAUTHORIZE =
  "re-authorize the app: Seller Central > Apps and Services > Develop Apps > your app > Authorize app; store the new " +
  "refresh token with npm run pulumi -- config set --secret lwaRefreshToken, npm run pulumi -- up, and paste the new credentials block.";

/** Step 4's verdict. Pure. */
export function judgeLwaAnswer(answer: LwaAnswer, settings: Settings): StepOutcome {
  switch (answer.kind) {
    case "token":
      if (!answer.accessToken.startsWith(LWA_ACCESS_TOKEN_PREFIX)) {
        return {
          status: "failed",
          cause: 'LWA answered with something that is not an LWA access token (they start "Atza|").',
          fix: `check SP_API_LWA_ENDPOINT (now ${settings.lwaEndpoint}); unset it to use Amazon's.`,
        };
      }
      return { status: "passed", summary: `access token issued${answer.expiresInS ? `, valid ${answer.expiresInS} s` : ""}` };
    case "unreachable":
      return {
        status: "failed",
        cause: `could not reach LWA at ${settings.lwaEndpoint}${throughProxy(settings.lwaEndpoint)} (${answer.code}).`,
        fix: "check the network connection and any proxy; if SP_API_LWA_ENDPOINT is set, check it or unset it.",
      };
    case "timed-out":
      return {
        status: "failed",
        cause: `LWA at ${settings.lwaEndpoint}${throughProxy(settings.lwaEndpoint)} timed out: no complete answer within ${describeTimeout(answer.timeoutMs)} (SP_API_VERIFY_TIMEOUT_MS), so verify gave up.`,
        fix: "check the network connection and any proxy; on a slow network raise SP_API_VERIFY_TIMEOUT_MS; if SP_API_LWA_ENDPOINT is set, check it.",
      };
    case "not-json":
      return {
        status: "failed",
        cause: `the server at ${settings.lwaEndpoint} answered HTTP ${answer.httpStatus} with ${describeContentType(answer.contentType)} that is not JSON: not an answer from LWA (a proxy or login page?).`,
        fix: "check the network's proxy or captive portal; if SP_API_LWA_ENDPOINT is set, check it or unset it.",
      };
    case "redirect":
      return {
        status: "failed",
        cause: `the server at ${settings.lwaEndpoint} answered with a redirect (HTTP ${answer.httpStatus}): LWA's token endpoint does not redirect, and verify does not follow one with the secrets.`,
        fix: "check the network's proxy or captive portal; if SP_API_LWA_ENDPOINT is set, check it or unset it.",
      };
    case "too-large":
      return {
        status: "failed",
        cause: `the server at ${settings.lwaEndpoint} answered HTTP ${answer.httpStatus} with more than ${answer.limitBytes} bytes: not an answer from LWA.`,
        fix: "check the network's proxy; if SP_API_LWA_ENDPOINT is set, check it or unset it.",
      };
    case "error":
      break;
  }
  const status = `HTTP ${answer.httpStatus}${answer.error ? ` ${answer.error}` : ""}`;
  switch (answer.error) {
    case "invalid_client":
      return {
        status: "failed",
        cause: answer.expired
          ? `LWA says the client secret has expired (${status}).`
          : `LWA rejected client_id and client_secret (${status}): the secret is wrong or has expired, or the client id is not the app's.`,
        fix: answer.expired
          ? `rotate the secret: ${SECRET_ROTATION}`
          : `check client_id and client_secret against the app; if the secret expired, rotate it: ${SECRET_ROTATION}`,
      };
    case "invalid_grant":
      return {
        status: "failed",
        cause: `LWA rejected the refresh token (${status}): it was revoked (the seller de-authorized the app) or was issued for another app (client id).`,
        fix: REAUTHORIZE,
      };
    case "unauthorized_client":
      return {
        status: "failed",
        cause: `LWA says this app may not use a refresh token (${status}).`,
        fix: "check client_id is the SP-API app's client id (Seller Central > Develop Apps > your app > LWA credentials).",
      };
    default:
      return {
        status: "failed",
        cause: `LWA refused the token request (${status}).`,
        fix:
          answer.httpStatus >= 500
            ? "LWA had a fault on its side: run verify again in a few minutes."
            : "check client_id, client_secret and refresh_token belong to the same app; re-authorize if in doubt.",
      };
  }
}

export async function exchangeRefreshToken(block: CredentialsBlock, settings: Settings): Promise<{ outcome: StepOutcome; accessToken?: string }> {
  const answer = await requestAccessToken(block, settings);
  const outcome = judgeLwaAnswer(answer, settings);
  return { outcome, accessToken: outcome.status === "passed" && answer.kind === "token" ? answer.accessToken : undefined };
}
