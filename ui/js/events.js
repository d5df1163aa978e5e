// Events in, UI state out: the only module that knows the payload field names of
// `schemas.Event`, so a renamed field on the server is one edit here.

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
// Roles whose streamed tokens are the answer shown in the chat.
const ANSWER_ROLES = new Set(['synthesizer', 'aggregator', 'answer', 'final', 'responder', 'router', 'smart']);
export const MEDIATOR_ID = '__mediator';
export const ORCHESTRATOR_ID = '__orchestrator';

/** First defined value among `names` in `obj`. */
function pick(obj, ...names) {
  for (const n of names) if (obj && obj[n] !== undefined && obj[n] !== null) return obj[n];
  return undefined;
}

/** The attempts that failed before a call succeeded (either payload shape). */
export function failedAttempts(action) {
  const tries = pick(action, 'fallbacks') ?? pick(action, 'attempts') ?? [];
  return tries.filter((f) => f && f.ok === false);
}

export function isTerminal(status) { return TERMINAL.has(status); }

export function newCovenant(id) {
  return {
    id, status: 'draft', intent: '', query: '', pattern: null, patternReason: '',
    models: [], constraints: {}, plan: [], notes: [], result: null, error: null,
    cost: 0, flagshipCost: 0, latency: 0, simulated: false, meta: null,
    history: [], // every status the covenant went through, in order
    lastSeq: 0, applied: 0, duplicates: 0, gaps: 0,
    agents: new Map(), children: new Map(), answer: '', answerAgent: null,
    structure: 0, // bumped when agents are added: the tree re-flattens
    counts: { total: 0, running: 0, completed: 0, failed: 0, cancelled: 0 },
  };
}

function newAgent(id, p) {
  return {
    id, parentId: pick(p, 'parent_id', 'parent') ?? ORCHESTRATOR_ID,
    role: pick(p, 'role') ?? 'worker', title: pick(p, 'title', 'name') ?? '',
    status: 'pending', progress: 0, thoughts: [], actions: [], output: '', tokens: '',
    model: pick(p, 'model') ?? null, error: null,
  };
}

function mergeCovenant(cv, c) {
  if (!c) return;
  cv.status = pick(c, 'status') ?? cv.status;
  cv.intent = pick(c, 'intent') ?? cv.intent;
  cv.query = pick(c, 'query') ?? cv.query;
  cv.pattern = pick(c, 'pattern') ?? cv.pattern;
  cv.patternReason = pick(c, 'pattern_reason', 'reason') ?? cv.patternReason;
  cv.models = pick(c, 'models') ?? cv.models;
  cv.constraints = pick(c, 'constraints') ?? cv.constraints;
  cv.notes = pick(c, 'notes') ?? cv.notes;
  const plan = pick(c, 'plan');
  if (plan) cv.plan = pick(plan, 'steps') ?? (Array.isArray(plan) ? plan : cv.plan);
  cv.result = pick(c, 'result') ?? cv.result;
  cv.error = pick(c, 'error') ?? cv.error;
  cv.cost = pick(c, 'cost_usd') ?? cv.cost;
  cv.flagshipCost = pick(c, 'flagship_cost_usd') ?? cv.flagshipCost;
  cv.latency = pick(c, 'latency_s') ?? cv.latency;
  cv.simulated = pick(c, 'simulated') ?? cv.simulated;
}

const COUNTED = new Set(['running', 'completed', 'failed', 'cancelled']);

function setStatus(cv, agent, status) {
  const was = agent.status;
  if (was === status) return;
  const c = cv.counts;
  if (COUNTED.has(was)) c[was]--;
  if (COUNTED.has(status)) c[status]++;
  agent.status = status;
}

/**
 * A covenant that ended without completing ends its unfinished agents with it, as the
 * server records them (`Store.end_running_agents`): no event says so per agent, and a
 * tree still pulsing after Stop would say the agents are at work.
 */
function endUnfinished(cv) {
  if (!isTerminal(cv.status) || cv.status === 'completed' || cv.counts.total === cv.counts.completed + cv.counts.failed + cv.counts.cancelled) return;
  for (const a of cv.agents.values()) if (a.status === 'pending' || a.status === 'running') setStatus(cv, a, cv.status);
}

