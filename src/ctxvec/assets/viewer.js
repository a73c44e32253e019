/* ctxvec attention viewer. Builds the whole UI inside `root` from the JSON in its
   script.ctxvec-data child; touches nothing outside `root`, loads nothing from the network. */
function ctxvecAttentionViewer(root) {
  "use strict";
  const data = JSON.parse(root.querySelector("script.ctxvec-data").textContent);
  const L = data.n_layers, H = data.n_heads, tokens = data.tokens, n = tokens.length;
  // Weights arrive as little-endian uint16 (value * 65535), base64: 2 bytes per weight.
  const raw = atob(data.weights);
  const w = new Float32Array(L * H * n * n);
  for (let i = 0; i < w.length; i++) {
    w[i] = (raw.charCodeAt(2 * i) | (raw.charCodeAt(2 * i + 1) << 8)) / 65535;
  }
  const at = (l, h, q, k) => w[((l * H + h) * n + q) * n + k];
  // A causal model's query q sees keys 0..q only: the others are masked, not zero attention.
  const visible = (q, k) => !data.causal || k <= q;
  const state = { layer: L - 1, head: 0, view: "single", zoom: "auto", stat: data.stat_names[0] };

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function select(cls, options, value) {
    const s = el("select", cls);
    for (const [v, label] of options) {
      const o = el("option", "", label);
      o.value = String(v);
      s.appendChild(o);
    }
    s.value = String(value);
    return s;
  }
  function labelled(text, control) {
    const lab = el("label", "", text + " ");
    lab.appendChild(control);
    return lab;
  }

  // Same colours as the static figures: viridis on a square-root scale of 0..1.
  const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
    [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
  function colour(v) {
    const x = Math.sqrt(Math.max(0, Math.min(1, v))) * (VIRIDIS.length - 1);
    const i = Math.min(Math.floor(x), VIRIDIS.length - 2), f = x - i;
    return VIRIDIS[i].map((c, j) => Math.round(c + f * (VIRIDIS[i + 1][j] - c)));
  }
  // Masked keys: the grey of the static figures, apart from every colour of the scale.
  const MASKED = [212, 212, 212];
  function headImage(l, h) {
    const c = el("canvas");
    c.width = n;
    c.height = n;
    const ctx = c.getContext("2d");
    const img = ctx.createImageData(n, n);
    for (let q = 0; q < n; q++) {
      for (let k = 0; k < n; k++) {
        const [r, g, b] = visible(q, k) ? colour(at(l, h, q, k)) : MASKED, p = 4 * (q * n + k);
        img.data[p] = r; img.data[p + 1] = g; img.data[p + 2] = b; img.data[p + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    return c;
  }
  // The weights' colour scale: 0..1 on the square-root scale the cells use, with its ticks.
  function colourScale() {
    const box = el("div", "scale");
    const bar = el("canvas", "scale-bar");
    bar.width = 200;
    bar.height = 10;
    const ctx = bar.getContext("2d");
    for (let x = 0; x < bar.width; x++) {
      const [r, g, b] = colour(x / (bar.width - 1));
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(x, 0, 1, bar.height);
    }
    const ticks = el("div", "scale-ticks");
    for (const t of [0, 0.05, 0.25, 0.5, 1]) {
      const tick = el("span", "", String(t));
      tick.style.left = `${Math.sqrt(t) * 200}px`;
      ticks.appendChild(tick);
    }
    box.append(el("span", "scale-label", "attention weight (colours on a square-root scale)"),
      bar, ticks);
    return box;
  }
  // The legend of the masked cells, for a causal model only.
  function causalNote() {
    const note = el("div", "causal-note");
    const swatch = el("span", "swatch");
    swatch.style.background = `rgb(${MASKED.join(",")})`;
    note.append(swatch, el("span", "", "causal model: a query sees only itself and the keys " +
      "before it; grey cells are masked (not zero attention), and the statistics are over the " +
      "keys each query can see"));
    return note;
  }
  const inSpan = (i) => data.span !== null && i >= data.span[0] && i <= data.span[1];
  function describe(l, h, q, k) {
    return `layer ${l + 1} head ${h + 1}: query ${q} "${tokens[q]}" → key ${k} "${tokens[k]}"` +
      (visible(q, k) ? `: ${at(l, h, q, k).toFixed(4)}` : ": masked (causal: not visible)");
  }
  const fmt = (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(3));

  // ------------------------------------------------------------------ layout
  root.appendChild(el("h2", "model", data.model));
  root.appendChild(el("div", "prediction", data.prediction));
  const controls = el("div", "controls");
  const layerSel = select("layer", [...Array(L).keys()].map((i) => [i, i + 1]), state.layer);
  const headSel = select("head", [...Array(H).keys()].map((i) => [i, i + 1]), state.head);
  const singleBtn = el("button", "view-single active", "single head");
  const gridBtn = el("button", "view-grid", "all heads of the layer");
  const zooms = [["auto", "auto"], ...[2, 3, 4, 6, 8, 12, 16].map((z) => [z, z + " px"])];
  const zoomSel = select("zoom", zooms, "auto");
  const statSel = select("stat", data.stat_names.map((s) => [s, data.stat_titles[s]]), state.stat);
  controls.append(labelled("layer", layerSel), labelled("head", headSel), singleBtn, gridBtn,
    labelled("cell", zoomSel), labelled("statistic", statSel));
  root.appendChild(controls);
  const title = el("div", "title");
  const hover = el("div", "hover", "hover a cell to read its weight");
  root.append(title, hover, colourScale());
  if (data.causal) root.appendChild(causalNote());
  const main = el("div", "main");
  const single = el("div", "single");
  const canvas = el("canvas", "head-canvas");
  single.appendChild(canvas);
  const grid = el("div", "grid hidden");
  const stats = el("div", "stats");
  const headStats = el("table", "head-stats");
  const headsCaption = el("div", "heads-caption");
  const heads = el("table", "heads");
  stats.append(headStats, headsCaption, heads);
  main.append(single, grid, stats);
  root.appendChild(main);

  // ------------------------------------------------------------- single head
  let geometry = { margin: 0, cell: 1 };
  function drawSingle() {
    const cell = state.zoom === "auto" ? Math.max(2, Math.min(16, Math.floor(640 / n)))
      : Number(state.zoom);
    const labels = cell >= 7;
    const ctx = canvas.getContext("2d");
    const font = `${Math.min(cell - 1, 12)}px sans-serif`;
    let margin = 4;
    if (labels) {
      ctx.font = font;
      margin = 8 + Math.max(...tokens.map((t) => ctx.measureText(t).width));
    }
    canvas.width = Math.ceil(margin + n * cell + 4);
    canvas.height = canvas.width;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(headImage(state.layer, state.head), margin, margin, n * cell, n * cell);
    if (labels) {
      ctx.font = font;
      ctx.textBaseline = "middle";
      for (let i = 0; i < n; i++) {
        ctx.fillStyle = inSpan(i) ? "crimson" : data.segment[i] < 0 ? "#777" : "#222";
        ctx.textAlign = "right";
        ctx.fillText(tokens[i], margin - 4, margin + (i + 0.5) * cell);
        ctx.save();
        ctx.translate(margin + (i + 0.5) * cell, margin - 4);
        ctx.rotate(-Math.PI / 2);
        ctx.textAlign = "left";
        ctx.fillText(tokens[i], 0, 0);
        ctx.restore();
      }
    }
    if (data.boundary !== null) {
      const b = margin + data.boundary * cell;
      ctx.strokeStyle = "red";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(b, margin); ctx.lineTo(b, margin + n * cell);
      ctx.moveTo(margin, b); ctx.lineTo(margin + n * cell, b);
      ctx.stroke();
    }
    geometry = { margin, cell };
    canvas.dataset.margin = String(margin);
    canvas.dataset.cell = String(cell);
  }
  function cellAt(event, target, margin, cell) {
    const rect = target.getBoundingClientRect();
    const scale = target.width / rect.width;
    const k = Math.floor(((event.clientX - rect.left) * scale - margin) / cell);
    const q = Math.floor(((event.clientY - rect.top) * scale - margin) / cell);
    return q >= 0 && q < n && k >= 0 && k < n ? [q, k] : null;
  }
  canvas.addEventListener("mousemove", (e) => {
    const hit = cellAt(e, canvas, geometry.margin, geometry.cell);
    if (hit) hover.textContent = describe(state.layer, state.head, hit[0], hit[1]);
  });

  // -------------------------------------------------------------------- grid
  function drawGrid() {
    grid.replaceChildren();
    for (let h = 0; h < H; h++) {
      const fig = el("figure", h === state.head ? "selected" : "");
      const c = headImage(state.layer, h);
      fig.append(c, el("figcaption", "", `head ${h + 1}`));
      c.addEventListener("mousemove", (e) => {
        const hit = cellAt(e, c, 0, 1);
        if (hit) hover.textContent = describe(state.layer, h, hit[0], hit[1]);
      });
      fig.addEventListener("click", () => { state.head = h; state.view = "single"; render(); });
      grid.appendChild(fig);
    }
  }

  // --------------------------------------------------------------- statistics
  function drawStats() {
    headStats.replaceChildren();
    const head = el("tr");
    head.append(el("th", "", "statistic"), el("th", "", `L${state.layer + 1} H${state.head + 1}`));
    headStats.appendChild(head);
    for (const s of data.stat_names) {
      const tr = el("tr");
      tr.dataset.stat = s;
      tr.append(el("td", "", data.stat_titles[s]),
        el("td", "value", fmt(data.stats[s][state.layer][state.head])));
      headStats.appendChild(tr);
    }
    const values = data.stats[state.stat].flat().filter((v) => v !== null);
    const lo = Math.min(...values), hi = Math.max(...values);
    headsCaption.textContent = `${data.stat_titles[state.stat]}: layers (rows) x heads ` +
      `(columns), dark ${fmt(lo)} to bright ${fmt(hi)}; click a cell`;
    heads.replaceChildren();
    const top = el("tr");
    top.appendChild(el("th", "", ""));
    for (let h = 0; h < H; h++) top.appendChild(el("th", "", `H${h + 1}`));
    heads.appendChild(top);
    for (let l = 0; l < L; l++) {
      const tr = el("tr");
      tr.appendChild(el("th", "", `L${l + 1}`));
      for (let h = 0; h < H; h++) {
        const v = data.stats[state.stat][l][h];
        const td = el("td", l === state.layer && h === state.head ? "selected" : "");
        td.title = `layer ${l + 1} head ${h + 1}: ${fmt(v)}`;
        if (v !== null) {
          const [r, g, b] = colour(hi > lo ? ((v - lo) / (hi - lo)) ** 2 : 0.5);
          td.style.background = `rgb(${r},${g},${b})`;
        } else {
          // Say why a cell is empty rather than leave it blank.
          td.textContent = "–";
          td.title = `layer ${l + 1} head ${h + 1}: no value (undefined for this input: ` +
            "the statistic needs tokens this input does not have" +
            (data.causal ? ", or that its queries cannot see)" : ")");
        }
        td.addEventListener("click", () => { state.layer = l; state.head = h; render(); });
        tr.appendChild(td);
      }
      heads.appendChild(tr);
    }
  }

  function render() {
    layerSel.value = String(state.layer);
    headSel.value = String(state.head);
    root.dataset.layer = String(state.layer + 1);
    root.dataset.head = String(state.head + 1);
    root.dataset.view = state.view;
    const isSingle = state.view === "single";
    singleBtn.classList.toggle("active", isSingle);
    gridBtn.classList.toggle("active", !isSingle);
    single.classList.toggle("hidden", !isSingle);
    grid.classList.toggle("hidden", isSingle);
    title.textContent = isSingle ? `layer ${state.layer + 1}, head ${state.head + 1}`
      : `layer ${state.layer + 1}, all ${H} heads`;
    if (isSingle) drawSingle(); else drawGrid();
    drawStats();
  }
  layerSel.addEventListener("change", () => { state.layer = Number(layerSel.value); render(); });
  headSel.addEventListener("change", () => { state.head = Number(headSel.value); render(); });
  zoomSel.addEventListener("change", () => { state.zoom = zoomSel.value; render(); });
  statSel.addEventListener("change", () => { state.stat = statSel.value; render(); });
  singleBtn.addEventListener("click", () => { state.view = "single"; render(); });
  gridBtn.addEventListener("click", () => { state.view = "grid"; render(); });
  render();
  root.dataset.ready = "true";
}
