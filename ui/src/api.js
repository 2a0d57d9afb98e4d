// The UI's one HTTP client: the session's credentials on every call, a deadline, typed
// errors from the API's {"error": {"code", "message"}} envelope, and a 401 → login signal.
import { config } from "./config.js";
import { loadSession } from "./session.js";

const DEADLINE_MS = 15000;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

const unauthorizedListeners = new Set();

/** Calls `listener(error)` on every 401; returns the function that unsubscribes. */
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** The headers carrying the session's credentials (and tenant), as the API expects them. */
export function authHeaders(session = loadSession()) {
  const headers = {};
  if (session?.apiKey) headers["X-API-Key"] = session.apiKey;
  else if (session?.jwt) headers.Authorization = `Bearer ${session.jwt}`;
  if (session?.tenant) headers[config.tenantHeader] = session.tenant;
  return headers;
}

/** `/api/v1/...` with the query parameters that have a value. */
export function apiUrl(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  return url;
}

/**
 * GET a JSON answer. `signal` cancels it (a newer keystroke); the deadline always applies.
 * Rejects with ApiError (HTTP errors) or the AbortError of a cancelled call.
 */
export async function apiGet(path, options = {}) {
  return (await apiFetch(path, options)).body;
}

/** apiGet's answer with its response headers too ({body, headers}). */
export async function apiFetch(path, { params, signal, session } = {}) {
  const signals = [AbortSignal.timeout(DEADLINE_MS)];
  if (signal) signals.push(signal);
  let response;
  try {
    response = await fetch(apiUrl(path, params), {
      headers: { Accept: "application/json", ...authHeaders(session) },
      signal: AbortSignal.any(signals),
      credentials: "omit",
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    const timedOut = error?.name === "TimeoutError";
    throw new ApiError(0, timedOut ? "TIMEOUT" : "NETWORK", timedOut
      ? "The node did not answer in time."
      : "The node cannot be reached.");
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const error = new ApiError(
      response.status,
      body?.error?.code ?? `HTTP_${response.status}`,
      body?.error?.message ?? response.statusText ?? "request failed",
    );
    if (response.status === 401) unauthorizedListeners.forEach((listener) => listener(error));
    throw error;
  }
  return { body, headers: response.headers };
}

/** A comma-separated list header (X-DictaMesh-Masked, X-DictaMesh-Redacted) as a Set. */
export function headerSet(headers, name) {
  return new Set((headers.get(name) ?? "").split(",").map((part) => part.trim()).filter(Boolean));
}

/** True for the rejection of a call cancelled on purpose (not worth showing). */
export function isAbort(error) {
  return error?.name === "AbortError";
}
