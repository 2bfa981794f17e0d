// Shared pane scaffolding: every pane is a role="tabpanel" section with a header and a body.
import { h } from '../dom.js';

export function paneSection(pane) {
  const body = h('div', { class: 'pane-body' });
  const section = h(
    'section',
    { id: `pane-${pane.id}`, class: 'pane', role: 'tabpanel', 'aria-labelledby': `nav-${pane.id}`, hidden: true },
    h(
      'header',
      { class: 'pane-header' },
      h('h1', { id: `pane-${pane.id}-title`, tabindex: '-1' }, pane.title),
      h('p', { class: 'pane-subtitle' }, pane.description),
    ),
    body,
  );
  return { section, body };
}

/**
 * The layout every media pane shares: a 16:9 stage on the left and cards on the right.
 * Until the session engines land, the stage says what will appear there and the cards list what the
 * pane will do, so the structure is visible and later issues fill in the same elements by id.
 */
export function stageLayout(id, { stageTitle, stageText, cards }) {
  return h(
    'div',
    { class: 'stage-layout' },
    h(
      'div',
      { id: `${id}-stage`, class: 'stage', role: 'img', 'aria-label': stageTitle },
      h('div', { class: 'stage-placeholder' }, h('strong', {}, stageTitle), h('span', {}, stageText)),
    ),
    h(
      'div',
      { id: `${id}-side`, class: 'side' },
      cards.map((c) =>
        h(
          'section',
          { class: 'card', id: c.id, 'aria-labelledby': `${c.id}-title` },
          h('h2', { id: `${c.id}-title` }, c.title),
          c.text ? h('p', { class: 'muted' }, c.text) : null,
          c.items ? h('ul', { class: 'plan' }, c.items.map((i) => h('li', {}, i))) : null,
          c.empty ? h('p', { class: 'empty' }, c.empty) : null,
        ),
      ),
    ),
  );
}
