/**
 * The two Amazon endpoints rotate-lwa calls over HTTPS, reduced to what decide.ts judges: LWA's token endpoint
 * (the grantless client_credentials grant, and the refresh-token grant that proves a new secret) and the
 * Application Management API's rotation call. Every request is bounded by a timeout that also covers reading the
 * body. Response bodies are never passed on whole: LWA may echo a submitted value, so only its OAuth error code is
 * kept; Amazon's error message is kept short, stripped of control characters, for the caller to scrub.
 */
import { fetchWithDeadline, parseJson, throughProxy, type HttpAnswer as Exchange } from "../../lib/net";
import { LWA_ACCESS_TOKEN_PREFIX, requestLwaToken } from "../../lib/lwa";
import { printable } from "../../lib/output";
import { HttpAnswer, ROTATION_PATH, ROTATION_SCOPE } from "./decide";

const SP_API_ERROR_CODE = /^[A-Za-z]{1,64}$/;

type Answered = Extract<Exchange, { kind: "answered" | "too-large" }>;

/** The exchange (lib/net's deadline; a redirect is an answer, never followed), with its two ways of not answering read as one. */
async function exchange(url: string, init: RequestInit, timeoutMs: number): Promise<Answered | { kind: "unreachable"; code: string; via: string }> {
  const answer = await fetchWithDeadline(url, init, timeoutMs);
  if (answer.kind === "timed-out") return { kind: "unreachable", code: "TimeoutError", via: throughProxy(url) };
  return answer.kind === "unreachable" ? { ...answer, via: throughProxy(url) } : answer;
}

function jsonObject(answer: Answered): Record<string, unknown> {
  const parsed = answer.kind === "answered" ? parseJson(answer.text) : { ok: false as const };
  return parsed.ok && typeof parsed.value === "object" && parsed.value !== null ? (parsed.value as Record<string, unknown>) : {};
}

/**
 * LWA's answer as decide.ts judges it: a token only when it is shaped like one; a success that carries none (a proxy's
 * page, a body that is not JSON) is a bad gateway, "not_a_token".
 */
async function tokenRequest(lwaEndpoint: string, form: Record<string, string>, timeoutMs: number): Promise<HttpAnswer<string>> {
  const answer = await requestLwaToken(lwaEndpoint, form, timeoutMs);
  switch (answer.kind) {
    case "timed-out":
      return { kind: "unreachable", code: "TimeoutError", via: throughProxy(lwaEndpoint) };
    case "unreachable":
      return { ...answer, via: throughProxy(lwaEndpoint) };
    case "token":
      return answer.accessToken.startsWith(LWA_ACCESS_TOKEN_PREFIX)
        ? { kind: "ok", value: answer.accessToken }
        : { kind: "http", status: 502, code: "not_a_token" };
    case "error": {
      const ok = answer.httpStatus >= 200 && answer.httpStatus < 300;
      if (ok) return { kind: "http", status: 502, code: answer.error ?? "not_a_token" };
      return { kind: "http", status: answer.httpStatus, ...(answer.error ? { code: answer.error } : {}) };
    }
    default: {
      const ok = answer.httpStatus >= 200 && answer.httpStatus < 300;
      return ok ? { kind: "http", status: 502, code: "not_a_token" } : { kind: "http", status: answer.httpStatus };
    }
  }
}

/** The grantless token the rotation call needs: client_credentials with the rotation scope. */
export function grantlessToken(lwaEndpoint: string, clientId: string, clientSecret: string, timeoutMs: number): Promise<HttpAnswer<string>> {
  return tokenRequest(lwaEndpoint, { grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret, scope: ROTATION_SCOPE }, timeoutMs);
}

/** The exchange every job makes: it succeeds with the new secret only if the new secret works. */
export function refreshTokenExchange(
  lwaEndpoint: string,
  clientId: string,
  clientSecret: string,
  refreshToken: string,
  timeoutMs: number,
): Promise<HttpAnswer<string>> {
  return tokenRequest(lwaEndpoint, { grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId, client_secret: clientSecret }, timeoutMs);
}

/** POST /applications/2023-11-30/clientSecret with the grantless token: 204 (only) means Amazon rotated the secret. */
export async function requestRotation(spApiEndpoint: string, grantless: string, timeoutMs: number): Promise<HttpAnswer<void>> {
  const answer = await exchange(
    spApiEndpoint + ROTATION_PATH,
    { method: "POST", headers: { "x-amz-access-token": grantless, accept: "application/json", "user-agent": "sp-api-iam rotate-lwa" } },
    timeoutMs,
  );
  if (answer.kind === "unreachable") return answer;
  // Amazon answers 204; another success status is not Amazon's answer (a proxy, a wrong SP_API_ENDPOINT).
  if (answer.status === 204) return { kind: "ok", value: undefined };
  // Not Amazon's error shape (a proxy's page): the status alone.
  const first = (jsonObject(answer) as { errors?: { code?: unknown; message?: unknown }[] }).errors?.[0];
  const code = typeof first?.code === "string" && SP_API_ERROR_CODE.test(first.code) ? first.code : undefined;
  const message = typeof first?.message === "string" ? printable(first.message, 200) : undefined;
  return { kind: "http", status: answer.status, ...(code ? { code } : {}), ...(message ? { message } : {}) };
}
