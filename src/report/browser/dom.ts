/// <reference lib="dom" />
/**
 * Tiny DOM helpers for the report. Prompt text only ever reaches the page through text nodes
 * (textContent / createTextNode) or canvas drawing: nothing here parses HTML.
 */

type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  id?: string;
  title?: string;
  on?: Record<string, (ev: Event) => void>;
  attrs?: Record<string, string>;
}

/** Creates an element; string children become text nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.id) el.id = props.id;
  if (props.title !== undefined) el.title = props.title;
  for (const [k, v] of Object.entries(props.attrs ?? {})) el.setAttribute(k, v);
  for (const [k, fn] of Object.entries(props.on ?? {})) el.addEventListener(k, fn);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

/** A <select> with (value, label) options. */
export function select(options: [string, string][], value: string, onChange: (v: string) => void, label?: string): HTMLSelectElement {
  const s = h('select', { attrs: label ? { 'aria-label': label } : {} });
  for (const [v, l] of options) {
    const o = h('option', {}, l);
    o.value = v;
    s.append(o);
  }
  s.value = value;
  s.addEventListener('change', () => onChange(s.value));
  return s;
}

export function checkbox(label: string, checked: boolean, onChange: (v: boolean) => void): HTMLLabelElement {
  const box = h('input');
  box.type = 'checkbox';
  box.checked = checked;
  box.addEventListener('change', () => onChange(box.checked));
  return h('label', { class: 'check' }, box, ' ' + label);
}

/** A short quoted excerpt: JSON escaping keeps control characters visible. */
export function excerpt(s: string, max = 80): string {
  return JSON.stringify(s.length > max ? s.slice(0, max - 1) + '…' : s);
}

export function fmt(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}

export function pct(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : `${Math.round(v * 100)}%`;
}
