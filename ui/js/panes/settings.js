// Settings: server profiles (list + editor) and where settings and logs are stored.
// Rust owns the model: defaults come from `new_profile_form`, validation from `validate_profile` /
// `save_profile` as a field → message map that is shown inline under each field.
import { h, $, $$, replaceChildren } from '../dom.js';
import { icon } from '../icons.js';
import { invoke } from '../backend.js';
import { paneSection } from './common.js';
import { toast } from '../toast.js';

const SECRET_FIELDS = new Set(['password', 'token', 'adminPassword', 'accessToken']);

export const pane = {
  id: 'settings',
  title: 'Settings',
  icon: 'settings',
  description: 'Server profiles: where Red5 Desk connects, how it authenticates, and how media flows.',
  mount(store) {
    const { section, body } = paneSection(this);
    const ui = buildLayout();
    body.append(ui.root);
    const editor = createEditor(ui, store);

    store.subscribe((s) => {
      renderList(ui, s, editor);
      renderStorage(ui, s);
      editor.sync(s);
    });
    return section;
  },
};

function buildLayout() {
  const list = h('div', { id: 'profile-list', class: 'profile-list', role: 'listbox', 'aria-label': 'Server profiles' });
  const newKind = h('select', { id: 'new-kind', class: 'input', 'aria-label': 'Type of the new profile' });
  const newBtn = h('button', { id: 'profile-new', type: 'button', class: 'btn' }, icon('plus', 16), 'Add profile');
  const storage = h('dl', { id: 'settings-storage', class: 'storage' });
  const editorHost = h('div', { id: 'profile-editor', class: 'editor' });
  const root = h(
    'div',
    { class: 'settings-layout' },
    h(
      'div',
      { class: 'settings-side' },
      h('section', { class: 'card', 'aria-labelledby': 'profiles-title' },
        h('h2', { id: 'profiles-title' }, 'Server profiles'),
        list,
        h('div', { class: 'new-profile' }, newKind, newBtn),
      ),
      h('section', { class: 'card', 'aria-labelledby': 'storage-title' }, h('h2', { id: 'storage-title' }, 'Storage'), storage),
    ),
    editorHost,
  );
  return { root, list, newKind, newBtn, storage, editorHost };
}

function renderList(ui, s, editor) {
  const selected = editor.selectedId();
  const rows = s.profiles.map((p) => {
    const active = p.id === s.activeProfileId;
    const isSel = p.id === selected;
    return h(
      'div',
      {
        class: 'profile-row',
        role: 'option',
        id: `profile-${p.id}`,
        'data-profile-id': p.id,
        'aria-selected': String(isSel),
        tabindex: isSel || (!selected && active) ? '0' : '-1',
        onclick: () => editor.select(p.id),
      },
      h('span', { class: 'profile-name' }, p.name),
      active ? h('span', { class: 'badge', title: 'Used for new sessions' }, 'Active') : null,
      h('span', { class: 'profile-meta' }, `${p.kindLabel} · ${p.endpoint}`),
    );
  });
  ui.list.replaceChildren(...rows);

  const opts = s.kinds.filter((k) => k.creatable).map((k) => h('option', { value: k.key }, k.label));
  if (ui.newKind.options.length !== opts.length) ui.newKind.replaceChildren(...opts);
}

function renderStorage(ui, s) {
  const items = [];
  if (s.settings) {
    items.push(h('dt', {}, 'Settings file'), h('dd', { id: 'settings-path' }, s.settings.path));
    if (!s.settings.savingEnabled) items.push(h('dt', {}, 'Saving'), h('dd', { class: 'warn' }, 'Off for this session'));
  }
  if (s.app) items.push(h('dt', {}, 'Logs'), h('dd', {}, s.app.logDir || 'stderr only'));
  ui.storage.replaceChildren(...items);
}