function addAgent(cv, id, p) {
  let a = cv.agents.get(id);
  if (a) return a;
  a = newAgent(id, p);
  if (a.parentId !== ORCHESTRATOR_ID && !cv.agents.has(a.parentId)) a.parentId = ORCHESTRATOR_ID;
  cv.agents.set(id, a);
  const siblings = cv.children.get(a.parentId);
  if (siblings) siblings.push(id); else cv.children.set(a.parentId, [id]);
  cv.counts.total++;
  cv.structure++;
  return a;
}

function isAnswerAgent(cv, agent, p) {
  if (p && (p.final === true || p.answer === true)) return true;
  return ANSWER_ROLES.has(String(agent.role).toLowerCase());
}

/** Answer metadata for the chat: from a result payload or the covenant itself. */
function resultMeta(cv, p) {
  const cost = pick(p, 'cost_usd') ?? cv.cost;
  const flagship = pick(p, 'flagship_cost_usd') ?? cv.flagshipCost;
  // What was really used: the models, tiers and tokens of every agent's model calls.
  const models = new Set();
  const tiers = new Set();
  let input = 0;
  let output = 0;
  for (const a of cv.agents.values()) {
    for (const act of a.actions) {
      if (act.model) models.add(act.model);
      if (act.tier) tiers.add(act.tier);
      input += Number(act.input_tokens) || 0;
      output += Number(act.output_tokens) || 0;
    }
  }
  const several = (set) => (set.size === 0 ? null : set.size <= 3 ? [...set].join(', ') : `${set.size} kinds`);
  return {
    model: pick(p, 'model') ?? several(models) ?? (cv.models.length ? cv.models[0] : null),
    tier: pick(p, 'tier') ?? several(tiers),
    inputTokens: pick(p, 'input_tokens') ?? input,
    outputTokens: pick(p, 'output_tokens') ?? output,
    cost, flagshipCost: flagship,
    saving: pick(p, 'saving_usd') ?? (flagship != null && cost != null ? flagship - cost : null),
    latency: pick(p, 'latency_s') ?? cv.latency,
    simulated: Boolean(pick(p, 'simulated') ?? cv.simulated),
  };
}

/**
 * Apply one event to a covenant view. Returns what is worth a toast, or null.
 * Events at or below `lastSeq` are dropped: a resumed stream never doubles anything.
 */
export function applyEvent(cv, ev) {
  if (ev.seq <= cv.lastSeq) { cv.duplicates++; return null; }
  if (ev.seq !== cv.lastSeq + 1) cv.gaps++;
  cv.lastSeq = ev.seq;
  cv.applied++;
  const notice = reduce(cv, ev);
  endUnfinished(cv);
  if (cv.history[cv.history.length - 1] !== cv.status) cv.history.push(cv.status);
  return notice;
}

