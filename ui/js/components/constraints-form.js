// The constraints form: max cost, max latency, min quality. Bad values are refused with
// a message naming the field, before anything reaches the server.

import { el } from '../format.js';

const FIELDS = [
  { name: 'max_cost_usd', label: 'Max cost (USD)', min: 0, exclusive: true, step: 'any' },
  { name: 'max_latency_s', label: 'Max latency (s)', min: 0, exclusive: true, step: 'any' },
  { name: 'min_quality', label: 'Min quality (0–1)', min: 0, max: 1, step: 'any' },
];

/** Check one raw value; returns [value|null, error|null]. Empty means unconstrained. */
export function parseConstraint(field, raw) {
  const s = String(raw ?? '').trim();
  if (!s) return [null, null];
  const v = Number(s);
  if (!Number.isFinite(v)) return [null, `${field.label} must be a number.`];
  if (field.exclusive && v <= field.min) return [null, `${field.label} must be greater than ${field.min}.`];
  if (v < field.min || (field.max != null && v > field.max)) return [null, `${field.label} must be between ${field.min} and ${field.max}.`];
  return [v, null];
}

export function constraintsForm(current, onSave, onCancel) {
  const form = el('form', 'constraints');
  form.setAttribute('aria-label', 'Constraints');
  form.noValidate = true;
  const inputs = {};
  for (const f of FIELDS) {
    const label = el('label', null, f.label);
    const input = el('input');
    Object.assign(input, { type: 'number', name: f.name, id: `c-${f.name}`, step: f.step, placeholder: 'none' });
    if (current[f.name] != null) input.value = String(current[f.name]);
    label.htmlFor = input.id;
    inputs[f.name] = input;
    form.append(label, input);
  }
  const error = el('div', 'error');
  error.setAttribute('role', 'alert');
  const actions = el('div', 'actions');
  const cancel = el('button', null, 'Cancel');
  cancel.type = 'button';
  cancel.addEventListener('click', onCancel);
  const save = el('button', 'primary', 'Save');
  save.type = 'submit';
  actions.append(cancel, save);
  form.append(error, actions);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const out = {};
    for (const f of FIELDS) {
      const [v, err] = parseConstraint(f, inputs[f.name].value);
      if (err) { error.textContent = err; inputs[f.name].setAttribute('aria-invalid', 'true'); inputs[f.name].focus(); return; }
      inputs[f.name].removeAttribute('aria-invalid');
      if (v != null) out[f.name] = v;
    }
    onSave(out);
  });
  return form;
}
