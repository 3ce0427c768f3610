// The report's own script: table sorting, the grid viewer and its lightbox.
// Data comes from the JSON block above; every text reaches the page through textContent,
// never innerHTML, so a prompt or file name cannot become markup.
'use strict';

// --- Sortable tables ---------------------------------------------------------------------
for (const header of document.querySelectorAll('table.sortable th[data-sort]')) {
  header.addEventListener('click', () => {
    const body = header.closest('table').tBodies[0];
    const column = header.cellIndex, numeric = header.dataset.sort === 'number';
    const descending = header.dataset.order !== 'desc';
    header.dataset.order = descending ? 'desc' : 'asc';
    const key = row => {
      const cell = row.cells[column];
      return numeric ? parseFloat(cell.dataset.value || 'NaN') : cell.textContent.trim();
    };
    const rows = Array.from(body.rows).sort((a, b) => {
      const x = key(a), y = key(b);
      if (numeric) { return isNaN(x) ? 1 : isNaN(y) ? -1 : (descending ? y - x : x - y); }
      return descending ? y.localeCompare(x) : x.localeCompare(y);
    });
    rows.forEach(row => body.appendChild(row));
  });
}

// --- Grid viewer -------------------------------------------------------------------------
const data = JSON.parse(document.getElementById('grid-data').textContent);
const variantByName = new Map(data.variants.map(v => [v.name, v]));
const variantOf = new Map(data.variants.map(v => [JSON.stringify([v.subject, v.placement, v.weight]), v]));
const imageOf = new Map(data.images.map(im => [JSON.stringify([im.model, im.strength ?? null, im.seed, im.cfg, im.variant]), im]));
const axisByName = new Map(data.axes.map(a => [a.name, a]));
// The untrained models, shown beside the checkpoints: the base model, the stills' words.
const CONTROLS = data.controls || ['base'];
const isControl = model => CONTROLS.includes(model);
// Axes with a single value are never worth a menu; their one value is used throughout.
const choosable = data.axes.filter(a => a.values.length > 1);
const PREFIX = { step: 'step ', seed: 'seed ', cfg: 'CFG ', weight: 'weight ', strength: 'strength ' };
// A model at a strength, as the tables name it: lora/step-20@0.5 (strength 1 and the base: the plain name).
const labelOf = image => (image.strength ?? 1) === 1 ? image.model : `${image.model}@${image.strength}`;
const format = (axis, value) => (PREFIX[axis] || '') + value;
// A record's thumbnail sits at its image's path with thumbs/ for images/ and a .webp suffix;
// its settings line is a shared one with its seed put back in (see collect_images).
const thumbOf = image => image.thumb ? `thumbs/${image.full.slice(7).replace(/\.[^./]*$/, '')}.webp` : image.full;
function settingsOf(image) {
  const parts = data.settings[image.settings];
  return parts.length === 1 ? parts[0] : parts[0] + image.seed + parts[1];
}
// The A1111 infotext of an image, as its PNG carries it.
function infotext(image) {
  const variant = variantByName.get(image.variant);
  const lines = [image.tag ? `${variant.prompt} ${image.tag}`.trimStart() : variant.prompt];
  if (variant.negative) { lines.push(`Negative prompt: ${variant.negative}`); }
  lines.push(settingsOf(image));
  return lines.join('\n');
}

// The model axis stands for run and step together, so it never shares the page with them.
const CLASHES = { model: ['run', 'step'], run: ['model'], step: ['model'] };
const clash = (a, b) => a && b && (a === b || (CLASHES[a] || []).includes(b));

const state = { x: 'model', y: 'seed', z: '', fixed: {} };
for (const axis of data.axes) { state.fixed[axis.name] = axis.values[0]; }
// With the run fixed by its menu, start on the first trained run: the base is the control.
state.fixed.run = axisByName.get('run').values.find(run => !isControl(run)) ?? 'base';
// Strength 1, the checkpoints as trained, when it was rendered.
if (axisByName.get('strength')?.values.includes(1)) { state.fixed.strength = 1; }
if (!axisByName.get('seed') || axisByName.get('seed').values.length < 2) { state.y = choosable.find(a => !clash(a.name, 'model'))?.name || ''; }

const usesModel = () => [state.x, state.y, state.z].includes('model');
const showsBase = () => [state.x, state.y, state.z].some(n => n === 'model' || n === 'run');