function reduce(cv, ev) {
  const p = ev.payload || {};
  const agent = ev.agent_id ? (cv.agents.get(ev.agent_id) ?? addAgent(cv, ev.agent_id, p)) : null;
  switch (ev.type) {
    case 'covenant.created':
    case 'covenant.updated': {
      const before = cv.status;
      mergeCovenant(cv, pick(p, 'covenant') ?? p);
      if (before !== cv.status && cv.status === 'failed') return { kind: 'bad', text: `Covenant failed${cv.error ? `: ${cv.error}` : ''}` };
      if (before !== cv.status && cv.status === 'cancelled') return { kind: 'warn', text: 'Covenant cancelled' };
      return null;
    }
    case 'plan': {
      const plan = pick(p, 'plan') ?? p;
      cv.plan = pick(plan, 'steps') ?? cv.plan;
      return null;
    }
    case 'agent.spawned':
      if (agent) { agent.role = pick(p, 'role') ?? agent.role; agent.title = pick(p, 'title') ?? agent.title; }
      return null;
    case 'agent.thought':
      setStatus(cv, agent, agent.status === 'pending' ? 'running' : agent.status);
      agent.thoughts.push(String(pick(p, 'thought', 'text', 'content') ?? ''));
      return null;
    case 'agent.action': {
      const a = pick(p, 'action') ?? p;
      agent.actions.push(a);
      agent.model = pick(a, 'model') ?? agent.model;
      setStatus(cv, agent, agent.status === 'pending' ? 'running' : agent.status);
      const failed = failedAttempts(a);
      if (failed.length) return { kind: 'warn', text: `Fallback: ${failed.map((f) => f.model).join(', ')} → ${agent.model}` };
      return null;
    }
    case 'agent.token': {
      const delta = String(pick(p, 'delta', 'text') ?? '');
      setStatus(cv, agent, agent.status === 'pending' ? 'running' : agent.status);
      agent.tokens += delta;
      if (isAnswerAgent(cv, agent, p) || cv.answerAgent === agent.id) {
        if (cv.answerAgent !== agent.id) { cv.answerAgent = agent.id; cv.answer = ''; }
        cv.answer += delta;
      }
      return null;
    }
    case 'agent.progress':
      agent.progress = Math.max(0, Math.min(1, Number(pick(p, 'progress', 'value') ?? 0)));
      setStatus(cv, agent, agent.status === 'pending' ? 'running' : agent.status);
      return null;
    case 'agent.output':
      agent.output = String(pick(p, 'output', 'text') ?? agent.tokens);
      return null;
    case 'agent.completed':
      agent.output = String(pick(p, 'output', 'text') ?? (agent.output || agent.tokens));
      agent.progress = 1;
      setStatus(cv, agent, 'completed');
      return null;
    case 'agent.failed':
      agent.error = String(pick(p, 'error', 'message') ?? 'failed');
      setStatus(cv, agent, 'failed');
      return { kind: 'bad', text: `Agent ${agent.title || agent.id} failed: ${agent.error}` };
    case 'covenant.budget':
      cv.cost = pick(p, 'spent_usd', 'cost_usd') ?? cv.cost;
      return null;
    case 'covenant.result': {
      mergeCovenant(cv, pick(p, 'covenant') ?? {});
      cv.result = String(pick(p, 'result', 'text', 'output') ?? cv.result ?? cv.answer);
      cv.answer = cv.result;
      cv.meta = resultMeta(cv, p);
      if (!isTerminal(cv.status)) cv.status = pick(p, 'status') ?? 'completed';
      return cv.status === 'completed' ? { kind: 'ok', text: 'Covenant completed' } : null;
    }
    case 'error': {
      const message = String(pick(p, 'message', 'error') ?? 'error');
      // Without an agent, an error ends the covenant (the pattern's last event on failure).
      if (!ev.agent_id && !isTerminal(cv.status)) { cv.status = 'failed'; cv.error = message; }
      return { kind: 'bad', text: message };
    }
    default:
      return null;
  }
}

/**
 * Overall progress in [0, 1]: finished agents count fully, running ones by their bar; a
 * stopped covenant keeps the share it reached, so its bar does not claim it finished.
 */
export function overallProgress(cv) {
  if (cv.status === 'completed') return 1;
  let sum = 0;
  for (const a of cv.agents.values()) sum += (a.status === 'completed' || a.status === 'failed') ? 1 : a.progress;
  return cv.agents.size ? sum / cv.agents.size : 0;
}

/** A plain, comparable picture of the covenant, for copying and for tests. */
export function snapshot(cv) {
  const agents = [...cv.agents.values()].map((a) => ({
    id: a.id, parent: a.parentId, role: a.role, title: a.title, status: a.status,
    thoughts: a.thoughts.length, actions: a.actions.length, output: a.output,
  })).sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  return {
    id: cv.id, status: cv.status, pattern: cv.pattern, intent: cv.intent, models: cv.models,
    constraints: cv.constraints, plan: cv.plan, result: cv.result, history: cv.history, lastSeq: cv.lastSeq,
    applied: cv.applied, duplicates: cv.duplicates, gaps: cv.gaps, agents,
  };
}
