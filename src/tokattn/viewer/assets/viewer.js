// tokattn attention viewer: one canvas, one row of token blocks per layer, x in bytes.
// Self-contained: reads the JSON blocks of this page, fetches nothing.
(() => {
  "use strict";

  const LEFT = 96; // fixed margin for row labels (px)
  const PAD = 8;
  const BOS_W = 34; // slot for span-less tokens (BOS) before byte 0
  const WORD_H = 20;
  const HEAD_H = 20; // model name above its rows
  const BLOCK_H = 24;
  const BYTE_H = 14; // cross-attention byte row
  const GAP_H = 22; // points between layers live here
  const MODEL_GAP = 12;
  const GAP_PX = 2; // space between blocks
  const NEUTRAL = "rgb(236,238,242)";
  const BLOCK_FONT = "12px system-ui, sans-serif";
  const LABEL_PAD = 4; // px of a block kept free around its text
  // Default zoom: the pixels per byte at which this share of the tokens (all models)
  // show their whole text; the rest are shortened with "…" and the tooltip has them.
  const ZOOM_QUANTILE = 0.98;

  const $ = (id) => document.getElementById(id);
  const index = JSON.parse($("tokattn-index").textContent);
  const state = {
    probeIndex: 0,
    probe: null, // decoded probe
    mode: "attention",
    direction: "to",
    head: -1,
    threshold: 0.1,
    ppb: 14, // px per byte; set per probe by fitZoom() until the zoom slider is moved
    zoomChosen: false, // the zoom was set by hand (slider or setZoom): keep it
    sel: null, // {kind: "token", model, layer, pos} | {kind: "word", words: [w0, w1], layer}
    values: null, // [model][layer] Float32Array | null, current block values
    points: null, // [model][layer] Float32Array, mean-over-heads values
    bytes: null, // [model][layer] Float32Array | null, cross-attention byte values
    lines: 0,
    loadMs: 0,
    drawMs: 0,
    ready: null,
  };
  let readyResolve = null;

  // ------------------------------------------------------------------ decoding
  function b64bytes(text) {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  async function inflate(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  async function decodeProbe(i) {
    const raw = JSON.parse($("tokattn-probe-" + i).textContent);
    const words = [];
    for (let w = 0; w < raw.words.length; w += 2) words.push([raw.words[w], raw.words[w + 1]]);
    const models = [];
    for (const m of raw.models) {
      const T = m.n_tokens;
      const model = {
        name: m.name,
        L: m.n_layers,
        H: m.n_heads,
        T: T,
        P: (T * (T + 1)) / 2,
        labels: m.labels,
        spans: Int32Array.from(m.spans),
        tokenWords: Int32Array.from(m.token_words),
        attn: await inflate(b64bytes(m.attention)),
        received: b64bytes(m.received),
        lensIndex: Int32Array.from(m.lens_index),
        lensStrings: m.lens_strings,
        lensProbs: b64bytes(m.lens_probs),
        iterLens: m.iter_lens
          ? {
              k: m.iter_lens.k,
              index: Int32Array.from(m.iter_lens.index),
              strings: m.iter_lens.strings,
              probs: b64bytes(m.iter_lens.probs),
            }
          : null,
        cross: null,
      };
      if (model.attn.length !== model.L * model.H * model.P) {
        throw new Error(`probe ${raw.id}, ${m.name}: attention has ${model.attn.length} bytes`);
      }
      if (m.cross) {
        model.cross = {
          layers: m.cross.layers,
          H: m.cross.n_heads,
          B: m.cross.n_bytes,
          labels: m.cross.byte_labels,
          data: await inflate(b64bytes(m.cross.data)),
        };
      }
      models.push(model);
    }
    return { id: raw.id, text: raw.text, nBytes: raw.n_bytes, words: words, models: models };
  }

  // ------------------------------------------------------------------ attention access
  const att = (m, l, h, q, k) => m.attn[(l * m.H + h) * m.P + (q * (q + 1)) / 2 + k] / 255;

  function attnRow(m, l, h, q) {
    const out = new Float32Array(m.T);
    const heads = h < 0 ? [...Array(m.H).keys()] : [h];
    const base = (q * (q + 1)) / 2;
    for (const hh of heads) {
      const off = (l * m.H + hh) * m.P + base;
      for (let k = 0; k <= q; k++) out[k] += m.attn[off + k] / 255;
    }
    if (heads.length > 1) for (let k = 0; k <= q; k++) out[k] /= heads.length;
    return out;
  }

  function attnCol(m, l, h, k) {
    const out = new Float32Array(m.T);
    const heads = h < 0 ? [...Array(m.H).keys()] : [h];
    for (const hh of heads) {
      const off = (l * m.H + hh) * m.P;
      for (let q = k; q < m.T; q++) out[q] += m.attn[off + (q * (q + 1)) / 2 + k] / 255;
    }
    if (heads.length > 1) for (let q = k; q < m.T; q++) out[q] /= heads.length;
    return out;
  }

  // Word frame, as tokattn.attention.projection: K[k,u] = overlap / token length; a word's query
  // row is the mean of its tokens' rows; mass on span-less tokens is dropped.
  function keyShares(m, k, words) {
    const s = m.spans[2 * k], e = m.spans[2 * k + 1];
    const w0 = m.tokenWords[2 * k], w1 = m.tokenWords[2 * k + 1];
    const out = [];
    if (w0 < 0 || e <= s) return out;
    for (let u = w0; u <= w1; u++) {
      const ov = Math.min(e, words[u][1]) - Math.max(s, words[u][0]);
      if (ov > 0) out.push([u, ov / (e - s)]);
    }
    return out;
  }

  function tokensOfWords(m, w0, w1) {
    const out = [];
    for (let k = 0; k < m.T; k++) {
      const a = m.tokenWords[2 * k], b = m.tokenWords[2 * k + 1];
      if (a >= 0 && a <= w1 && b >= w0) out.push(k);
    }
    return out;
  }

  function projectedRow(m, l, h, w0, w1, words) {
    const nW = words.length;
    const out = new Float64Array(nW);
    let nUnits = 0;
    for (let w = w0; w <= w1; w++) {
      const qs = tokensOfWords(m, w, w);
      if (!qs.length) continue;
      nUnits++;
      const row = new Float64Array(nW);
      for (const q of qs) {
        const a = attnRow(m, l, h, q);
        for (let k = 0; k <= q; k++) {
          if (a[k] === 0) continue;
          for (const [u, share] of keyShares(m, k, words)) row[u] += (a[k] * share) / qs.length;
        }
      }
      let total = 0;
      for (let u = 0; u < nW; u++) total += row[u];
      for (let u = 0; u < nW; u++) {
        out[u] += total > 0 ? row[u] / total : u <= w ? 1 / (w + 1) : 0;
      }
    }
    if (nUnits > 1) for (let u = 0; u < nW; u++) out[u] /= nUnits;
    return out;
  }

  // Mass the word rows keep before renormalising (tokattn.attention.projection, with_mass): per
  // word, the mean over its tokens of the attention on keys with text (not BOS); mean
  // over the selected words. 1 − this is what the word frame drops.
  function projectedMass(m, l, h, w0, w1, words) {
    let sum = 0, nUnits = 0;
    for (let w = w0; w <= w1; w++) {
      const qs = tokensOfWords(m, w, w);
      if (!qs.length) continue;
      nUnits++;
      let kept = 0;
      for (const q of qs) {
        const a = attnRow(m, l, h, q);
        for (let k = 0; k <= q; k++) {
          for (const [, share] of keyShares(m, k, words)) kept += a[k] * share;
        }
      }
      sum += kept / qs.length;
    }
    return nUnits ? sum / nUnits : 0;
  }

  // Iterative lens at (layer, pos): step j's winner and its probability under the j-th
  // re-decoded distribution (not the original one).
  function iterLensText(m, l, k) {
    const it = m.iterLens;
    if (!it) return "";
    const parts = [];
    for (let j = 0; j < it.k; j++) {
      const i = (l * m.T + k) * it.k + j;
      parts.push(`${j}: “${it.strings[it.index[i]]}” ${(it.probs[i] / 255).toFixed(2)}`);
    }
    return (
      "iterative lens (p of step j's winner under the j-th re-decoded distribution, " +
      "not the original): " + parts.join(" · ")
    );
  }

  function projectedCol(m, l, h, w0, w1, words) {
    // P[u, W] = sum_{q in u} s_q / sum_{q in u} t_q, s_q: mass on W, t_q: mass on text.
    const nW = words.length;
    const s = new Float64Array(m.T), t = new Float64Array(m.T);
    const shares = [];
    for (let k = 0; k < m.T; k++) {
      let toW = 0, any = 0;
      for (const [u, share] of keyShares(m, k, words)) {
        any += share;
        if (u >= w0 && u <= w1) toW += share;
      }
      shares.push([toW, any]);
    }
    for (let q = 0; q < m.T; q++) {
      const a = attnRow(m, l, h, q);
      for (let k = 0; k <= q; k++) {
        s[q] += a[k] * shares[k][0];
        t[q] += a[k] * shares[k][1];
      }
    }
    const num = new Float64Array(nW), den = new Float64Array(nW);
    for (let q = 0; q < m.T; q++) {
      for (const [u] of keyShares(m, q, words)) {
        num[u] += s[q];
        den[u] += t[q];
      }
    }
    const out = new Float64Array(nW);
    // A unit with no mass on the text attends uniformly to the units up to itself.
    for (let u = 0; u < nW; u++) {
      out[u] = den[u] > 0 ? num[u] / den[u] : w0 <= u ? (Math.min(u, w1) - w0 + 1) / (u + 1) : 0;
    }
    return out;
  }

  function wordToTokens(m, wordVals, words) {
    const out = new Float32Array(m.T);
    for (let k = 0; k < m.T; k++) {
      let v = 0;
      for (const [u] of keyShares(m, k, words)) v = Math.max(v, wordVals[u]);
      out[k] = v;
    }
    return out;
  }

  // ------------------------------------------------------------------ values
  function selectionValues(m, mi, l, h) {
    const sel = state.sel, words = state.probe.words;
    if (!sel) return null;
    if (sel.kind === "token") {
      if (sel.model !== mi) return null;
      return state.direction === "to" ? attnRow(m, l, h, sel.pos) : attnCol(m, l, h, sel.pos);
    }
    const wv =
      state.direction === "to"
        ? projectedRow(m, l, h, sel.words[0], sel.words[1], words)
        : projectedCol(m, l, h, sel.words[0], sel.words[1], words);
    return wordToTokens(m, wv, words);
  }

  function crossValues(m, mi, l) {
    const c = m.cross;
    if (!c || !state.sel) return null;
    const i = c.layers.indexOf(l);
    if (i < 0) return null;
    const queries = highlighted(mi);
    if (!queries.length) return null;
    const heads = state.head >= 0 && state.head < c.H ? [state.head] : [...Array(c.H).keys()];
    const out = new Float32Array(c.B);
    for (const h of heads) {
      for (const q of queries) {
        const off = ((i * c.H + h) * m.T + q) * c.B;
        for (let b = 0; b < c.B; b++) out[b] += c.data[off + b] / 255;
      }
    }
    for (let b = 0; b < c.B; b++) out[b] /= heads.length * queries.length;
    return out;
  }

  function highlighted(mi) {
    const sel = state.sel, m = state.probe.models[mi];
    if (!sel) return [];
    if (sel.kind === "token") return sel.model === mi ? [sel.pos] : [];
    return tokensOfWords(m, sel.words[0], sel.words[1]);
  }

  function recompute() {
    const p = state.probe;
    state.values = [];
    state.points = [];
    state.bytes = [];
    p.models.forEach((m, mi) => {
      const vals = [], pts = [], bytes = [];
      m.lineVals = []; // attention of the selected head(s): the lines, in either mode
      for (let l = 0; l < m.L; l++) {
        const own = selectionValues(m, mi, l, state.head);
        m.lineVals.push(own);
        const mean = state.head < 0 ? own : selectionValues(m, mi, l, -1);
        if (state.mode === "certainty") {
          const v = new Float32Array(m.T);
          for (let k = 0; k < m.T; k++) v[k] = m.lensProbs[l * m.T + k] / 255;
          vals.push(v);
        } else {
          vals.push(own);
        }
        if (mean) pts.push(mean);
        else {
          const v = new Float32Array(m.T);
          for (let k = 0; k < m.T; k++) v[k] = m.received[l * m.T + k] / 255;
          pts.push(v);
        }
        bytes.push(crossValues(m, mi, l));
      }
      state.values.push(vals);
      state.points.push(pts);
      state.bytes.push(bytes);
    });
  }

  // ------------------------------------------------------------------ colours
  function mix(lo, hi, t) {
    t = Math.max(0, Math.min(1, t));
    return [0, 1, 2].map((i) => Math.round(lo[i] + (hi[i] - lo[i]) * t));
  }
  const WHITE = [255, 255, 255];
  function colourOf(v, mode) {
    // sqrt so that small weights of long rows stay visible
    const c = mode === "certainty" ? mix(WHITE, [0, 109, 44], v) : mix(WHITE, [33, 78, 172], Math.sqrt(v));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }
  const darkText = (v, mode) => (mode === "certainty" ? v : Math.sqrt(v)) < 0.55;

  function rowColours(mi, l) {
    const m = state.probe.models[mi];
    const v = state.values[mi][l];
    const out = new Array(m.T);
    for (let k = 0; k < m.T; k++) out[k] = v ? colourOf(v[k], state.mode) : NEUTRAL;
    return out;
  }

  // ------------------------------------------------------------------ layout
  const layout = { width: 0, height: 0, models: [], wordY: 4 };
  function xOfByte(b) {
    return PAD + BOS_W + b * state.ppb;
  }

  function computeLayout() {
    const p = state.probe;
    let y = layout.wordY + WORD_H + 8;
    layout.models = p.models.map((m) => {
      const xs = new Float64Array(m.T), xe = new Float64Array(m.T);
      let firstSpanned = m.T;
      for (let k = 0; k < m.T; k++) {
        if (m.spans[2 * k + 1] > m.spans[2 * k]) {
          firstSpanned = k;
          break;
        }
      }
      let prevEnd = 0;
      for (let k = 0; k < m.T; k++) {
        const s = m.spans[2 * k], e = m.spans[2 * k + 1];
        if (e > s) {
          xs[k] = xOfByte(s);
          xe[k] = xOfByte(e) - GAP_PX;
          prevEnd = e;
        } else if (k < firstSpanned) {
          const w = BOS_W / firstSpanned;
          xs[k] = PAD + k * w;
          xe[k] = PAD + (k + 1) * w - GAP_PX;
        } else {
          xs[k] = xOfByte(prevEnd) - 3;
          xe[k] = xOfByte(prevEnd);
        }
      }
      const top = y;
      y += HEAD_H;
      const rows = new Array(m.L);
      for (let l = m.L - 1; l >= 0; l--) {
        const row = { y: y, byteY: null };
        y += BLOCK_H;
        if (m.cross && m.cross.layers.includes(l)) {
          row.byteY = y + 2;
          y += BYTE_H + 2;
        }
        row.gapY = y + GAP_H / 2;
        y += GAP_H;
        rows[l] = row;
      }
      y += MODEL_GAP;
      return { top: top, xs: xs, xe: xe, rows: rows };
    });
    layout.height = y;
    layout.width = LEFT + xOfByte(p.nBytes) + PAD;
    $("sizer").style.width = layout.width + "px";
    $("sizer").style.height = layout.height + "px";
    resizeCanvas();
  }

  const view = $("view");
  const ctx = view.getContext("2d");
  function resizeCanvas() {
    const dpr = window.devicePixelRatio || 1;
    const w = $("scroller").clientWidth;
    view.width = Math.round(w * dpr);
    view.height = Math.round(layout.height * dpr);
    view.style.width = w + "px";
    view.style.height = layout.height + "px";
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  const scrollX = () => $("scroller").scrollLeft;
  const screenX = (x) => x - scrollX() + LEFT;

  function firstVisible(xe, left) {
    let lo = 0, hi = xe.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xe[mid] < left) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // ------------------------------------------------------------------ labels and zoom
  const textWidths = new Map(); // text -> px in BLOCK_FONT
  function textWidth(text) {
    let w = textWidths.get(text);
    if (w === undefined) {
      const font = ctx.font;
      ctx.font = BLOCK_FONT;
      w = ctx.measureText(text).width;
      ctx.font = font;
      textWidths.set(text, w);
    }
    return w;
  }

  // The text a block w px wide shows: all of it when it fits, else the longest prefix
  // that fits with "…", else "…" alone, else nothing. The tooltip always has all of it.
  function fitLabel(text, w) {
    const room = w - LABEL_PAD;
    if (room <= 0) return "";
    if (textWidth(text) <= room) return text;
    const chars = Array.from(text); // code points: never split a surrogate pair
    let lo = 0, hi = chars.length - 1; // longest prefix n in [0, hi] with prefix + "…" fitting
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (textWidth(chars.slice(0, mid).join("") + "…") <= room) lo = mid;
      else hi = mid - 1;
    }
    if (lo > 0) return chars.slice(0, lo).join("") + "…";
    return textWidth("…") <= room ? "…" : "";
  }

  // Pixels per byte at which ZOOM_QUANTILE of the probe's tokens show their whole text,
  // within the zoom slider's range.
  function fitZoom(p) {
    const need = [];
    for (const m of p.models) {
      for (let k = 0; k < m.T; k++) {
        const n = m.spans[2 * k + 1] - m.spans[2 * k];
        if (n > 0) need.push((textWidth(m.labels[k]) + LABEL_PAD + GAP_PX) / n);
      }
    }
    const zoom = $("zoom"), lo = Number(zoom.min), hi = Number(zoom.max);
    if (!need.length) return Math.max(lo, Math.min(hi, state.ppb));
    need.sort((a, b) => a - b);
    const q = need[Math.max(0, Math.ceil(ZOOM_QUANTILE * need.length) - 1)];
    return Math.max(lo, Math.min(hi, Math.ceil(q - 1e-9)));
  }

  // ------------------------------------------------------------------ drawing
  function clippedText(text, x, y, w) {
    const t = fitLabel(text, w);
    if (t) ctx.fillText(t, x + 2, y);
  }

  function draw() {
    if (!state.probe) return;
    const t0 = performance.now();
    const W = view.width / (window.devicePixelRatio || 1);
    const left = scrollX() - LEFT, right = scrollX() + W;
    ctx.clearRect(0, 0, W, layout.height);
    ctx.font = BLOCK_FONT;
    ctx.textBaseline = "middle";
    drawWords(left, right);
    state.lines = 0;
    state.probe.models.forEach((m, mi) => drawModel(m, mi, left, right));
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, LEFT, layout.height);
    ctx.fillStyle = "#1d2330";
    ctx.fillText("words", 6, layout.wordY + WORD_H / 2);
    state.probe.models.forEach((m, mi) => {
      const lm = layout.models[mi];
      ctx.font = "bold 12px system-ui, sans-serif";
      ctx.fillText(m.name, 6, lm.top + HEAD_H / 2);
      ctx.font = BLOCK_FONT;
      for (let l = 0; l < m.L; l++) {
        ctx.fillText("layer " + l, 14, lm.rows[l].y + BLOCK_H / 2);
        if (lm.rows[l].byteY !== null) ctx.fillText("bytes", 22, lm.rows[l].byteY + BYTE_H / 2);
      }
    });
    drawOverviewViewport();
    state.drawMs = performance.now() - t0;
  }

  function drawWords(left, right) {
    const words = state.probe.words, sel = state.sel;
    const bytes = new TextEncoder().encode(state.probe.text);
    const dec = new TextDecoder();
    for (let u = 0; u < words.length; u++) {
      const xs = xOfByte(words[u][0]), xe = xOfByte(words[u][1]) - GAP_PX;
      if (xe < left || xs > right) continue;
      const on = sel && sel.kind === "word" && u >= sel.words[0] && u <= sel.words[1];
      ctx.fillStyle = on ? "rgb(255,214,10)" : "rgb(246,246,246)";
      ctx.fillRect(screenX(xs), layout.wordY, xe - xs, WORD_H);
      ctx.fillStyle = "#333";
      const text = dec.decode(bytes.slice(words[u][0], words[u][1])).trim();
      clippedText(text, screenX(xs), layout.wordY + WORD_H / 2, xe - xs);
    }
  }

  function drawModel(m, mi, left, right) {
    const lm = layout.models[mi];
    const k0 = Math.max(0, firstVisible(lm.xe, left));
    const hi = new Set(highlighted(mi));
    for (let l = 0; l < m.L; l++) {
      const row = lm.rows[l];
      const vals = state.values[mi][l];
      for (let k = k0; k < m.T && lm.xs[k] <= right; k++) {
        const x = screenX(lm.xs[k]), w = lm.xe[k] - lm.xs[k];
        const v = vals ? vals[k] : 0;
        ctx.fillStyle = vals ? colourOf(v, state.mode) : NEUTRAL;
        ctx.fillRect(x, row.y, w, BLOCK_H);
        if (hi.has(k)) {
          ctx.strokeStyle = "rgb(230,60,30)";
          ctx.lineWidth = 2;
          ctx.strokeRect(x + 1, row.y + 1, w - 2, BLOCK_H - 2);
        }
        ctx.fillStyle = vals && !darkText(v, state.mode) ? "#fff" : "#1d2330";
        const label =
          state.mode === "certainty" ? m.lensStrings[m.lensIndex[l * m.T + k]] : m.labels[k];
        clippedText(label, x, row.y + BLOCK_H / 2, w);
      }
      if (row.byteY !== null) drawBytes(m, mi, l, row, left, right);
      drawPoints(m, mi, l, lm, row, k0, right);
      drawLines(m, mi, l, lm, row, hi, left, right);
    }
  }

  function drawBytes(m, mi, l, row, left, right) {
    const c = m.cross, vals = state.bytes[mi][l];
    const offset = c.B - state.probe.nBytes;
    for (let b = 0; b < c.B; b++) {
      const xs = b < offset ? PAD + (b * BOS_W) / Math.max(1, offset) : xOfByte(b - offset);
      const w = (b < offset ? BOS_W / Math.max(1, offset) : state.ppb) - 1;
      if (xs + w < left || xs > right) continue;
      ctx.fillStyle = vals ? colourOf(vals[b], "attention") : NEUTRAL;
      ctx.fillRect(screenX(xs), row.byteY, w, BYTE_H);
      if (state.ppb >= 8) {
        ctx.fillStyle = vals && Math.sqrt(vals[b]) > 0.55 ? "#fff" : "#555";
        clippedText(c.labels[b], screenX(xs), row.byteY + BYTE_H / 2, w + 2);
      }
    }
  }

  function drawPoints(m, mi, l, lm, row, k0, right) {
    const pts = state.points[mi][l];
    ctx.fillStyle = "rgba(80,80,90,0.85)";
    for (let k = k0; k < m.T && lm.xs[k] <= right; k++) {
      const r = Math.sqrt(pts[k]) * 5;
      if (r < 0.4) continue;
      ctx.beginPath();
      ctx.arc(screenX((lm.xs[k] + lm.xe[k]) / 2), row.gapY, r, 0, 2 * Math.PI);
      ctx.fill();
    }
  }

  function drawLines(m, mi, l, lm, row, hi, left, right) {
    // Lines go from a query block (bottom edge) to the key's point below the row; only
    // weights over the threshold are drawn.
    const vals = m.lineVals[l];
    if (!vals || !hi.size) return;
    const anchor = [...hi];
    const ax = (lm.xs[anchor[0]] + lm.xe[anchor[anchor.length - 1]]) / 2;
    ctx.strokeStyle = "rgba(200,40,20,0.8)";
    for (let k = 0; k < m.T; k++) {
      const v = vals[k];
      if (v < state.threshold || v === 0 || hi.has(k)) continue;
      const kx = (lm.xs[k] + lm.xe[k]) / 2;
      const [qx, keyX] = state.direction === "to" ? [ax, kx] : [kx, ax];
      if (Math.max(qx, keyX) < left || Math.min(qx, keyX) > right) continue;
      ctx.lineWidth = 0.5 + 3 * v;
      ctx.beginPath();
      ctx.moveTo(screenX(qx), row.y + BLOCK_H);
      ctx.lineTo(screenX(keyX), row.gapY);
      ctx.stroke();
      state.lines++;
    }
  }

  // ------------------------------------------------------------------ overview strip
  const overview = $("overview");
  const octx = overview.getContext("2d", { willReadFrequently: true });
  let overviewImage = null;
  function drawOverview() {
    const p = state.probe;
    const W = overview.clientWidth || 800;
    const rows = [];
    p.models.forEach((m, mi) => {
      for (let l = m.L - 1; l >= 0; l--) rows.push([m, mi, l]);
    });
    const rowH = Math.max(1, Math.floor(24 / Math.max(1, rows.length)));
    overview.width = W;
    overview.height = Math.max(24, rowH * rows.length);
    overview.style.height = overview.height + "px";
    octx.fillStyle = NEUTRAL;
    octx.fillRect(0, 0, W, overview.height);
    rows.forEach(([m, mi, l], r) => {
      const vals = state.values[mi][l];
      if (!vals) return;
      const lm = layout.models[mi];
      const peak = new Float32Array(W).fill(-1);
      for (let k = 0; k < m.T; k++) {
        const px0 = Math.min(W - 1, Math.floor(((LEFT + lm.xs[k]) / layout.width) * W));
        const px1 = Math.min(W - 1, Math.floor(((LEFT + lm.xe[k] + GAP_PX) / layout.width) * W));
        for (let px = px0; px <= Math.max(px0, px1 - 1); px++) peak[px] = Math.max(peak[px], vals[k]);
      }
      for (let px = 0; px < W; px++) {
        if (peak[px] < 0) continue;
        octx.fillStyle = colourOf(peak[px], state.mode);
        octx.fillRect(px, r * rowH, 1, rowH);
      }
    });
    overviewImage = octx.getImageData(0, 0, overview.width, overview.height);
    drawOverviewViewport();
  }

  function drawOverviewViewport() {
    if (!overviewImage) return;
    octx.putImageData(overviewImage, 0, 0);
    const W = overview.width, vis = $("scroller").clientWidth;
    const x = (scrollX() / layout.width) * W, w = Math.max(3, (vis / layout.width) * W);
    octx.strokeStyle = "rgb(230,60,30)";
    octx.lineWidth = 2;
    octx.strokeRect(x + 1, 1, w - 2, overview.height - 2);
  }

  function overviewJump(ev) {
    const r = overview.getBoundingClientRect();
    const frac = (ev.clientX - r.left) / r.width;
    $("scroller").scrollLeft = frac * layout.width - $("scroller").clientWidth / 2;
  }

  // ------------------------------------------------------------------ interaction
  function hit(clientX, clientY) {
    const r = view.getBoundingClientRect();
    const x = clientX - r.left - LEFT + scrollX(), y = clientY - r.top;
    if (clientX - r.left < LEFT || !state.probe) return null;
    if (y >= layout.wordY && y < layout.wordY + WORD_H) {
      const words = state.probe.words;
      for (let u = 0; u < words.length; u++) {
        if (x >= xOfByte(words[u][0]) && x < xOfByte(words[u][1])) return { word: u };
      }
      return null;
    }
    for (let mi = 0; mi < layout.models.length; mi++) {
      const lm = layout.models[mi];
      for (let l = 0; l < lm.rows.length; l++) {
        const row = lm.rows[l];
        if (y < row.y || y >= row.y + BLOCK_H) continue;
        const k = firstVisible(lm.xe, x);
        if (k < lm.xs.length && lm.xs[k] <= x) return { model: mi, layer: l, pos: k };
        return null;
      }
    }
    return null;
  }

  function selectToken(layer, pos, model = 0) {
    const m = state.probe.models[model];
    if (!m || pos < 0 || pos >= m.T || layer < 0 || layer >= m.L) {
      throw new Error(`no token ${pos} at layer ${layer} of model ${model}`);
    }
    const w0 = m.tokenWords[2 * pos], w1 = m.tokenWords[2 * pos + 1];
    if (state.probe.models.length > 1 && w0 >= 0) {
      state.sel = { kind: "word", words: [w0, w1], layer: layer, origin: { model, pos } };
    } else {
      state.sel = { kind: "token", model: model, layer: layer, pos: pos };
    }
    update();
  }

  function selectWord(word, layer = 0) {
    const last = Array.isArray(word) ? word[1] : word, first = Array.isArray(word) ? word[0] : word;
    if (first < 0 || last >= state.probe.words.length) throw new Error(`no word ${word}`);
    state.sel = { kind: "word", words: [first, last], layer: layer };
    update();
  }

  function update() {
    recompute();
    drawOverview();
    draw();
    showInfo();
  }

  function showInfo() {
    const p = state.probe, sel = state.sel;
    const parts = [
      `<b>${esc(p.id)}</b>: ${p.nBytes} bytes, ${p.words.length} words; ` +
        p.models.map((m) => `${esc(m.name)}: ${m.T} tokens, ${m.L} layers × ${m.H} heads`).join("; "),
    ];
    if (sel && sel.kind === "token") {
      const m = p.models[sel.model], k = sel.pos, l = sel.layer;
      const lens = m.lensStrings[m.lensIndex[l * m.T + k]];
      const prob = m.lensProbs[l * m.T + k] / 255;
      const bos = attnRow(m, l, state.head, k)[0];
      parts.push(
        `selected ${esc(m.name)} token ${k} “${esc(m.labels[k])}” bytes ` +
          `[${m.spans[2 * k]}, ${m.spans[2 * k + 1]}) at layer ${l}; ` +
          `logit lens top-1 “${esc(lens)}” p=${prob.toFixed(2)}; ` +
          `attention on BOS ${bos.toFixed(2)} (dropped in the word frame)`
      );
      const iter = iterLensText(m, l, k);
      if (iter) parts.push(esc(iter));
    } else if (sel) {
      const text = new TextDecoder().decode(
        new TextEncoder()
          .encode(p.text)
          .slice(p.words[sel.words[0]][0], p.words[sel.words[1]][1])
      );
      parts.push(`selected word(s) ${sel.words[0]}–${sel.words[1]} “${esc(text.trim())}”`);
      const masses = p.models.map((m) => {
        const kept = projectedMass(m, sel.layer, state.head, sel.words[0], sel.words[1], p.words);
        return `${esc(m.name)} ${kept.toFixed(2)} (dropped on BOS ${(1 - kept).toFixed(2)})`;
      });
      parts.push(`attention mass on the text, layer ${sel.layer}: ${masses.join("; ")}`);
    }
    if (sel) parts.push(`${state.lines} lines over the threshold ${state.threshold.toFixed(2)}`);
    $("status").innerHTML = parts.join("<br>");
    drawScale();
  }

  // ------------------------------------------------------------------ colour legend
  // Where a value sits on the colour bar (the bar runs linearly in colour) and the
  // ticks shown under it; colourOf(v) is the bar's colour at pos(v).
  const SCALES = {
    attention: {
      title: "block colour: attention weight, 0 to 1 (square-root colour scale)",
      pos: Math.sqrt,
      ticks: [0, 0.01, 0.05, 0.1, 0.25, 0.5, 1],
      key:
        "colours: attention from/to the selection (click a token or a word); points between " +
        "layers: attention, mean over heads; lines: weights over the threshold",
    },
    certainty: {
      title: "block colour: logit-lens top-1 probability, 0 to 1 (linear colour scale)",
      pos: (v) => v,
      ticks: [0, 0.25, 0.5, 0.75, 1],
      key:
        "colours: probability of the most likely next token after that layer (the block " +
        "shows that token); points and lines: attention, as in attention mode",
    },
  };

  function largestShown() {
    let top = -1;
    for (const rows of state.values || []) {
      for (const v of rows) if (v) for (let k = 0; k < v.length; k++) top = Math.max(top, v[k]);
    }
    return top;
  }

  function drawScale() {
    const sc = SCALES[state.mode];
    $("scale-bar").style.background =
      `linear-gradient(to right, ${colourOf(0, state.mode)}, ${colourOf(1, state.mode)})`;
    const ticks = $("scale-ticks");
    ticks.textContent = "";
    for (const v of sc.ticks) {
      const t = document.createElement("span");
      t.textContent = String(v);
      t.dataset.value = String(v);
      t.style.left = (100 * sc.pos(v)).toFixed(2) + "%";
      ticks.appendChild(t);
    }
    const top = largestShown();
    $("scale-title").textContent =
      sc.title + (top >= 0 ? `; largest now ${top.toFixed(3)}` : "; nothing selected (grey)");
    $("key").textContent = sc.key;
  }

  const esc = (s) =>
    String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

  function wordsText(w0, w1) {
    const p = state.probe;
    const bytes = new TextEncoder().encode(p.text).slice(p.words[w0][0], p.words[w1][1]);
    return new TextDecoder().decode(bytes).trim();
  }

  const headName = (m) => (state.head < 0 ? `mean over ${m.H} heads` : `head ${state.head}`);

  // The attention weight behind block (model mi, layer l, token k) under the current
  // selection, naming the query and the key (three decimals; the page keeps weights to
  // 1/255, so the value is within 0.002 of the stored one).
  function weightText(mi, l, k) {
    const m = state.probe.models[mi], sel = state.sel;
    if (!sel) return "click a token or a word to see attention weights";
    const a = m.lineVals[l];
    if (!a) return "the selected token is in another model";
    const tok = (j) => `“${m.labels[j]}” (token ${j})`;
    const where = `layer ${l}, ${headName(m)}`;
    if (sel.kind === "token") {
      const [q, key] = state.direction === "to" ? [sel.pos, k] : [k, sel.pos];
      const causal = key > q ? " (key after the query: causal mask)" : "";
      return `query ${tok(q)} → key ${tok(key)}: attention weight ${a[k].toFixed(3)} (${where})${causal}`;
    }
    const [w0, w1] = sel.words;
    const words = `word${w0 === w1 ? "" : "s"} ${w0 === w1 ? w0 : `${w0}–${w1}`} “${wordsText(w0, w1)}”`;
    const here = `the word of ${tok(k)}`;
    const [q, key] = state.direction === "to" ? [words, here] : [here, words];
    return `query ${q} → key ${key}: word-frame attention weight ${a[k].toFixed(3)} (${where})`;
  }

  function tokenTip(h) {
    const m = state.probe.models[h.model], k = h.pos, l = h.layer;
    const iter = iterLensText(m, l, k);
    return (
      `“${m.labels[k]}”\n` +
      `${m.name} · layer ${l} · token ${k} · bytes [${m.spans[2 * k]}, ${m.spans[2 * k + 1]})\n` +
      weightText(h.model, l, k) +
      `\nlens top-1 “${m.lensStrings[m.lensIndex[l * m.T + k]]}” p=${(m.lensProbs[l * m.T + k] / 255).toFixed(2)}` +
      `\nattention on BOS ${attnRow(m, l, state.head, k)[0].toFixed(2)} (dropped in the word frame)` +
      (iter ? `\n${iter}` : "")
    );
  }

  // Put the tooltip beside the pointer, on the side where it fits inside the window:
  // right and below by default, flipped left / up near the right / bottom edges.
  function placeTooltip(tip, x, y) {
    const M = 4, OFF = 12;
    tip.style.left = "0px";
    tip.style.top = "0px";
    const r = tip.getBoundingClientRect();
    const vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
    let left = x + OFF, top = y + OFF;
    if (left + r.width > vw - M) left = x - OFF - r.width;
    if (top + r.height > vh - M) top = y - OFF - r.height;
    left = Math.max(M, Math.min(left, vw - M - r.width));
    top = Math.max(M, Math.min(top, vh - M - r.height));
    tip.style.left = left + "px";
    tip.style.top = top + "px";
  }

  function tooltip(ev) {
    const h = hit(ev.clientX, ev.clientY), tip = $("tooltip");
    if (!h) {
      tip.hidden = true;
      return;
    }
    if (h.word !== undefined) {
      const w = state.probe.words[h.word];
      tip.textContent = `word ${h.word} “${wordsText(h.word, h.word)}” · bytes [${w[0]}, ${w[1]})`;
    } else {
      tip.textContent = tokenTip(h);
    }
    tip.hidden = false;
    placeTooltip(tip, ev.clientX, ev.clientY);
  }

  async function setProbe(which) {
    const i = typeof which === "number" ? which : index.probes.findIndex((p) => p.id === which);
    if (i < 0 || i >= index.probes.length) throw new Error(`no probe ${which}`);
    state.ready = new Promise((resolve) => (readyResolve = resolve));
    $("status").textContent = "decoding " + index.probes[i].id + "…";
    const t0 = performance.now();
    state.probe = await decodeProbe(i);
    state.loadMs = performance.now() - t0;
    state.probeIndex = i;
    state.sel = null;
    $("probe").value = String(i);
    const heads = Math.max(...state.probe.models.map((m) => m.H));
    const headSel = $("head");
    headSel.innerHTML = '<option value="-1">mean over heads</option>';
    for (let h = 0; h < heads; h++) headSel.add(new Option("head " + h, String(h)));
    state.head = state.head < heads ? state.head : -1;
    headSel.value = String(state.head);
    if (!state.zoomChosen) {
      state.ppb = fitZoom(state.probe);
      $("zoom").value = String(state.ppb);
    }
    computeLayout();
    update();
    readyResolve(true);
    return true;
  }

  function tokenCentre(layer, pos, model = 0) {
    const lm = layout.models[model];
    const sc = $("scroller");
    const x = lm.xs[pos], w = lm.xe[pos] - lm.xs[pos];
    if (x - sc.scrollLeft < 0 || x + w - sc.scrollLeft > sc.clientWidth - LEFT) {
      sc.scrollLeft = Math.max(0, x - (sc.clientWidth - LEFT) / 2);
      draw();
    }
    const row = lm.rows[layer];
    row.y + BLOCK_H / 2 > window.innerHeight && window.scrollTo(0, row.y);
    const r = view.getBoundingClientRect();
    return { x: r.left + screenX(x + w / 2), y: r.top + row.y + BLOCK_H / 2 };
  }

  function wire() {
    const probeSel = $("probe");
    index.probes.forEach((p, i) => {
      probeSel.add(new Option(`${p.id} (${p.kind}, ${p.language}, ${p.n_bytes} B)`, String(i)));
    });
    probeSel.onchange = () => setProbe(Number(probeSel.value));
    $("mode").onchange = (e) => api.setMode(e.target.value);
    $("direction").onchange = (e) => api.setDirection(e.target.value);
    $("head").onchange = (e) => api.setHead(Number(e.target.value));
    $("threshold").oninput = (e) => api.setThreshold(Number(e.target.value));
    $("zoom").oninput = (e) => api.setZoom(Number(e.target.value));
    $("clear").onclick = () => api.clear();
    $("scroller").addEventListener("scroll", () => requestAnimationFrame(draw), { passive: true });
    view.addEventListener("click", (ev) => {
      const h = hit(ev.clientX, ev.clientY);
      if (!h) return;
      if (h.word !== undefined) selectWord(h.word);
      else selectToken(h.layer, h.pos, h.model);
    });
    view.addEventListener("mousemove", tooltip);
    view.addEventListener("mouseleave", () => ($("tooltip").hidden = true));
    let dragging = false;
    overview.addEventListener("mousedown", (ev) => {
      dragging = true;
      overviewJump(ev);
    });
    window.addEventListener("mousemove", (ev) => dragging && overviewJump(ev));
    window.addEventListener("mouseup", () => (dragging = false));
    window.addEventListener("resize", () => {
      if (!state.probe) return;
      resizeCanvas();
      drawOverview();
      draw();
    });
  }

  // ------------------------------------------------------------------ testing hook
  const api = {
    ready: () => state.ready,
    isReady: () => state.probe !== null && state.values !== null,
    probes: () => index.probes.map((p) => p.id),
    setProbe: setProbe,
    selectToken: selectToken,
    selectWord: selectWord,
    clear: () => {
      state.sel = null;
      update();
    },
    setMode: (name) => {
      if (!["attention", "certainty"].includes(name)) throw new Error("unknown mode " + name);
      state.mode = name;
      $("mode").value = name;
      update();
    },
    setDirection: (d) => {
      if (!["to", "from"].includes(d)) throw new Error("unknown direction " + d);
      state.direction = d;
      $("direction").value = d;
      update();
    },
    setHead: (h) => {
      state.head = h;
      $("head").value = String(h);
      update();
    },
    setThreshold: (t) => {
      state.threshold = t;
      $("threshold").value = String(t);
      $("threshold-value").textContent = t.toFixed(2);
      draw();
      showInfo();
    },
    setZoom: (ppb) => {
      state.ppb = ppb;
      state.zoomChosen = true;
      $("zoom").value = String(ppb);
      computeLayout();
      drawOverview();
      draw();
    },
    blockColours: (layer, model = 0) => rowColours(model, layer),
    // What each block of a row shows at the current zoom (whole, shortened with "…", or "").
    shownLabels: (layer, model = 0) => {
      const lm = layout.models[model], labels = api.blockLabels(layer, model);
      return labels.map((text, k) => fitLabel(text, lm.xe[k] - lm.xs[k]));
    },
    fitZoom: () => fitZoom(state.probe),
    byteColours: (layer, model = 0) => {
      const v = state.bytes[model][layer], m = state.probe.models[model];
      if (!m.cross || !m.cross.layers.includes(layer)) return null;
      return Array.from({ length: m.cross.B }, (_, b) => (v ? colourOf(v[b], "attention") : NEUTRAL));
    },
    pointValues: (layer, model = 0) => Array.from(state.points[model][layer]),
    blockLabels: (layer, model = 0) => {
      const m = state.probe.models[model];
      return state.mode === "certainty"
        ? Array.from({ length: m.T }, (_, k) => m.lensStrings[m.lensIndex[layer * m.T + k]])
        : m.labels.slice();
    },
    highlighted: (model = 0) => highlighted(model),
    lineCount: () => state.lines,
    tokenCentre: tokenCentre,
    attentionRow: (model, layer, head, q) =>
      Array.from(attnRow(state.probe.models[model], layer, head, q)),
    projectedRow: (model, layer, head, word) =>
      Array.from(projectedRow(state.probe.models[model], layer, head, word, word, state.probe.words)),
    projectedMass: (model, layer, head, word) =>
      projectedMass(state.probe.models[model], layer, head, word, word, state.probe.words),
    iterLens: (model, layer, pos) => iterLensText(state.probe.models[model], layer, pos),
    tooltipText: () => $("tooltip").textContent,
    infoText: () => $("status").textContent,
    projectedColumn: (model, layer, head, word) =>
      Array.from(projectedCol(state.probe.models[model], layer, head, word, word, state.probe.words)),
    state: () => ({
      probe: state.probe && state.probe.id,
      mode: state.mode,
      direction: state.direction,
      head: state.head,
      threshold: state.threshold,
      zoom: state.ppb,
      selection: state.sel,
      models: state.probe ? state.probe.models.map((m) => ({ name: m.name, T: m.T, L: m.L, H: m.H })) : [],
    }),
    timings: () => ({ decodeMs: state.loadMs, drawMs: state.drawMs }),
  };
  window.tokattnViewer = api;

  wire();
  if (index.probes.length) {
    setProbe(0).catch((err) => {
      $("status").textContent = "error: " + err.message;
      console.error(err);
    });
  } else {
    $("status").textContent = "no probes in this page";
  }
})();
