/**
 * Step 5: one read-only SP-API call, GET /sellers/v1/marketplaceParticipations, the way connectors built
 * before 2023-10-02 make it: LWA access token in x-amz-access-token and a SigV4 signature with the
 * assumed role's session credentials. SP-API has disregarded the signature since that date (authorization rests
 * on the token), but we still sign, as those connectors do, so that the request is theirs.
 */
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { endpointOf } from "../../policies/regions";
import { CredentialsBlock } from "./block";
import { describeContentType, describeTimeout, fetchWithDeadline, parseJson, Settings, throughProxy } from "../../lib/net";
import { StepOutcome } from "./report";
import { SessionCredentials } from "./aws";

export const MARKETPLACE_PARTICIPATIONS_PATH = "/sellers/v1/marketplaceParticipations";
const SERVICE = "execute-api";

export function spApiEndpoint(block: CredentialsBlock, settings: Settings): string {
  return settings.spApiEndpoint ?? endpointOf(block.spApiRegion);
}

/** The signed request's headers. `host` is signed but left for fetch to send (it derives the same value). */
export async function signedHeaders(
  url: URL,
  accessToken: string,
  session: SessionCredentials,
  region: string,
  now: Date = new Date(),
): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    service: SERVICE,
    region,
    credentials: session,
    // The signer takes a hash constructor: Hash from @smithy/hash-node bound to the algorithm.
    sha256: Hash.bind(null, "sha256"),
  });
  const signed = await signer.sign(
    {
      method: "GET",
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      query: {},
      headers: { host: url.host, "x-amz-access-token": accessToken, accept: "application/json" },
    },
    { signingDate: now },
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) if (name.toLowerCase() !== "host") headers[name] = value;
  return headers;
}

export interface Marketplace {
  id: string;
  name?: string;
  countryCode?: string;
}

/** The marketplaces from a marketplaceParticipations answer: { payload: [{ marketplace: {...} }] }. Pure. */
export function marketplacesOf(json: unknown): Marketplace[] | undefined {
  const payload = (json as { payload?: unknown } | null)?.payload;
  if (!Array.isArray(payload)) return undefined;
  const text = (v: unknown) => (typeof v === "string" ? v : undefined);
  return payload.flatMap((entry) => {
    const m = (entry as { marketplace?: Record<string, unknown> } | null)?.marketplace;
    const id = text(m?.id);
    return id ? [{ id, name: text(m?.name), countryCode: text(m?.countryCode) }] : [];
  });
}

/** SP-API's error code ("Unauthorized", "InvalidInput"), if it is a plain word. */
function errorCodeOf(json: unknown): string | undefined {
  const code = (json as { errors?: { code?: unknown }[] } | null)?.errors?.[0]?.code;
  return typeof code === "string" && /^[A-Za-z_]{1,64}$/.test(code) ? code : undefined;
}

export type SpApiAnswer =
  | { kind: "answered"; httpStatus: number; json: unknown; requestId?: string }
  | { kind: "not-json"; httpStatus: number; contentType: string }
  | { kind: "redirect"; httpStatus: number }
  | { kind: "too-large"; httpStatus: number; limitBytes: number }
  | { kind: "timed-out"; timeoutMs: number }
  | { kind: "unreachable"; code: string };