function createEditor(ui, store) {
  let selectedId = null;
  let draft = null; // ProfileForm being edited
  let pristine = null; // JSON of the form as stored (null for a new profile)
  let errors = {};
  let touched = new Set();
  let showAll = false; // after a save attempt every message is shown
  let validateTimer = null;
  let showSecrets = false;

  // Keyboard in the list: arrows move the selection, Enter/Space focus the editor.
  ui.list.addEventListener('keydown', (e) => {
    const ids = store.get().profiles.map((p) => p.id);
    const i = ids.indexOf(selectedId);
    const next = { ArrowDown: Math.min(i + 1, ids.length - 1), ArrowUp: Math.max(i - 1, 0), Home: 0, End: ids.length - 1 }[e.key];
    if (next !== undefined) {
      e.preventDefault();
      if (select(ids[next])) $(`#profile-${CSS.escape(ids[next])}`)?.focus();
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      $('#pf-name')?.focus();
    }
  });

  ui.newBtn.addEventListener('click', async () => {
    if (!confirmDiscard()) return;
    try {
      const form = await invoke('new_profile_form', { kind: ui.newKind.value });
      open(null, form);
      $('#pf-name')?.focus();
    } catch (e) {
      toast(e.message, 'error');
    }
  });

  function dirty() {
    return draft !== null && JSON.stringify(draft) !== pristine;
  }

  function confirmDiscard() {
    return !dirty() || window.confirm('Discard unsaved changes to this profile?');
  }

  function select(id) {
    if (id === selectedId) return true;
    if (!confirmDiscard()) return false;
    const p = store.get().profiles.find((x) => x.id === id);
    if (!p) return false;
    open(id, p.form);
    return true;
  }

  function open(id, form) {
    selectedId = id;
    draft = structuredClone(form);
    pristine = id ? JSON.stringify(form) : null;
    errors = {};
    touched = new Set();
    showAll = false;
    render();
    store.update({}); // re-render the list selection
  }

  /** Called on every state change: keep the editor on a profile that still exists. */
  function sync(s) {
    if (!s.ready) return;
    if (selectedId === null && draft === null) {
      const p = s.profiles.find((x) => x.id === s.activeProfileId) || s.profiles[0];
      if (p) open(p.id, p.form);
      return;
    }
    if (selectedId !== null) {
      const p = s.profiles.find((x) => x.id === selectedId);
      if (!p) {
        const first = s.profiles[0];
        if (first) open(first.id, first.form);
      } else if (!dirty() && JSON.stringify(p.form) !== pristine) {
        open(p.id, p.form);
      } else {
        renderActions();
      }
    }
  }

  function field(key, label, { type = 'text', hint, placeholder, readonly, autocomplete = 'off', inputmode } = {}) {
    const id = `pf-${key}`;
    const isSecret = SECRET_FIELDS.has(key);
    const input = h('input', {
      id,
      name: key,
      class: 'input',
      type: isSecret && !showSecrets ? 'password' : type,
      value: draft[key] ?? '',
      placeholder,
      readonly: readonly || false,
      autocomplete,
      inputmode,
      spellcheck: 'false',
      'aria-describedby': `${id}-error${hint ? ` ${id}-hint` : ''}`,
      oninput: (e) => {
        draft[key] = e.target.value;
        changed(key);
      },
      onblur: () => {
        touched.add(key);
        renderErrors();
      },
    });
    return h(
      'div',
      { class: 'field', 'data-field': key },
      h('label', { for: id }, label),
      input,
      hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null,
      h('p', { class: 'field-error', id: `${id}-error`, 'aria-live': 'polite' }),
    );
  }

  function select_(key, label, options, { disabled } = {}) {
    const id = `pf-${key}`;
    const sel = h(
      'select',
      {
        id,
        name: key,
        class: 'input',
        disabled: disabled || false,
        'aria-describedby': `${id}-error`,
        onchange: (e) => {
          draft[key] = e.target.value;
          touched.add(key);
          if (key === 'kind') {
            render();
            $('#pf-kind')?.focus();
          }
          changed(key);
        },
      },
      options.map(([v, l]) => h('option', { value: v }, l)),
    );
    sel.value = draft[key];
    return h(
      'div',
      { class: 'field', 'data-field': key },
      h('label', { for: id }, label),
      sel,
      h('p', { class: 'field-error', id: `${id}-error`, 'aria-live': 'polite' }),
    );
  }

  function transportField() {
    const opts = [
      ['whipWhep', 'WHIP / WHEP', 'HTTP signalling; the default for Red5 Pro 11+.'],
      ['wsProxy', 'WebSocket proxy', 'Legacy WebSocket signalling through the Stream Manager proxy.'],
    ];
    return h(
      'fieldset',
      { class: 'field radio-group', 'data-field': 'transport', 'aria-describedby': 'pf-transport-error' },
      h('legend', {}, 'Preferred transport'),
      opts.map(([v, l, hint]) =>
        h(
          'label',
          { class: 'radio' },
          h('input', {
            type: 'radio',
            name: 'transport',
            id: `pf-transport-${v}`,
            value: v,
            checked: draft.transport === v,
            onchange: () => {
              draft.transport = v;
              changed('transport');
            },
          }),
          h('span', {}, h('strong', {}, l), h('span', { class: 'hint' }, hint)),
        ),
      ),
      h('p', { class: 'field-error', id: 'pf-transport-error', 'aria-live': 'polite' }),
    );
  }

  function iceRows() {
    const rows = (draft.iceServers || []).map((s, i) => {
      const inp = (k, label, type = 'text') =>
        h(
          'div',
          { class: 'field', 'data-field': `iceServers.${i}.${k}` },
          h('label', { for: `pf-iceServers-${i}-${k}` }, label),
          h('input', {
            id: `pf-iceServers-${i}-${k}`,
            class: 'input',
            type: k === 'credential' && !showSecrets ? 'password' : type,
            value: s[k] ?? '',
            spellcheck: 'false',
            autocomplete: 'off',
            placeholder: k === 'urls' ? 'stun:stun.example.com:3478' : '',
            'aria-describedby': `pf-iceServers-${i}-${k}-error`,
            oninput: (e) => {
              draft.iceServers[i][k] = e.target.value;
              changed(`iceServers.${i}.${k}`);
            },
            onblur: () => {
              touched.add(`iceServers.${i}.${k}`);
              renderErrors();
            },
          }),
          h('p', { class: 'field-error', id: `pf-iceServers-${i}-${k}-error`, 'aria-live': 'polite' }),
        );
      return h(
        'div',
        { class: 'ice-row', 'data-ice-index': i },
        inp('urls', `Server ${i + 1} URLs`),
        inp('username', 'Username'),
        inp('credential', 'Credential'),
        h(
          'button',
          {
            type: 'button',
            class: 'btn btn-icon',
            'aria-label': `Remove ICE server ${i + 1}`,
            title: 'Remove',
            onclick: () => {
              draft.iceServers.splice(i, 1);
              render();
              changed('iceServers');
            },
          },
          icon('close', 16),
        ),
      );
    });
    return h(
      'fieldset',
      { class: 'group', id: 'pf-ice' },
      h('legend', {}, 'ICE servers'),
      h('p', { class: 'hint' }, 'STUN/TURN servers for NAT traversal. Several URLs per server may be separated by commas.'),
      rows.length ? rows : h('p', { class: 'empty' }, 'None: only direct and server-provided candidates are used.'),
      h(
        'button',
        {
          type: 'button',
          id: 'pf-ice-add',
          class: 'btn',
          onclick: () => {
            draft.iceServers = [...(draft.iceServers || []), { urls: '', username: '', credential: '' }];
            render();
            $(`#pf-iceServers-${draft.iceServers.length - 1}-urls`)?.focus();
          },
        },
        icon('plus', 16),
        'Add ICE server',
      ),
    );
  }

  function render() {
    if (!draft) {
      ui.editorHost.replaceChildren(h('p', { class: 'empty' }, 'Select a profile.'));
      return;
    }
    const builtIn = draft.kind === 'builtIn';
    const isNew = selectedId === null;
    const kinds = store.get().kinds.filter((k) => k.creatable || builtIn).map((k) => [k.key, k.label]);
    const form = h(
      'form',
      {
        id: 'profile-form',
        class: 'card form',
        novalidate: true,
        'aria-labelledby': 'pf-title',
        onsubmit: (e) => {
          e.preventDefault();
          save();
        },
        onkeydown: (e) => {
          if ((e.ctrlKey || e.metaKey) && e.key === 's') {
            e.preventDefault();
            save();
          }
        },
      },
      h(
        'div',
        { class: 'form-head' },
        h('h2', { id: 'pf-title' }, isNew ? 'New profile' : builtIn ? 'Built-in local server' : 'Edit profile'),
        h(
          'label',
          { class: 'check' },
          h('input', {
            type: 'checkbox',
            id: 'pf-show-secrets',
            checked: showSecrets,
            onchange: (e) => {
              showSecrets = e.target.checked;
              render();
            },
          }),
          'Show passwords and tokens',
        ),
      ),
      builtIn
        ? h('p', { class: 'note' }, 'Runs inside Red5 Desk on this computer. You can change its port, app and transport.')
        : null,
      h(
        'fieldset',
        { class: 'group' },
        h('legend', {}, 'Server'),
        h(
          'div',
          { class: 'grid-2' },
          field('name', 'Name', { readonly: builtIn, placeholder: 'e.g. Production cluster' }),
          select_('kind', 'Server type', kinds, { disabled: builtIn }),
        ),
        h(
          'div',
          { class: 'grid-conn' },
          select_('scheme', 'Scheme', [['https', 'https'], ['http', 'http']], { disabled: builtIn }),
          field('host', 'Host', { readonly: builtIn, placeholder: 'sm.example.com' }),
          field('port', 'Port', { inputmode: 'numeric', placeholder: '443' }),
        ),
        field('app', 'App / context', { hint: 'The Red5 webapp and optional room, e.g. live or live/room1.' }),
        transportField(),
      ),
      draft.kind === 'sm2'
        ? h(
            'fieldset',
            { class: 'group', id: 'pf-sm2' },
            h('legend', {}, 'Stream Manager 2.0'),
            h('div', { class: 'grid-2' },
              field('nodeGroup', 'Node group', { placeholder: 'default' }),
              field('region', 'Region (optional)', { placeholder: 'us-east-1' })),
            h('div', { class: 'grid-2' },
              field('adminUser', 'Admin user', { hint: 'Exchanged for a JWT for host features.' }),
              field('adminPassword', 'Admin password')),
          )
        : null,
      draft.kind === 'sm1'
        ? h(
            'fieldset',
            { class: 'group', id: 'pf-sm1' },
            h('legend', {}, 'Stream Manager 1.x'),
            field('accessToken', 'Access token', { hint: 'Sent as accessToken on admin calls (compositions, provisions).' }),
          )
        : null,
      builtIn
        ? null
        : h(
            'fieldset',
            { class: 'group', id: 'pf-auth' },
            h('legend', {}, 'Round-trip authentication'),
            h('p', { class: 'hint' }, 'Sent as connection parameters when publishing or subscribing, if the server requires them.'),
            h('div', { class: 'grid-3' }, field('username', 'Username'), field('password', 'Password'), field('token', 'Token')),
          ),
      builtIn ? null : iceRows(),
      h('p', { id: 'pf-message', class: 'form-message', role: 'status' }),
      h('div', { id: 'pf-actions', class: 'actions' }),
    );
    ui.editorHost.replaceChildren(form);
    renderActions();
    renderErrors();
  }

  function renderActions() {
    const box = $('#pf-actions');
    if (!box || !draft) return;
    const s = store.get();
    const isNew = selectedId === null;
    const isActive = selectedId === s.activeProfileId;
    replaceChildren(
      box,
      h('button', { id: 'pf-save', type: 'submit', class: 'btn btn-primary', 'aria-keyshortcuts': 'Control+S' }, isNew ? 'Create profile' : 'Save'),
      h('button', { id: 'pf-revert', type: 'button', class: 'btn', onclick: revert }, isNew ? 'Cancel' : 'Revert'),
      h('span', { class: 'spacer' }),
      isNew
        ? null
        : h('button', { id: 'pf-activate', type: 'button', class: 'btn', disabled: isActive, onclick: activate },
            isActive ? 'In use' : 'Use this server'),
      isNew || draft.kind === 'builtIn'
        ? null
        : h('button', { id: 'pf-delete', type: 'button', class: 'btn btn-danger', onclick: remove }, 'Delete'),
    );
  }

  function renderErrors() {
    for (const el of $$('.field-error', ui.editorHost)) {
      const key = el.id.replace(/^pf-/, '').replace(/-error$/, '').replace(/-/g, '.');
      const msg = errors[key];
      const visible = msg && (showAll || touched.has(key));
      el.textContent = visible ? msg : '';
      const fieldEl = el.closest('.field');
      fieldEl?.classList.toggle('invalid', Boolean(visible));
      const control = $(`#pf-${CSS.escape(key.replace(/\./g, '-'))}`);
      if (control) control.setAttribute('aria-invalid', visible ? 'true' : 'false');
    }
  }

  function changed() {
    setMessage('');
    clearTimeout(validateTimer);
    validateTimer = setTimeout(async () => {
      try {
        errors = await invoke('validate_profile', { form: draft });
        renderErrors();
      } catch (e) {
        setMessage(e.message, 'error');
      }
    }, 200);
  }

  function setMessage(text, kind = 'info') {
    const el = $('#pf-message');
    if (!el) return;
    el.textContent = text;
    el.dataset.kind = kind;
  }

  async function save() {
    clearTimeout(validateTimer);
    showAll = true;
    try {
      const saved = await invoke('save_profile', { form: draft });
      errors = {};
      selectedId = saved.id;
      draft = structuredClone(saved.form);
      pristine = JSON.stringify(saved.form);
      render();
      setMessage(`Saved “${saved.name}”.`, 'ok');
      store.update({});
    } catch (e) {
      errors = e.fields || {};
      renderErrors();
      setMessage(e.message, 'error');
      const first = $('.field.invalid input, .field.invalid select', ui.editorHost);
      first?.focus();
    }
  }

  function revert() {
    if (selectedId === null) {
      draft = null;
      sync(store.get());
      return;
    }
    const p = store.get().profiles.find((x) => x.id === selectedId);
    if (p) open(p.id, p.form);
  }

  async function activate() {
    if (!confirmDiscard()) return;
    try {
      await invoke('set_active_profile', { id: selectedId });
      setMessage('New sessions will use this server.', 'ok');
    } catch (e) {
      setMessage(e.message, 'error');
    }
  }

  async function remove() {
    const p = store.get().profiles.find((x) => x.id === selectedId);
    if (!p || !window.confirm(`Delete the profile “${p.name}”?`)) return;
    try {
      await invoke('delete_profile', { id: selectedId });
      draft = null;
      selectedId = null;
      sync(store.get());
      toast(`Deleted “${p.name}”.`);
    } catch (e) {
      setMessage(e.message, 'error');
    }
  }

  return { select, sync, selectedId: () => selectedId };
}
