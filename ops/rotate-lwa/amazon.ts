/**
 * The two Amazon endpoints rotate-lwa calls over HTTPS, reduced to what decide.ts judges: LWA's token endpoint
 * (the grantless client_credentials grant, and the refresh-token grant that proves a new secret) and the
 * Application Management API's rotation call. Every request is bounded by a timeout that also covers reading the
 * body. Response bodies are never passed on whole: LWA may echo a submitted value, so only its OAuth error code is
 * kept; Amazon's error message is kept short, stripped of control characters, for the caller to scrub.
 */
import { networkErrorCode } from "../../verify/lwa";

/** A timeout reads as TimeoutError (AbortSignal.timeout's DOMException carries a numeric legacy `code`). */
function failureCode(error: unknown): string {
  const name = (error as Error)?.name;
  return name === "TimeoutError" || name === "AbortError" ? "TimeoutError" : networkErrorCode(error);
}
import { printable } from "../output";
import { HttpAnswer, LWA_TOKEN_PATH, ROTATION_PATH, ROTATION_SCOPE } from "./decide";

/** An OAuth error code is a short snake_case word; anything else is not shown. */
const OAUTH_ERROR_CODE = /^[a-z_]{1,64}$/;
const SP_API_ERROR_CODE = /^[A-Za-z]{1,64}$/;

async function tokenRequest(lwaEndpoint: string, form: Record<string, string>, timeoutMs: number): Promise<HttpAnswer<string>> {
  let response: Response;
  let json: Record<string, unknown> = {};
  try {
    response = await fetch(lwaEndpoint + LWA_TOKEN_PATH, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded;charset=UTF-8", accept: "application/json" },
      body: new URLSearchParams(form),
      signal: AbortSignal.timeout(timeoutMs),
    });
    try {
      const parsed: unknown = await response.json();
      if (typeof parsed === "object" && parsed !== null) json = parsed as Record<string, unknown>;
    } catch (error) {
      // A body that stalls is bounded by the same signal; one that is not JSON is judged by the status alone.
      if (failureCode(error) === "TimeoutError") return { kind: "unreachable", code: "TimeoutError" };
    }
  } catch (error) {
    return { kind: "unreachable", code: failureCode(error) };
  }
  if (response.ok && typeof json.access_token === "string" && json.access_token.startsWith("Atza|")) return { kind: "ok", value: json.access_token };
  const code = typeof json.error === "string" && OAUTH_ERROR_CODE.test(json.error) ? json.error : undefined;
  return { kind: "http", status: response.ok ? 502 : response.status, ...(code ? { code } : response.ok ? { code: "not_a_token" } : {}) };
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
  let response: Response;
  let text = "";
  try {
    response = await fetch(spApiEndpoint + ROTATION_PATH, {
      method: "POST",
      headers: { "x-amz-access-token": grantless, accept: "application/json", "user-agent": "sp-api-iam rotate-lwa" },
      signal: AbortSignal.timeout(timeoutMs),
    });
    try {
      text = await response.text();
    } catch (error) {
      if (!response.ok) return { kind: "unreachable", code: failureCode(error) };
    }
  } catch (error) {
    return { kind: "unreachable", code: failureCode(error) };
  }
  // Amazon answers 204; another success status is not Amazon's answer (a proxy, a wrong SP_API_ENDPOINT).
  if (response.status === 204) return { kind: "ok", value: undefined };
  let code: string | undefined;
  let message: string | undefined;
  try {
    const first = (JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] }).errors?.[0];
    if (typeof first?.code === "string" && SP_API_ERROR_CODE.test(first.code)) code = first.code;
    if (typeof first?.message === "string") message = printable(first.message, 200);
  } catch {
    // not Amazon's error shape (a proxy's page): the status alone
  }
  return { kind: "http", status: response.status, ...(code ? { code } : {}), ...(message ? { message } : {}) };
}
