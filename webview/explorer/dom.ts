/// <reference lib="dom" />
/** Tiny DOM helpers. Text goes in as text nodes only: prompt text is never parsed as HTML. */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Record<string, string>, ...children: (Node | string)[]): HTMLElementTagNameMap[K];
export function el(tag: string, attrs?: Record<string, string>, ...children: (Node | string)[]): HTMLElement;
export function el(tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}

export function select(label: string, options: [value: string, text: string][], value: string, onChange: (v: string) => void): HTMLElement {
  const s = document.createElement('vscode-single-select') as HTMLElement & { value: string };
  s.setAttribute('aria-label', label);
  for (const [v, text] of options) {
    const o = document.createElement('vscode-option');
    o.setAttribute('value', v);
    if (v === value) o.setAttribute('selected', '');
    o.textContent = text;
    s.append(o);
  }
  s.addEventListener('change', () => onChange(s.value));
  return el('label', { class: 'control' }, `${label} `, s);
}

export function checkbox(label: string, checked: boolean, onChange: (v: boolean) => void): HTMLElement {
  const c = document.createElement('vscode-checkbox') as HTMLElement & { checked: boolean };
  if (checked) c.setAttribute('checked', '');
  c.setAttribute('label', label);
  c.addEventListener('change', () => onChange(c.checked));
  return c;
}

export function button(label: string, onClick: () => void, secondary = true): HTMLElement {
  const b = document.createElement('vscode-button');
  if (secondary) b.setAttribute('secondary', '');
  b.textContent = label;
  b.addEventListener('click', onClick);
  return b;
}

/** A theme colour from VS Code's CSS variables, with a fallback outside VS Code. */
export function themeColor(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(`--vscode-${name}`).trim();
  return v || fallback;
}

/** A short, visible form of a token's text (control characters shown as escapes). */
export function shownToken(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}
