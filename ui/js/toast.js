// One transient message at a time, announced to screen readers (role="alert" on #toast).
import { $ } from './dom.js';

let timer = null;

export function toast(text, kind = 'info', ms = 4000) {
  const el = $('#toast');
  if (!el) return;
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(timer);
  timer = setTimeout(() => {
    el.hidden = true;
  }, ms);
}