function find(assignment) {
  const a = assignment;
  const model = a.model !== undefined ? a.model : (isControl(a.run) ? a.run : `${a.run}/step-${a.step}`);
  const strength = isControl(model) ? null : a.strength;
  const variant = variantOf.get(JSON.stringify([a.subject, a.placement, a.weight]));
  return variant && imageOf.get(JSON.stringify([model, strength, a.seed, a.cfg, variant.name]));
}

function option(select, value, text) {
  const element = document.createElement('option');
  element.value = value;
  element.textContent = text;
  select.appendChild(element);
}

function buildControls() {
  for (const [id, allowNone] of [['axis-x', false], ['axis-y', true], ['axis-z', true]]) {
    const select = document.getElementById(id);
    if (allowNone) { option(select, '', '(none)'); }
    for (const axis of choosable) { option(select, axis.name, axis.label); }
    const key = id.slice(-1);
    select.value = state[key];
    select.addEventListener('change', () => chooseAxis(key, select.value));
  }
  document.getElementById('cell-size').addEventListener('input', event => {
    document.getElementById('grid-view').style.setProperty('--cell', `${event.target.value}px`);
  });
  const fixed = document.getElementById('fixed-axes');
  for (const axis of choosable) {
    if (axis.name === 'model') { continue; }  // fixed through its run and step menus
    const label = document.createElement('label');
    label.dataset.axis = axis.name;
    label.append(`${axis.label} `);
    const select = document.createElement('select');
    select.id = `fixed-${axis.name}`;
    axis.values.forEach((value, index) => option(select, String(index), format(axis.name, value)));
    select.value = String(axis.values.indexOf(state.fixed[axis.name]));  // the run starts on a trained one
    select.addEventListener('change', () => {
      state.fixed[axis.name] = axis.values[Number(select.value)];
      render();
    });
    label.appendChild(select);
    fixed.appendChild(label);
  }
}

function chooseAxis(key, name) {
  // A place that showed the new axis (or one it clashes with) takes this place's old axis.
  const previous = state[key];
  state[key] = name;
  for (const other of ['x', 'y', 'z']) {
    if (other === key || !clash(name, state[other])) { continue; }
    let replacement = clash(name, previous) ? '' : previous;
    if (other === 'x' && !replacement) {
      const taken = [state.y, state.z];
      replacement = choosable.find(a => !taken.some(t => clash(a.name, t)))?.name || '';
    }
    state[other] = replacement;
  }
  if (!state.x) {  // no axis is left for the columns (only model, run and step vary): take them
    [state.x, state[key]] = [name, ''];
  }
  for (const place of ['x', 'y', 'z']) { document.getElementById(`axis-${place}`).value = state[place]; }
  render();
}

function updateFixedMenus() {
  const onAxis = [state.x, state.y, state.z];
  for (const label of document.querySelectorAll('#fixed-axes label')) {
    const name = label.dataset.axis;
    const hidden = onAxis.includes(name) || (usesModel() && (name === 'run' || name === 'step'));
    label.hidden = hidden;
  }
}

let grids = [];  // grids[g][row][column] = image record or undefined; for the lightbox

function headerCell(tag, text, title) {
  const cell = document.createElement(tag);
  cell.textContent = text;
  if (title) { cell.title = title; }
  return cell;
}

function render() {
  updateFixedMenus();
  const view = document.getElementById('grid-view');
  view.replaceChildren();
  grids = [];
  const x = axisByName.get(state.x);
  const y = state.y ? axisByName.get(state.y) : { name: '', label: '', values: [null] };
  const zValues = state.z ? axisByName.get(state.z).values : [null];
  const base = !showsBase();
  const columns = [...(base ? CONTROLS.map(control => ({ control })) : []), ...x.values.map(value => ({ value }))];
  for (const zValue of zValues) {
    const g = grids.length;
    const cells = [];
    if (state.z) {
      view.appendChild(headerCell('h3', format(state.z, zValue))).className = 'zlabel';
    }
    const table = document.createElement('table');
    table.className = 'grid';
    const head = table.insertRow();
    const corner = head.appendChild(headerCell('th', `${x.label} →`));
    corner.className = 'corner';
    if (y.label) { corner.appendChild(headerCell('div', `${y.label} ↓`)); }
    for (const column of columns) {
      const th = head.appendChild(headerCell('th', column.control ? `${column.control} (control)` : format(x.name, column.value)));
      if (column.control) { th.className = 'control'; }
    }
    y.values.forEach((yValue, r) => {
      const row = table.insertRow();
      const rowCells = [];
      row.appendChild(headerCell('th', y.name ? format(y.name, yValue) : ''));
      columns.forEach((column, c) => {
        const assignment = { ...state.fixed };
        delete assignment.model;
        if (state.z) { assignment[state.z] = zValue; }
        if (y.name) { assignment[y.name] = yValue; }
        if (column.control) { assignment.run = column.control; } else { assignment[x.name] = column.value; }
        const image = find(assignment);
        rowCells.push(image);
        const td = row.insertCell();
        if (column.control) { td.className = 'control'; }
        td.appendChild(image ? thumbnail(image, g, r, c) : headerCell('span', 'missing'));
        if (!image) { td.firstChild.className = 'missing muted'; }
      });
      cells.push(rowCells);
    });
    grids.push(cells);
    const wrap = document.createElement('div');
    wrap.className = 'wrap';
    wrap.appendChild(table);
    view.appendChild(wrap);
  }
}

