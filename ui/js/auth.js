// The gateway's API key, when the server requires one (HARPOON_API_KEY). The key lives in
// sessionStorage, not localStorage: it is a secret, so it should last only as long as this
// tab (a reload keeps it, closing the tab drops it) and never be shared with other tabs
// or left on disk for whoever opens the browser next.

const STORE = 'harpoon.apiKey';
let asker = null;
let pending = null;
// Where storage is refused (a locked-down browser) the key still works for this page.
let memory = null;

/** The key this tab sends, or null when none was given. */
export function apiKey() {
  try { return sessionStorage.getItem(STORE) || memory; } catch { return memory; }
}

export function setApiKey(key) {
  try { sessionStorage.setItem(STORE, key); } catch { /* storage off: the key lasts this page only */ }
  memory = key;
}

export function forgetApiKey() {
  try { sessionStorage.removeItem(STORE); } catch { /* nothing stored */ }
  memory = null;
}

/** The root installs the dialog here: `(message) => Promise<string|null>`. */
export function setKeyAsker(fn) { asker = fn; }

/**
 * Ask the person for the key; every caller refused at the same moment shares one dialog.
 * `message` is the server's reason, shown when a key was sent and refused. Resolves to
 * true when a new key was stored (so the caller retries), false when they cancelled.
 */
export function askForKey(message) {
  if (!asker) return Promise.resolve(false);
  if (!pending) {
    pending = asker(message)
      .then((key) => { if (key) { setApiKey(key); return true; } return false; })
      .finally(() => { pending = null; });
  }
  return pending;
}
