/**
 * The two Amazon endpoints rotate-lwa calls over HTTPS, reduced to what decide.ts judges: LWA's token endpoint
 * (the grantless client_credentials grant, and the refresh-token grant that proves a new secret) and the
 * Application Management API's rotation call. Every request is bounded by a timeout that also covers reading the
 * body. Response bodies are never passed on whole: LWA may echo a submitted value, so only its OAuth error code is
 * kept; Amazon's error message is kept short, stripped of control characters, for the caller to scrub.
 */
import { fetchWithDeadline, parseJson, type HttpAnswer as Exchange } from "../../lib/deadline";
import { LWA_ACCESS_TOKEN_PREFIX, LWA_TOKEN_PATH } from "../verify/lwa";
import { printable } from "../../lib/output";
import { HttpAnswer, ROTATION_PATH, ROTATION_SCOPE } from "./decide";

/** An OAuth error code is a short snake_case word; anything else is not shown. */
const OAUTH_ERROR_CODE = /^[a-z_]{1,64}$/;
const SP_API_ERROR_CODE = /^[A-Za-z]{1,64}$/;

type Answered = Extract<Exchange, { kind: "answered" | "too-large" }>;

/**
 * verify's exchange (the deadline covers the body; a redirect is an answer, never followed, since it would carry
 * the form's secrets or the token elsewhere), with its two ways of not answering read as one.
 */
async function exchange(url: string, init: RequestInit, timeoutMs: number): Promise<Answered | { kind: "unreachable"; code: string }> {
  const answer = await fetchWithDeadline(url, init, timeoutMs);
  return answer.kind === "timed-out" ? { kind: "unreachable", code: "TimeoutError" } : answer;
}

function jsonObject(answer: Answered): Record<string, unknown> {
  const parsed = answer.kind === "answered" ? parseJson(answer.text) : { ok: false as const };
  return parsed.ok && typeof parsed.value === "object" && parsed.value !== null ? (parsed.value as Record<string, unknown>) : {};
}

async function tokenRequest(lwaEndpoint: string, form: Record<string, string>, timeoutMs: number): Promise<HttpAnswer<string>> {
  const answer = await exchange(
    lwaEndpoint + LWA_TOKEN_PATH,
    {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded;charset=UTF-8", accept: "application/json" },
      body: new URLSearchParams(form),
    },
    timeoutMs,
  );
  if (answer.kind === "unreachable") return answer;
  // A body that is not JSON is judged by the status alone.
  const json = jsonObject(answer);
  const ok = answer.status >= 200 && answer.status < 300;
  if (ok && typeof json.access_token === "string" && json.access_token.startsWith(LWA_ACCESS_TOKEN_PREFIX)) return { kind: "ok", value: json.access_token };
  const code = typeof json.error === "string" && OAUTH_ERROR_CODE.test(json.error) ? json.error : undefined;
  return { kind: "http", status: ok ? 502 : answer.status, ...(code ? { code } : ok ? { code: "not_a_token" } : {}) };
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