/** Step 5's verdict. Pure. `via`: " through the proxy ..." when the request went through one (lib/net throughProxy). */
export function judgeSpApiAnswer(answer: SpApiAnswer, block: CredentialsBlock, endpoint: string, via = ""): StepOutcome {
  switch (answer.kind) {
    case "unreachable":
      return {
        status: "failed",
        cause: `could not reach SP-API at ${endpoint}${via} (${answer.code}).`,
        fix: "check the network connection and any proxy; if SP_API_ENDPOINT is set, check it or unset it.",
      };
    case "timed-out":
      return {
        status: "failed",
        cause: `SP-API at ${endpoint}${via} timed out: no complete answer within ${describeTimeout(answer.timeoutMs)} (SP_API_VERIFY_TIMEOUT_MS), so verify gave up.`,
        fix: "check the network connection and any proxy; on a slow network raise SP_API_VERIFY_TIMEOUT_MS; if SP_API_ENDPOINT is set, check it.",
      };
    case "not-json":
      return {
        status: "failed",
        cause: `the server at ${endpoint} answered HTTP ${answer.httpStatus} with ${describeContentType(answer.contentType)} that is not JSON: not an answer from SP-API (a proxy or login page?).`,
        fix: "check the network's proxy or captive portal; if SP_API_ENDPOINT is set, check it or unset it.",
      };
    case "redirect":
      return {
        status: "failed",
        cause: `the server at ${endpoint} answered with a redirect (HTTP ${answer.httpStatus}): SP-API does not redirect, and verify does not follow one with the access token.`,
        fix: "check the network's proxy or captive portal; if SP_API_ENDPOINT is set, check it or unset it.",
      };
    case "too-large":
      return {
        status: "failed",
        cause: `the server at ${endpoint} answered HTTP ${answer.httpStatus} with more than ${answer.limitBytes} bytes: not an answer from SP-API.`,
        fix: "check the network's proxy; if SP_API_ENDPOINT is set, check it or unset it.",
      };
    case "answered":
      break;
  }
  const { httpStatus, json } = answer;
  const code = errorCodeOf(json);
  const status = `HTTP ${httpStatus}${code ? ` ${code}` : ""}`;
  const requestId = answer.requestId && /^[\w-]{1,100}$/.test(answer.requestId) ? [`SP-API request id: ${answer.requestId}`] : [];
  if (httpStatus === 200) {
    const marketplaces = marketplacesOf(json);
    if (!marketplaces) return { status: "failed", cause: "SP-API answered 200 without a payload list.", fix: `check SP_API_ENDPOINT (now ${endpoint}).` };
    return {
      status: "passed",
      summary: `the seller participates in ${marketplaces.length} marketplace${marketplaces.length === 1 ? "" : "s"}`,
      details: marketplaces.map((m) => [m.id, m.name, m.countryCode && `(${m.countryCode})`].filter(Boolean).join(" ")),
    };
  }
  if (httpStatus === 403) {
    return {
      status: "failed",
      cause: `SP-API denied the call (${status}).`,
      details: [
        `Likely causes: the app is not authorized for this region (${block.spApiRegion}, ${endpoint}); the IAM ARN registered`,
        "with the app in Seller Central is not role_arn (e.g. the user ARN was registered); or the role lacks",
        "execute-api:Invoke.",
        ...requestId,
      ],
      fix:
        "compare the app's IAM ARN (Developer Central > your app > Edit App) with role_arn; authorize the app for " +
        "this region's marketplaces; run pulumi up to restore the role's execute-api:Invoke policy.",
    };
  }
  if (httpStatus === 401) {
    return {
      status: "failed",
      cause: `SP-API did not accept the access token (${status}): it expired, or the call went to another region than the one the app is authorized for.`,
      details: requestId,
      fix: `check region (now ${block.values.region}, SP-API ${block.spApiRegion}) is the seller's region; run verify again for a fresh token.`,
    };
  }
  if (httpStatus === 429) {
    return { status: "failed", cause: `SP-API throttled the call (${status}).`, details: requestId, fix: "run verify again in a minute." };
  }
  return {
    status: "failed",
    cause: `SP-API answered ${status}.`,
    details: requestId,
    fix: httpStatus >= 500 ? "SP-API had a fault on its side: run verify again in a few minutes." : `check SP_API_ENDPOINT (now ${endpoint}) and region.`,
  };
}

export async function callMarketplaceParticipations(
  block: CredentialsBlock,
  accessToken: string,
  session: SessionCredentials,
  settings: Settings,
): Promise<StepOutcome> {
  const endpoint = spApiEndpoint(block, settings);
  const url = new URL(endpoint + MARKETPLACE_PARTICIPATIONS_PATH);
  const http = await fetchWithDeadline(url, { headers: await signedHeaders(url, accessToken, session, block.values.region) }, settings.requestTimeoutMs);
  let answer: SpApiAnswer;
  if (http.kind === "answered") {
    const parsed = parseJson(http.text);
    // A success that is not JSON is a proxy's page, not SP-API; an error status is judged by its status.
    if (http.status >= 300 && http.status < 400) answer = { kind: "redirect", httpStatus: http.status };
    else if (!parsed.ok && http.status < 400) answer = { kind: "not-json", httpStatus: http.status, contentType: http.contentType };
    else answer = { kind: "answered", httpStatus: http.status, json: parsed.ok ? parsed.value : undefined, requestId: http.requestId };
  } else if (http.kind === "too-large") {
    answer = { kind: "too-large", httpStatus: http.status, limitBytes: http.limitBytes };
  } else {
    answer = http;
  }
  return judgeSpApiAnswer(answer, block, endpoint, throughProxy(endpoint));
}
