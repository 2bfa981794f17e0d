// Inline SVG icons (stroke style, 24x24), built with DOM calls so the CSP needs no inline markup.
const NS = 'http://www.w3.org/2000/svg';

const SHAPES = {
  participant: [['circle', { cx: 12, cy: 8, r: 4 }], ['path', { d: 'M4 20c0-4 3.6-6 8-6s8 2 8 6' }]],
  host: [
    ['circle', { cx: 9, cy: 8, r: 3.5 }],
    ['path', { d: 'M2.5 20c0-3.5 3-5.5 6.5-5.5s6.5 2 6.5 5.5' }],
    ['circle', { cx: 17, cy: 9, r: 2.5 }],
    ['path', { d: 'M17 14c2.5 0 4.5 1.5 4.5 4.5' }],
  ],
  presenter: [['rect', { x: 3, y: 6, width: 13, height: 12, rx: 2 }], ['path', { d: 'M16 10l5-3v10l-5-3z' }]],
  viewer: [
    ['rect', { x: 3, y: 4, width: 18, height: 13, rx: 2 }],
    ['path', { d: 'M8 21h8M12 17v4' }],
    ['path', { d: 'M10.5 8.2v5.6l4.5-2.8z' }],
  ],
  settings: [
    ['path', { d: 'M4 7h10M18 7h2M4 17h4M12 17h8' }],
    ['circle', { cx: 16, cy: 7, r: 2 }],
    ['circle', { cx: 10, cy: 17, r: 2 }],
  ],
  alert: [['path', { d: 'M12 3l10 18H2z' }], ['path', { d: 'M12 10v5M12 18v.5' }]],
  plus: [['path', { d: 'M12 5v14M5 12h14' }]],
  close: [['path', { d: 'M6 6l12 12M18 6L6 18' }]],
};

export function icon(name, size = 20) {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', size);
  svg.setAttribute('height', size);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon');
  for (const [tag, attrs] of SHAPES[name] || []) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    svg.append(el);
  }
  return svg;
}
