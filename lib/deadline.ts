/**
 * Bounding every request in time. A peer that accepts and never answers, or trickles its answer a byte at a
 * time, must not hold the command: each request gets SP_API_VERIFY_TIMEOUT_MS from sending to the last byte
 * of the body. Our own timer decides, not the library's error: undici and the AWS SDK report an abort mid-body
 * as AbortError, ECONNRESET or a DOMException code 23, which would not say that the time ran out.
 */

export type Deadlined<T> = { kind: "done"; value: T } | { kind: "timed-out" } | { kind: "failed"; error: unknown };

/** Runs `work` with a signal that aborts after `timeoutMs`; returns when the work ends or the time is up,
 * whichever comes first, so a library that ignores the signal while reading a body cannot keep us waiting. */
export async function withDeadline<T>(timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<Deadlined<T>> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<{ kind: "timed-out" }>((resolve) => {
    timer = setTimeout(() => {
      resolve({ kind: "timed-out" });
      controller.abort();
    }, timeoutMs);
  });
  const running = work(controller.signal).then(
    (value): Deadlined<T> => ({ kind: "done", value }),
    (error: unknown): Deadlined<T> => ({ kind: "failed", error }),
  );
  try {
    const outcome = await Promise.race([running, expired]);
    // An abort makes the work fail; that failure is the timeout's doing.
    return controller.signal.aborted ? { kind: "timed-out" } : outcome;
  } finally {
    clearTimeout(timer);
  }
}

/** An HTTP exchange reduced to what the steps judge. The body is read whole (up to a cap) within the deadline. */
export type HttpAnswer =
  | { kind: "answered"; status: number; contentType: string; requestId?: string; text: string }
  | { kind: "too-large"; status: number; limitBytes: number }
  | { kind: "timed-out"; timeoutMs: number }
  | { kind: "unreachable"; code: string };

/** More than any token or marketplace answer; a peer sending more is not the service. */
export const MAX_ANSWER_BYTES = 1024 * 1024;

class TooLarge extends Error {
  constructor(readonly status: number) {
    super("answer too large");
  }
}

/** fetch, then the body, both within `timeoutMs`. Redirects are answers, not followed. */
export async function fetchWithDeadline(url: string | URL, init: RequestInit, timeoutMs: number, maxBytes = MAX_ANSWER_BYTES): Promise<HttpAnswer> {
  const outcome = await withDeadline(timeoutMs, async (signal) => {
    // Never followed: a redirect would carry the form's secrets or the token header to wherever it points.
    const response = await fetch(url, { ...init, redirect: "manual", signal });
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (response.body) {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) {
          await reader.cancel().catch(() => undefined);
          throw new TooLarge(response.status);
        }
        chunks.push(value);
      }
    }
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      requestId: response.headers.get("x-amzn-requestid") ?? undefined,
      text: Buffer.concat(chunks).toString("utf8"),
    };
  });
  switch (outcome.kind) {
    case "done":
      return { kind: "answered", ...outcome.value };
    case "timed-out":
      return { kind: "timed-out", timeoutMs };
    case "failed":
      if (outcome.error instanceof TooLarge) return { kind: "too-large", status: outcome.error.status, limitBytes: maxBytes };
      return { kind: "unreachable", code: networkErrorCode(outcome.error) };
  }
}

/** The error's code (ECONNREFUSED, ENOTFOUND, ...), never its message: undici's may quote the URL. */
export function networkErrorCode(error: unknown): string {
  const e = error as { name?: unknown; code?: unknown; cause?: { code?: unknown; name?: unknown } } | undefined;
  const word = (v: unknown) => (typeof v === "string" && /^[A-Za-z][\w.-]{0,63}$/.test(v) ? v : undefined);
  // "fetch failed" is a TypeError whose cause says more; a bare Error or TypeError says nothing worth showing.
  const generic = (v: unknown) => v === "Error" || v === "TypeError";
  const name = generic(e?.name) ? (generic(e?.cause?.name) ? undefined : word(e?.cause?.name)) : word(e?.name);
  return word(e?.cause?.code) ?? word(e?.code) ?? name ?? "network error";
}

/** The JSON in a body, or undefined when it is not JSON. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** "300 ms", "10 s": how long we waited, for the timed-out messages. */
export function describeTimeout(timeoutMs: number): string {
  return timeoutMs < 1000 || timeoutMs % 1000 !== 0 ? `${timeoutMs} ms` : `${timeoutMs / 1000} s`;
}

/** "a body (text/html)": the media type only, and only when it is a plain token pair. */
export function describeContentType(contentType: string): string {
  const type = contentType.split(";")[0].trim().toLowerCase();
  return /^[a-z0-9.+-]{1,40}\/[a-z0-9.+-]{1,60}$/.test(type) ? `a body (${type})` : "a body";
}
