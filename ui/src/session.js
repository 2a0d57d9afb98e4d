// The credentials the user typed, kept in sessionStorage: gone with the tab, never in a
// cookie (so no CSRF), never in localStorage (not shared with other tabs after logout).
const KEY = "dictamesh.session";

/** @returns {{apiKey?: string, jwt?: string, tenant?: string} | null} */
export function loadSession() {
  try {
    const value = JSON.parse(sessionStorage.getItem(KEY) ?? "null");
    return value && (value.apiKey || value.jwt) ? value : null;
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}