function describe(image) {
  return `${labelOf(image)} · seed ${image.seed} · CFG ${image.cfg} · ${image.variant}`;
}

function thumbnail(image, g, r, c) {
  const link = document.createElement('a');
  link.href = image.full;
  link.className = 'cell';
  const img = document.createElement('img');
  img.loading = 'lazy';
  img.src = thumbOf(image);  // no thumbnail: the image is small already
  img.alt = describe(image);
  img.title = describe(image);
  img.addEventListener('load', () => img.classList.toggle('small', img.naturalWidth < 128));
  link.appendChild(img);
  link.addEventListener('click', event => {
    event.preventDefault();
    openLightbox(g, r, c);
  });
  return link;
}

// --- Lightbox ----------------------------------------------------------------------------
const box = document.getElementById('lightbox');
let at = null;  // { g, r, c } of the image shown
let opener = null;

function openLightbox(g, r, c) {
  opener = document.activeElement;
  box.hidden = false;
  show(g, r, c);
  document.getElementById('lb-close').focus();
}

function closeLightbox() {
  box.hidden = true;
  at = null;
  if (opener) { opener.focus(); }
}

function show(g, r, c) {
  const image = grids[g][r][c];
  at = { g, r, c };
  const variant = variantByName.get(image.variant);
  const img = document.getElementById('lb-image');
  img.onload = () => img.classList.toggle('small', img.naturalWidth < 256);
  img.src = image.full;
  img.alt = describe(image);
  document.getElementById('lb-link').href = image.full;
  document.getElementById('lb-open').href = image.full;
  document.getElementById('lb-title').textContent = labelOf(image);
  const fields = document.getElementById('lb-fields');
  fields.replaceChildren();
  for (const [term, value] of [
    ['seed', image.seed], ['CFG scale', image.cfg], ['strength', image.strength ?? '–'], ['subject', variant.subject], ['variant', image.variant],
    ['key placement', variant.placement], ['key weight', variant.weight], ['file', image.full],
  ]) {
    fields.appendChild(headerCell('dt', term));
    fields.appendChild(headerCell('dd', String(value)));
  }
  const scores = document.getElementById('lb-scores');
  scores.replaceChildren();
  (image.scores || []).forEach((value, i) => {
    scores.appendChild(headerCell('dt', data.metrics[i]));
    scores.appendChild(headerCell('dd', value === null ? '–' : value.toFixed(3)));
  });
  const still = document.getElementById('lb-still');
  still.hidden = !image.still;
  if (image.still) {
    document.getElementById('lb-still-image').src = 'dataset/' + image.still;
    document.getElementById('lb-still-name').textContent = image.still;
  }
  document.getElementById('lb-params').textContent = infotext(image);
  document.getElementById('lb-copied').textContent = '';
}

// Copy the infotext: the Clipboard API where the page may use it, else a selected textarea.
async function copyInfotext() {
  const text = document.getElementById('lb-params').textContent;
  const status = document.getElementById('lb-copied');
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    box.appendChild(area);
    area.select();
    const copied = document.execCommand('copy');
    area.remove();
    if (!copied) { status.textContent = ' Select the text above and copy it.'; return; }
  }
  status.textContent = ' Copied.';
}

// Move to the nearest image in a direction, stepping over missing cells.
function move(dr, dc) {
  if (!at) { return; }
  const cells = grids[at.g];
  let { r, c } = at;
  for (;;) {
    r += dr; c += dc;
    if (r < 0 || r >= cells.length || c < 0 || c >= cells[r].length) { return; }
    if (cells[r][c]) { show(at.g, r, c); return; }
  }
}

