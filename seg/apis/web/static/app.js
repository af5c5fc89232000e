'use strict';
// The page of tools/app.py: every action is one call to the JSON API of seg/apis/web/server.py.

const $ = (id) => document.getElementById(id);
const canvas = $('canvas');
const context = canvas.getContext('2d');
const ui = {
  state: null,        // the latest GET /api/state
  frame: 0,           // index of the frame on the canvas
  image: null,        // its ImageBitmap
  prompts: {},        // 'frame:obj' -> {points: [[x, y]], labels: [1|0], box: [x1, y1, x2, y2] | null}
  lastPromptFrame: null,
  drag: null,         // {x0, y0, x1, y1} in frame pixels while a box is dragged
  loads: 0,           // frames drawn so far (tests wait on data-loads)
};

class ApiError extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: 'same-origin', ...options });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new ApiError(message);
  }
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.blob();
}

function post(path, body) {
  return api(path, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                     body: JSON.stringify(body || {}) });
}

function setStatus(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

async function guarded(work) {
  try { await work(); } catch (err) { setStatus(err.message, true); }
}

const currentObject = () => parseInt($('object').value, 10);
const promptKey = () => `${ui.frame}:${currentObject()}`;
function currentPrompt() {
  ui.prompts[promptKey()] = ui.prompts[promptKey()] || { points: [], labels: [], box: null };
  return ui.prompts[promptKey()];
}

function setObjects(ids) {
  const select = $('object');
  const keep = currentObject();
  const all = new Set([...ids, ...[...select.options].map((o) => parseInt(o.value, 10))]);
  if (!all.size) all.add(1);
  select.innerHTML = '';
  [...all].sort((a, b) => a - b).forEach((id) => select.add(new Option(`${id}`, `${id}`)));
  select.value = all.has(keep) ? `${keep}` : `${[...all][0]}`;
}

function applyState(state) {
  ui.state = state;
  $('open-path-row').hidden = !state.can_open_paths;
  const hasResult = state.files.includes('result.mp4');
  $('show-result').disabled = !hasResult;
  if (!hasResult) $('show-result').checked = false;
  $('download-result').hidden = !hasResult;
  if (!state.video) { $('video-info').textContent = 'no video open'; return; }
  const [h, w] = state.size;
  $('video-info').textContent = `${state.video}: ${state.num_frames} frames, ${w}×${h}` +
    (state.fps ? `, ${state.fps.toFixed(2)} fps` : '');
  $('slider').max = `${state.num_frames - 1}`;
  setObjects(state.objects);
  $('backends').textContent = 'backends: ' + Object.entries(state.backends)
    .map(([role, [name, why]]) => `${role} ${name} (${why})`).join('; ');
}

async function refreshState() { applyState(await api('/api/state')); }

function draw() {
  if (!ui.image) return;
  context.drawImage(ui.image, 0, 0);
  const prompt = ui.prompts[promptKey()];
  const scale = Math.max(1, canvas.width / 400);
  const box = ui.drag ? [ui.drag.x0, ui.drag.y0, ui.drag.x1, ui.drag.y1] : prompt && prompt.box;
  if (box) {
    context.strokeStyle = '#ffd400';
    context.lineWidth = 2 * scale;
    context.setLineDash([6 * scale, 4 * scale]);
    context.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
    context.setLineDash([]);
  }
  (prompt ? prompt.points : []).forEach(([x, y], i) => {
    context.beginPath();
    context.arc(x, y, 5 * scale, 0, 2 * Math.PI);
    context.fillStyle = prompt.labels[i] ? '#00d000' : '#ff2020';
    context.fill();
    context.lineWidth = 1.5 * scale;
    context.strokeStyle = '#fff';
    context.stroke();
  });
}

async function loadFrame() {
  if (!ui.state || !ui.state.video) return;
  const index = ui.frame;
  const view = $('show-result').checked ? 'result' : 'video';
  const overlay = $('show-masks').checked ? 1 : 0;
  const blob = await api(`/api/frame/${index}?overlay=${overlay}&view=${view}&t=${Date.now()}`);
  const image = await createImageBitmap(blob);
  if (index !== ui.frame) return;  // the slider moved on meanwhile
  ui.image = image;
  canvas.width = image.width;
  canvas.height = image.height;
  draw();
  $('frame-label').textContent = `frame ${index} / ${ui.state.num_frames - 1}`;
  ui.loads += 1;
  canvas.dataset.frame = `${index}`;
  canvas.dataset.loads = `${ui.loads}`;
}

function goTo(index) {
  if (!ui.state || !ui.state.video) return;
  ui.frame = Math.min(Math.max(index, 0), ui.state.num_frames - 1);
  $('slider').value = `${ui.frame}`;
  guarded(loadFrame);
}

async function opened(state) {
  ui.prompts = {};
  ui.lastPromptFrame = null;
  $('object').innerHTML = '<option value="1">1</option>';
  $('overlay-video').hidden = $('result-video').hidden = true;
  applyState(state);
  ui.frame = 0;
  $('slider').value = '0';
  await loadFrame();
  setStatus(`opened ${state.video}: click on the object`);
}

async function upload(file) {
  const limit = ui.state ? ui.state.max_upload_mb : Infinity;
  if (file.size > limit * 2 ** 20) {
    throw new ApiError(`${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MiB, over the limit of ${limit} MiB`);
  }
  setStatus(`uploading ${file.name}…`);
  await opened(await api(`/api/upload?name=${encodeURIComponent(file.name)}`, { method: 'POST', body: file }));
}

// Frame pixel under the mouse, kept inside the frame (a drag may end outside the canvas).
function framePoint(event) {
  const rect = canvas.getBoundingClientRect();
  const clamp = (value, size) => Math.min(Math.max(value, 0), size - 1);
  return [clamp((event.clientX - rect.left) * canvas.width / rect.width, canvas.width),
          clamp((event.clientY - rect.top) * canvas.height / rect.height, canvas.height)];
}

const mode = () => document.querySelector('input[name="mode"]:checked').value;

async function sendPrompt() {
  const prompt = currentPrompt();
  const body = { frame: ui.frame, obj_id: currentObject(), points: prompt.points, labels: prompt.labels,
                 box: prompt.box };
  setStatus('segmenting…');
  const result = await post('/api/prompt', body);
  ui.lastPromptFrame = result.frame;
  setObjects(result.objects);
  await loadFrame();
  setStatus(`object ${result.obj_id} on frame ${result.frame}: ${result.area} px`);
}

canvas.addEventListener('mousedown', (event) => {
  if (!ui.image) return;
  const [x, y] = framePoint(event);
  ui.drag = { x0: x, y0: y, x1: x, y1: y, shift: event.shiftKey };
});

window.addEventListener('mousemove', (event) => {
  if (!ui.drag || mode() !== 'box') return;
  [ui.drag.x1, ui.drag.y1] = framePoint(event);
  draw();
});

window.addEventListener('mouseup', (event) => {
  if (!ui.drag) return;
  const drag = ui.drag;
  ui.drag = null;
  [drag.x1, drag.y1] = framePoint(event);
  const prompt = currentPrompt();
  if (mode() === 'box') {
    const box = [Math.min(drag.x0, drag.x1), Math.min(drag.y0, drag.y1),
                 Math.max(drag.x0, drag.x1), Math.max(drag.y0, drag.y1)];
    if (box[2] - box[0] < 3 || box[3] - box[1] < 3) { draw(); return; }
    prompt.box = box;
  } else {
    prompt.points.push([drag.x0, drag.y0]);
    prompt.labels.push(mode() === 'negative' || drag.shift ? 0 : 1);
  }
  draw();
  guarded(sendPrompt);
});

async function runJob(start, done) {
  const job = await start();
  const bar = $('progress');
  bar.hidden = false;
  $('actions').dataset.job = job.kind;
  document.querySelectorAll('#actions button').forEach((b) => { b.disabled = true; });
  try {
    for (;;) {
      const now = await api('/api/job');
      if (now.total) { bar.max = now.total; bar.value = now.done; } else { bar.removeAttribute('value'); }
      $('progress-label').textContent = now.total ? `${now.kind} ${now.done}/${now.total}` : `${now.kind}…`;
      if (!now.running) {
        if (now.error) throw new ApiError(now.error);
        await done(now);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  } finally {
    document.querySelectorAll('#actions button').forEach((b) => { b.disabled = false; });
    delete $('actions').dataset.job;
    await refreshState();
  }
}

$('upload').addEventListener('change', () => {
  const file = $('upload').files[0];
  if (file) guarded(() => upload(file));
});
$('open-path').addEventListener('click', () => guarded(async () => {
  setStatus('opening…');
  await opened(await post('/api/open', { path: $('path').value }));
}));
$('slider').addEventListener('input', () => goTo(parseInt($('slider').value, 10)));
$('prev').addEventListener('click', () => goTo(ui.frame - 1));
$('next').addEventListener('click', () => goTo(ui.frame + 1));
document.addEventListener('keydown', (event) => {
  if (event.target.tagName === 'INPUT') return;  // text fields type, the slider steps itself
  if (event.key === 'ArrowLeft') goTo(ui.frame - 1);
  if (event.key === 'ArrowRight') goTo(ui.frame + 1);
});
$('show-masks').addEventListener('change', () => guarded(loadFrame));
$('show-result').addEventListener('change', () => guarded(loadFrame));
$('object').addEventListener('change', draw);
$('new-object').addEventListener('click', () => {
  const ids = [...$('object').options].map((o) => parseInt(o.value, 10));
  const id = Math.max(0, ...ids) + 1;
  $('object').add(new Option(`${id}`, `${id}`));
  $('object').value = `${id}`;
  setStatus(`object ${id}: click on it`);
  draw();
});
$('clear-prompt').addEventListener('click', () => { delete ui.prompts[promptKey()]; draw(); });
$('delete-object').addEventListener('click', () => guarded(async () => {
  const id = currentObject();
  applyState(await post(`/api/objects/${id}/delete`));
  Object.keys(ui.prompts).filter((k) => k.endsWith(`:${id}`)).forEach((k) => delete ui.prompts[k]);
  await loadFrame();
  setStatus(`object ${id} deleted`);
}));
$('propagate').addEventListener('click', () => guarded(() => runJob(
  () => post('/api/propagate', { start: ui.lastPromptFrame === null ? ui.frame : ui.lastPromptFrame,
                                 reverse: $('reverse').checked }),
  async (job) => { await loadFrame(); setStatus(`propagated through ${job.done} frames`); })));
$('remove').addEventListener('click', () => guarded(() => runJob(
  () => post('/api/inpaint', {}),
  async () => {
    await refreshState();
    $('show-result').checked = true;
    $('result-video').src = `/api/files/result.mp4?t=${Date.now()}`;
    $('result-video').hidden = false;
    await loadFrame();
    setStatus('object removed: scrub the result, or download it');
  })));
$('export-masks').addEventListener('click', () => guarded(() => runJob(
  () => post('/api/export', { what: 'masks' }),
  async () => {
    const link = document.createElement('a');
    link.href = '/api/files/masks.zip?download=1';
    link.download = 'masks.zip';
    document.body.append(link);
    link.click();
    link.remove();
    setStatus('masks exported: masks.zip (palette PNGs in masks/, COCO RLE in masks_coco_rle.json)');
  })));
$('export-overlay').addEventListener('click', () => guarded(() => runJob(
  () => post('/api/export', { what: 'overlay' }),
  async () => {
    $('overlay-video').src = `/api/files/overlay.mp4?t=${Date.now()}`;
    $('overlay-video').hidden = false;
    setStatus('overlay video ready (right-click → save to keep it)');
  })));

guarded(async () => {
  await refreshState();
  if (ui.state.video) await opened(ui.state);
});
