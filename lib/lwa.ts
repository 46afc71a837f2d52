/**
 * Login with Amazon's token endpoint: the one exchange every command makes (verify's refresh-token grant, rotate-lwa's
 * grantless client_credentials grant and its proof of a new secret). The deadline covers the body; a redirect is an
 * answer, never followed, since it would carry the form's secrets elsewhere. The body is never passed on: LWA may
 * echo a submitted value, so only its OAuth error code is kept (and whether the description says "expired").
 */
import { fetchWithDeadline, parseJson } from "./net";

export const LWA_TOKEN_PATH = "/auth/o2/token";
export const LWA_ACCESS_TOKEN_PREFIX = "Atza|";

/** What LWA answered, reduced to what the messages need. */
export type LwaAnswer =
  | { kind: "token"; accessToken: string; expiresInS?: number }
  | { kind: "error"; httpStatus: number; error?: string; expired: boolean }
  | { kind: "not-json"; httpStatus: number; contentType: string }
  | { kind: "redirect"; httpStatus: number }
  | { kind: "too-large"; httpStatus: number; limitBytes: number }
  | { kind: "timed-out"; timeoutMs: number }
  | { kind: "unreachable"; code: string };

/** An OAuth error code is a short snake_case word; anything else is not shown. */
const OAUTH_ERROR_CODE = /^[a-z_]{1,64}$/;

/** POSTs one grant's form to `<lwaEndpoint>/auth/o2/token`. */
export async function requestLwaToken(lwaEndpoint: string, form: Record<string, string>, timeoutMs: number): Promise<LwaAnswer> {
  const answer = await fetchWithDeadline(
    lwaEndpoint + LWA_TOKEN_PATH,
    {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded;charset=UTF-8", accept: "application/json" },
      body: new URLSearchParams(form),
    },
    timeoutMs,
  );
  if (answer.kind === "timed-out" || answer.kind === "unreachable") return answer;
  if (answer.kind === "too-large") return { kind: "too-large", httpStatus: answer.status, limitBytes: answer.limitBytes };
  if (answer.status >= 300 && answer.status < 400) return { kind: "redirect", httpStatus: answer.status };
  const parsed = parseJson(answer.text);
  const isObject = parsed.ok && typeof parsed.value === "object" && parsed.value !== null && !Array.isArray(parsed.value);
  // A success that is not JSON is a proxy's or captive portal's page, not LWA; an error status without JSON
  // is judged by its status (LWA's own 5xx pages are not JSON either).
  if (!isObject && answer.status < 400) return { kind: "not-json", httpStatus: answer.status, contentType: answer.contentType };
  const json = (isObject ? parsed.value : {}) as Record<string, unknown>;
  if (answer.status >= 200 && answer.status < 300 && typeof json.access_token === "string") {
    return { kind: "token", accessToken: json.access_token, expiresInS: typeof json.expires_in === "number" ? json.expires_in : undefined };
  }
  const error = typeof json.error === "string" && OAUTH_ERROR_CODE.test(json.error) ? json.error : undefined;
  // Read, never printed: LWA tells an expired secret from a wrong one only in the description.
  const expired = typeof json.error_description === "string" && /expired/i.test(json.error_description);
  return { kind: "error", httpStatus: answer.status, error, expired };
}