document.getElementById('lb-close').addEventListener('click', closeLightbox);
document.getElementById('lb-copy').addEventListener('click', copyInfotext);
document.getElementById('lb-prev').addEventListener('click', () => move(0, -1));
document.getElementById('lb-next').addEventListener('click', () => move(0, 1));
box.addEventListener('click', event => { if (event.target === box) { closeLightbox(); } });
document.addEventListener('keydown', event => {
  if (box.hidden) { return; }
  const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
  if (event.key === 'Escape') { closeLightbox(); } else if (moves[event.key]) { move(...moves[event.key]); } else { return; }
  event.preventDefault();
});

// --- Charts: a click on a point or a cell shows the images behind it ---------------------
// Its link, #show?model=...&seed=...&note=..., names the grid axes it fixes; the others are
// laid out as columns, rows and a stack, and the lightbox opens on the first of its images.
const LAYOUT = ['seed', 'cfg', 'placement', 'weight', 'subject', 'strength', 'model'];

function linkOf(anchor) {
  const href = anchor.href.baseVal ?? anchor.getAttribute('href');
  const params = new URLSearchParams(href.slice(href.indexOf('?') + 1));
  const shown = {};
  for (let [name, text] of params) {
    if (name === 'model' && text.includes('@')) {  // a checkpoint at a strength
      shown.strength = Number(text.slice(text.lastIndexOf('@') + 1));
      text = text.slice(0, text.lastIndexOf('@'));
    } else if (name === 'model' && !isControl(text) && axisByName.get('strength')?.values.includes(1)) {
      shown.strength = 1;
    }
    const axis = axisByName.get(name);
    const value = axis && axis.values.find(v => String(v) === text || Number(v) === Number(text));
    if (value !== undefined) { shown[name] = value; }
  }
  return { shown, note: params.get('note') };
}

function showImages(shown) {
  const fixed = { ...shown };
  if (shown.model !== undefined) {
    fixed.run = isControl(shown.model) ? shown.model : shown.model.slice(0, shown.model.lastIndexOf('/step-'));
    if (!isControl(shown.model)) { fixed.step = Number(shown.model.slice(shown.model.lastIndexOf('/step-') + 6)); }
    delete fixed.model;
  }
  Object.assign(state.fixed, fixed);
  const taken = new Set([...Object.keys(fixed), ...(shown.model !== undefined ? ['model'] : [])]);
  const free = LAYOUT.filter(n => choosable.some(a => a.name === n) && !taken.has(n));
  [state.x, state.y, state.z] = [free[0] || 'model', free[1] || '', free[2] || ''];
  if (state.x === 'model') { [state.y, state.z] = ['', '']; }
  for (const key of ['x', 'y', 'z']) { document.getElementById(`axis-${key}`).value = state[key]; }
  for (const axis of choosable) {
    const select = document.getElementById(`fixed-${axis.name}`);
    if (select) { select.value = String(axis.values.indexOf(state.fixed[axis.name])); }
  }
  render();
  document.getElementById('grids').scrollIntoView();
  const matches = image => image && Object.entries(shown).every(([name, value]) =>
    (name === 'model' ? image.model : name === 'cfg' ? image.cfg : name === 'seed' ? image.seed
      : name === 'strength' ? (isControl(image.model) ? value : image.strength)
        : variantByName.get(image.variant)[name]) === value);
  for (const [g, cells] of grids.entries()) {
    for (const [r, row] of cells.entries()) {
      const c = row.findIndex(matches);
      if (c >= 0) { openLightbox(g, r, c); return; }
    }
  }
}

for (const anchor of document.querySelectorAll('svg.chart a')) {
  const { shown, note } = linkOf(anchor);
  const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
  const names = Object.entries(shown).map(([name, value]) => name === 'model' ? value : format(name, value));
  title.textContent = `${names.join(' · ')}: ${note} (click for the images)`;
  anchor.prepend(title);
  anchor.addEventListener('click', event => {
    event.preventDefault();
    showImages(shown);
  });
}

buildControls();
render();

