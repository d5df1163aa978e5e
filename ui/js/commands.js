// The palette's commands as data: what each is called and whether it applies now.
// The root runs them by id, so adding a command is one entry here and one case there.

export const PATTERNS = ['parallel', 'workers', 'optimize', 'smart'];

const PATTERN_HELP = {
  parallel: 'same task to several agents, then combine',
  workers: 'orchestrator splits the task across workers',
  optimize: 'evaluator–optimizer rounds',
  smart: 'one routed call with fallback',
};

/** @param {{running: boolean, hasCovenant: boolean, sidebarOpen: boolean, theme: string, hasKey?: boolean}} ctx */
export function commandList(ctx) {
  return [
    { id: 'new', title: 'New conversation', group: 'Chat' },
    ...PATTERNS.map((p) => ({ id: `run:${p}`, title: `Run with pattern: ${p} — ${PATTERN_HELP[p]}`, group: 'Pattern' })),
    { id: 'run:auto', title: 'Run with pattern: auto (the mediator chooses)', group: 'Pattern' },
    { id: 'constraints', title: 'Set constraints (max cost, max latency, min quality)…', group: 'Covenant' },
    { id: 'constraints:clear', title: 'Clear constraints', group: 'Covenant' },
    { id: 'cancel', title: 'Cancel the running covenant', group: 'Covenant', enabled: ctx.running },
    { id: 'copy', title: 'Copy covenant JSON', group: 'Covenant', enabled: ctx.hasCovenant },
    { id: 'sidebar', title: ctx.sidebarOpen ? 'Hide sidebar' : 'Show sidebar', group: 'View' },
    { id: 'models', title: 'Show models', group: 'View' },
    { id: 'metrics', title: 'Show metrics', group: 'View' },
    { id: 'theme', title: `Toggle theme (now ${ctx.theme})`, group: 'View' },
    { id: 'forget-key', title: 'Forget API key', group: 'Settings', enabled: Boolean(ctx.hasKey) },
  ];
}

/** Light or dark, as the page currently shows it. */
export function effectiveTheme() {
  const forced = document.documentElement.dataset.theme;
  if (forced === 'light' || forced === 'dark') return forced;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** Apply a stored choice: 'light', 'dark' or 'system' (follow the OS). */
export function applyTheme(choice) {
  if (choice === 'light' || choice === 'dark') document.documentElement.dataset.theme = choice;
  else delete document.documentElement.dataset.theme;
}

/** Put text on the clipboard, falling back to a hidden textarea where the API is missing. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}
