// Input modality for focus rings: "keyboard" after a key press, "pointer" after a click or touch.
// Navigation keys and Tab count; typing a letter into a field doesn't change anything visible.
const NAV_KEYS = new Set(['Tab', 'ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Home', 'End', 'Enter', ' ', 'Escape']);

export function trackInputModality(root = document.documentElement) {
  root.dataset.input = 'pointer';
  document.addEventListener(
    'keydown',
    (e) => {
      if (NAV_KEYS.has(e.key) || e.ctrlKey || e.metaKey || e.altKey) root.dataset.input = 'keyboard';
    },
    true,
  );
  document.addEventListener('pointerdown', () => (root.dataset.input = 'pointer'), true);
}