// --- Blind comparison (index.html#compare) -------------------------------------------------
// Two pictures of one recipe from two models, sides drawn at random, no model named: the
// data holds only anonymous model numbers and each picture's recipe key (compare/KEY.png).
// Votes stay in localStorage until downloaded as votes.json (report.votes in config.yaml).
const compareData = document.getElementById('compare-data');
if (compareData) {
  const cmp = JSON.parse(compareData.textContent);
  const view = document.getElementById('compare');
  // per report folder: the votes outlive a rebuild of the page (new models, new pictures)
  const storeKey = `stylesweep-votes:${location.pathname}`;
  const modelOf = new Map();  // recipe key -> model number
  for (const row of cmp.recipes) { row.forEach((key, m) => { if (key) { modelOf.set(key, m); } }); }
  let votes = [];
  try { votes = JSON.parse(localStorage.getItem(storeKey) || '[]'); } catch { votes = []; }
  let pair = null;

  // mulberry32: a small seeded generator, so the same seed and votes give the same pairs
  function generator(seed) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6D2B79F5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // The models' standing: the metric's order (half a vote a place), moved by the votes.
  function standing() {
    const score = new Map(cmp.rank.map((m, place) => [m, -place / 2]));
    for (const vote of votes) {
      const left = modelOf.get(vote.left), right = modelOf.get(vote.right);
      if (left === undefined || right === undefined || vote.winner === 'same') { continue; }
      const [won, lost] = vote.winner === 'left' ? [left, right] : [right, left];
      score.set(won, score.get(won) + 1);
      score.set(lost, score.get(lost) - 1);
    }
    return [...score.keys()].sort((a, b) => score.get(b) - score.get(a) || a - b);
  }

  // The next pair: two models at most two places apart in the standing, on a recipe both
  // rendered, drawn from the seed and the number of votes so far.
  function nextPair() {
    const random = generator(cmp.seed * 7919 + votes.length);
    const order = standing();
    for (let attempt = 0; attempt < 200; attempt++) {
      const i = Math.floor(random() * (order.length - 1));
      const j = Math.min(i + 1 + Math.floor(random() * 2), order.length - 1);
      const a = order[i], b = order[j];
      const shared = cmp.recipes.filter(row => row[a] && row[b]);
      if (!shared.length) { continue; }
      const row = shared[Math.floor(random() * shared.length)];
      return random() < 0.5 ? [row[a], row[b]] : [row[b], row[a]];
    }
    return null;
  }

  let shown = 0;  // pictures of the pair on screen: a vote counts once both are
  function showPair() {
    pair = nextPair();
    shown = 0;
    view.dataset.ready = 'false';
    for (const [side, key] of [['left', pair?.[0]], ['right', pair?.[1]]]) {
      const img = document.getElementById(`compare-${side}`);
      img.onload = () => { shown += 1; view.dataset.ready = String(shown === 2); };
      if (key) { img.src = `compare/${key}.png`; } else { img.removeAttribute('src'); }
    }
    document.getElementById('compare-count').textContent =
      `${votes.length} vote${votes.length === 1 ? '' : 's'} so far`;
  }

  function vote(winner) {
    if (!pair || shown < 2) { return; }
    votes.push({ left: pair[0], right: pair[1], winner });
    try { localStorage.setItem(storeKey, JSON.stringify(votes)); } catch { /* kept for this visit only */ }
    showPair();
  }

  function download() {
    const file = { format: 'stylesweep-votes', version: 1, seed: cmp.seed, sweep: cmp.sweep, title: document.title, votes };
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([JSON.stringify(file, null, 1)], { type: 'application/json' }));
    link.download = 'votes.json';
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  function leave() {
    view.hidden = true;
    history.replaceState(null, '', location.pathname + location.search);
  }

  function follow() {
    if (location.hash === '#compare') {
      view.hidden = false;
      showPair();
      document.getElementById('compare-pick-left').focus();
    } else {
      view.hidden = true;
    }
  }

  document.getElementById('compare-pick-left').addEventListener('click', () => vote('left'));
  document.getElementById('compare-pick-right').addEventListener('click', () => vote('right'));
  document.getElementById('compare-same').addEventListener('click', () => vote('same'));
  document.getElementById('compare-download').addEventListener('click', download);
  document.getElementById('compare-leave').addEventListener('click', leave);
  document.addEventListener('keydown', event => {
    if (view.hidden) { return; }
    const actions = { ArrowLeft: () => vote('left'), ArrowRight: () => vote('right'), ArrowDown: () => vote('same'), Escape: leave };
    if (!actions[event.key]) { return; }
    event.preventDefault();
    actions[event.key]();
  });
  window.addEventListener('hashchange', follow);
  follow();
}
