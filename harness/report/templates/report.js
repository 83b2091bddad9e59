// The report's behaviour. Data text reaches the page through textContent / text nodes only, never as markup.
(function () {
  "use strict";
  // The data format this script reads: harness/report/columns.py's PAGE_DATA_VERSION.
  const PAGE_DATA_VERSION = 5;
  const D = JSON.parse(document.getElementById("report-data").textContent);
  if (D.v !== PAGE_DATA_VERSION) {
    document.body.insertBefore(document.createTextNode("This page's data has format " + D.v +
      "; its script reads format " + PAGE_DATA_VERSION + "."), document.body.firstChild);
    document.body.dataset.ready = "refused";
    return;
  }
  const ST = D.statuses, NS = ST.length;
  const NA = ST.indexOf("n/a"), PEND = ST.indexOf("pending"), WARN = ST.indexOf("warning");
  const UNCOMP = ST.indexOf("uncompared");
  const MISM = ST.indexOf("mismatch"), CLOSE = ST.indexOf("close");
  const R = D.r, N = R.s.length, G = D.g, NG = G.p.length, NF = D.formats.length;
  // A sparse column (columns.SPARSE) comes as the value most rows hold, the gaps between the rows
  // that hold another, and those values: made one value per row here, as every other column is.
  Object.keys(R).forEach((key) => {
    const col = R[key];
    if (col === null || typeof col !== "object" || Array.isArray(col)) return;
    const out = new Array(N).fill(col.d);
    for (let k = 0, i = -1; k < col.i.length; k++) { i += col.i[k]; out[i] = col.v[k]; }
    R[key] = out;
  });
  const ROWS_PAGE = 100;
  const envs = D.envs.map((e, i) => ({ i: i, id: e[0], sklearn: e[1], python: e[2], numpy: e[3], arch: e[4],
                                       state: e[5], problem: e[6], word: e[7] }));
  const NE = envs.length;
  const st = new Uint8Array(N), grp = new Int32Array(N), closeW = new Uint8Array(N);
  for (let i = 0; i < N; i++) st[i] = R.s.charCodeAt(i) - 97;
  for (let g = 0; g < NG; g++) for (let j = G.s[g]; j < G.s[g + 1]; j++) grp[j] = g;
  R.wc.forEach((i) => { closeW[i] = 1; });
  const groupAt = new Map();
  for (let g = 0; g < NG; g++) groupAt.set((G.p[g] * NE + G.c[g]) * NF + G.f[g], g);
  const archs = Array.from(new Set(envs.map((e) => e.arch))).sort();
  const F = { fmt: new Set(D.formats.map((_, i) => i)), st: new Set(ST.map((_, i) => i)), arch: new Set(archs),
              fam: -1, est: -1, ch: "" };
  let agg = null, drawerRows = [], drawerShown = 0, drawerGroup = -1, selectedCell = null;

  // ---- helpers -------------------------------------------------------------------------------
  function str(ref) { return ref ? D.S[ref - 1] : ""; }
  function el(tag, props) {
    const node = document.createElement(tag);
    if (props) {
      for (const k of Object.keys(props)) {
        if (k === "text") node.textContent = props[k];
        else if (k === "cls") node.className = props[k];
        else node[k] = props[k];
      }
    }
    for (let a = 2; a < arguments.length; a++) {
      const c = arguments[a];
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  function num(n) { return Number(n).toLocaleString("en-US"); }
  function diff(v, s) {
    if (v === null || v === undefined || s > MISM) return "—";
    return v === 0 ? "0" : Number(v).toPrecision(3);
  }
  function findGroup(p, c, f) { const g = groupAt.get((p * NE + c) * NF + f); return g === undefined ? -1 : g; }
  function isBad(s) { return s >= MISM && s < NA; }
  function worstOf(counts, off) {
    // A failure shows first; then cells not computed, which no headline counts as surviving.
    for (let s = NA - 1; s >= MISM; s--) if (counts[off + s]) return s;
    if (counts[off + PEND]) return PEND;
    for (let s = MISM - 1; s >= 0; s--) if (counts[off + s]) return s;
    if (counts[off + NA]) return NA;
    return -1;
  }
  function shq(text) { return /^[A-Za-z0-9_.\/=:-]+$/.test(text) ? text : "'" + text.replace(/'/g, "'\"'\"'") + "'"; }
  function quoted(text) { return "'" + text.replace(/'/g, "'\"'\"'") + "'"; }
  function repro(i) {
    const g = grp[i];
    return "python -m harness load --matrix " + shq(D.matrix) + " " + shq(envs[G.c[g]].id) + " --only "
      + quoted(envs[G.p[g]].id + "/" + D.est[R.e[i]] + "/" + D.formats[G.f[g]]);
  }
  function safeHref(url) { return /^https?:\/\//i.test(url) ? url : ""; }
  function mix(counts, off) {
    let total = 0;
    for (let s = 0; s < NS; s++) total += counts[off + s];
    if (!total) return "";
    const parts = [];
    let at = 0;
    for (let s = 0; s < NS; s++) {
      const n = counts[off + s];
      if (!n) continue;
      const end = at + (100 * n) / total;
      parts.push("var(--s" + s + ") " + at.toFixed(2) + "% " + end.toFixed(2) + "%");
      at = end;
    }
    return "linear-gradient(to right, " + parts.join(", ") + ")";
  }
  function countLines(counts, off) {
    const out = [];
    for (let s = 0; s < NS; s++) if (counts[off + s]) out.push(ST[s] + ": " + num(counts[off + s]));
    return out;
  }
  function countChips(counts, off) {
    const box = el("span", { cls: "chips" });
    for (let s = 0; s < NS; s++) {
      if (counts[off + s]) box.appendChild(el("span", { cls: "chip" }, el("i", { cls: "sw s" + s }), ST[s] + " ",
                                                    el("small", { text: num(counts[off + s]) })));
    }
    return box;
  }

  // ---- filtering and aggregation ----------------------------------------------------------------
  function rowPasses(i) {
    if (!F.st.has(st[i])) return false;
    const e = R.e[i];
    if (F.est >= 0 && e !== F.est) return false;
    if (F.fam >= 0 && D.estFam[e] !== F.fam) return false;
    if (F.ch && R.ch[i] !== F.ch) return false;
    return true;
  }
  function groupVisible(g) {
    return F.fmt.has(G.f[g]) && F.arch.has(envs[G.p[g]].arch) && F.arch.has(envs[G.c[g]].arch);
  }
  function aggregate() {
    const a = { counts: new Int32Array(NG * NS), bad: new Int32Array(NG), known: new Int32Array(NG),
                fresh: new Int32Array(NG), warnClose: new Int32Array(NG), shown: 0 };
    const stOk = new Uint8Array(NS);
    F.st.forEach((s) => { stOk[s] = 1; });
    for (let i = 0; i < N; i++) {
      const s = st[i];
      if (!stOk[s]) continue;
      if ((F.est >= 0 || F.fam >= 0 || F.ch) && !rowPasses(i)) continue;
      const g = grp[i];
      a.counts[g * NS + s]++;
      if (isBad(s)) { a.bad[g]++; if (R.k[i]) a.known[g]++; }
      if (R.ch && R.ch.charCodeAt(i) === 98) a.fresh[g]++;
      if (s === WARN && closeW[i]) a.warnClose[g]++;
    }
    for (let g = 0; g < NG; g++) {
      if (!groupVisible(g)) continue;
      for (let s = 0; s < NS; s++) a.shown += a.counts[g * NS + s];
    }
    return a;
  }

  // ---- grids -------------------------------------------------------------------------------------
  const LEVELS = [["word", (e) => e.word], ["scikit-learn", (e) => e.sklearn], ["Python", (e) => "py" + e.python],
                  ["numpy", (e) => "np" + e.numpy], ["arch", (e) => e.arch]];
  function sameUpTo(a, b, level) {
    for (let l = 0; l <= level; l++) if (LEVELS[l][1](a) !== LEVELS[l][1](b)) return false;
    return true;
  }
  function runs(list, level) {
    const out = [];
    list.forEach((e, k) => {
      if (k && sameUpTo(list[k - 1], e, level)) out[out.length - 1][1]++;
      else out.push([k, 1]);
    });
    return out;
  }
  function failText(e) {
    if (e.state === "build") return "failed to build: " + e.problem;
    if (e.state === "dump") return "failed to dump: " + e.problem;
    return "not built in this run";
  }
  function cellTd(prod, cons, f) {
    if (cons.state === "build" || cons.state === "unbuilt") {
      return el("td", { cls: "nobuild", text: "✗", title: cons.id + " " + failText(cons) + ": it loads nothing" });
    }
    const g = findGroup(prod.i, cons.i, f);
    if (g < 0) return el("td", { cls: "none", text: "·", title: "nothing to load: no " + D.formats[f] + " artifacts from " + prod.id });
    const off = g * NS, w = worstOf(agg.counts, off);
    if (w < 0) return el("td", { cls: "empty", title: "no estimator matches the filters" });
    let cls = "s" + w;
    if (agg.bad[g] && agg.known[g] === agg.bad[g]) cls += " known";
    if (agg.fresh[g]) cls += " newdot";
    if (w === WARN && !agg.warnClose[g]) cls += " safe";
    const lines = [prod.id + " → " + cons.id, D.formats[f]].concat(countLines(agg.counts, off));
    if (w === WARN) lines.push(agg.warnClose[g] ? "warnings; predictions within tolerance" : "warnings; predictions identical");
    if (agg.bad[g] && agg.known[g] === agg.bad[g]) lines.push("every failure here is a known incompatibility");
    if (agg.fresh[g]) lines.push(num(agg.fresh[g]) + " new breakage(s) since the last run");
    const td = el("td", { cls: cls, title: lines.join("\n") }, String(agg.counts[off + w]));
    const bar = el("div", { cls: "bar" });
    bar.style.background = mix(agg.counts, off);
    td.appendChild(bar);
    td.dataset.g = String(g);
    td.tabIndex = 0;
    if (g === drawerGroup) td.classList.add("sel");
    return td;
  }
  function buildGrid(f, list) {
    const table = el("table", { cls: "g" });
    const thead = el("thead"), tbody = el("tbody");
    const groupStart = new Set(runs(list, 1).map((r) => r[0]).filter((k) => k > 0));
    for (let l = 0; l < LEVELS.length; l++) {
      const tr = el("tr");
      tr.appendChild(el("th", { cls: "lvl", colSpan: LEVELS.length, text: (l === 0 ? "saved in ↓  loaded in → " : "") + LEVELS[l][0] }));
      for (const [start, len] of runs(list, l)) {
        if (groupStart.has(start)) tr.appendChild(el("th", { cls: "gap" }));
        const e = list[start];
        const th = el("th", { colSpan: len, text: LEVELS[l][1](e) });
        if (l === LEVELS.length - 1) {
          th.title = e.id + (e.state === "ok" ? "" : " — " + failText(e));
          if (e.state === "build" || e.state === "unbuilt") { th.className = "envbad"; th.textContent += " ✗"; }
        }
        tr.appendChild(th);
      }
      thead.appendChild(tr);
    }
    const starts = LEVELS.map((_, l) => new Map(runs(list, l).map((r) => [r[0], r[1]])));
    const width = list.length + groupStart.size;
    list.forEach((prod, k) => {
      if (groupStart.has(k)) tbody.appendChild(el("tr", { cls: "gap" }, el("td", { colSpan: width + LEVELS.length })));
      const tr = el("tr");
      for (let l = 0; l < LEVELS.length; l++) {
        if (!starts[l].has(k)) continue;
        const th = el("th", { cls: "rh", rowSpan: starts[l].get(k), text: LEVELS[l][1](prod) });
        if (l === LEVELS.length - 1) {
          th.title = prod.id + (prod.state === "ok" ? "" : " — " + failText(prod));
          if (prod.state !== "ok") { th.className = "rh envbad"; th.textContent += " ✗"; }
        }
        tr.appendChild(th);
      }
      if (prod.state !== "ok") {
        tr.appendChild(el("td", { cls: "rowfail", colSpan: width, title: prod.id + " " + failText(prod),
                                  text: "✗ " + failText(prod) }));
      } else {
        list.forEach((cons, c) => {
          if (groupStart.has(c)) tr.appendChild(el("td", { cls: "gap" }));
          tr.appendChild(cellTd(prod, cons, f));
        });
      }
      tbody.appendChild(tr);
    });
    table.appendChild(thead);
    table.appendChild(tbody);
    return table;
  }
  let gridRound = 0;
  function renderGrids(then) {
    // then: called once every grid is in. Given (the page's first render), the first grid goes in
    // at once and each other one in a task of its own, so that the browser shows the first grid
    // of a million-cell page while the others are being built; a later render replaces them all.
    const round = ++gridRound;
    const box = document.getElementById("grids");
    box.textContent = "";
    const list = envs.filter((e) => F.arch.has(e.arch));
    if (!list.length) {
      box.appendChild(el("p", { cls: "more", text: "No environment matches the architecture filter." }));
      if (then) then();
      return;
    }
    const todo = D.formats.map((_, f) => f).filter((f) => F.fmt.has(f));
    if (!then) { todo.forEach((f) => box.appendChild(gridCard(f, list))); return; }
    const next = (k) => {
      if (round !== gridRound) return;  // replaced by a later render
      if (k >= todo.length) { then(); return; }
      box.appendChild(gridCard(todo[k], list));
      if (k === 0) performance.mark("first-grid");  // what bench/page_open.py reads
      setTimeout(() => next(k + 1), 0);
    };
    next(0);
  }
  function gridCard(f, list) {
    const name = D.formats[f];
    {
      const sums = new Int32Array(NS);
      for (let g = 0; g < NG; g++) {
        if (G.f[g] !== f || !groupVisible(g)) continue;
        for (let s = 0; s < NS; s++) sums[s] += agg.counts[g * NS + s];
      }
      const w = worstOf(sums, 0);
      const head = el("h3", null, name + " ");
      if (w >= 0) head.appendChild(el("span", { cls: "badge s" + w, text: "worst: " + ST[w] }));
      const card = el("div", { cls: "grid" }, head, el("p", { cls: "gsum", text: countLines(sums, 0).join(" · ") || "no rows" }),
                      buildGrid(f, list));
      card.dataset.format = name;
      return card;
    }
  }
  function renderSelection() {
    const box = document.getElementById("selection");
    box.textContent = "";
    if (F.est < 0 && F.fam < 0 && !F.ch) return;
    const title = F.est >= 0 ? "Estimator " + D.est[F.est] + " across every pair" :
      F.fam >= 0 ? "Family " + D.fams[F.fam] + " across every pair" : "Cells matching the filter";
    const tbody = el("tbody");
    D.formats.forEach((name, f) => {
      if (!F.fmt.has(f)) return;
      const sums = new Int32Array(NS);
      for (let g = 0; g < NG; g++) if (G.f[g] === f && groupVisible(g)) for (let s = 0; s < NS; s++) sums[s] += agg.counts[g * NS + s];
      const w = worstOf(sums, 0);
      const bar = el("span", { cls: "mix" });
      bar.style.background = mix(sums, 0);
      tbody.appendChild(el("tr", null, el("td", { text: name }),
        el("td", null, w >= 0 ? el("span", { cls: "badge s" + w, text: ST[w] }) : "—"), el("td", null, bar),
        el("td", null, countChips(sums, 0))));
    });
    box.appendChild(el("h3", { text: title }));
    box.appendChild(el("table", { cls: "list" }, el("thead", null, el("tr", null, el("th", { text: "format" }),
      el("th", { text: "worst" }), el("th", { text: "mix" }), el("th", { text: "counts" }))), tbody));
  }
  function refresh(then) {
    agg = aggregate();
    renderGrids(then);
    renderSelection();
    document.getElementById("shown").textContent = "Showing " + num(agg.shown) + " of " + num(N) + " rows.";
    if (drawerGroup >= 0 && !document.getElementById("drawer").hidden) openDrawer(drawerGroup);
  }

  // ---- drill-down ----------------------------------------------------------------------------------
  function rowEl(i) {
    const s = st[i], e = R.e[i];
    const name = el("button", { type: "button", cls: "linkish", text: D.est[e], title: "this estimator across every pair" });
    name.addEventListener("click", () => setEstimator(e));
    const outcome = el("td", null, el("span", { cls: "badge s" + s, text: ST[s] }));
    if (s === WARN) outcome.appendChild(el("div", null, el("span", { cls: "tag pred", text: "predictions " + (closeW[i] ? "close" : "identical") })));
    if (R.ch && R.ch[i] === "b") outcome.appendChild(el("span", { cls: "tag new", text: "new", title: "was fine in the previous run" }));
    if (R.ch && R.ch[i] === "f") outcome.appendChild(el("span", { cls: "tag fixed", text: "fixed", title: "failed in the previous run" }));
    const det = el("td", { cls: "det" });
    const w = R.w[i] ? D.W[R.w[i] - 1] : [];
    for (let k = 0; k < w.length; k += 3) {
      const message = str(w[k + 1]);
      det.appendChild(el("div", { cls: "w", title: message }, el("b", { text: str(w[k]) }), ": ",
                         el("span", { text: message.length > 150 ? message.slice(0, 147) + "…" : message }),
                         w[k + 2] ? el("small", { text: " (saved with " + str(w[k + 2]) + ")" }) : null));
    }
    const error = str(R.x[i]);
    if (error) det.appendChild(el("div", { cls: "err", text: error }));
    if (R.m[i]) det.appendChild(callsEl(str(R.m[i])));
    if (R.k[i]) {
      const known = D.K[R.k[i] - 1], href = safeHref(str(known[1]));
      const line = el("div", { cls: "kn" }, el("b", { text: "known: " }), str(known[0]));
      if (href) line.appendChild(el("span", null, " — ", el("a", { href: href, rel: "noopener noreferrer", target: "_blank", text: href })));
      det.appendChild(line);
    }
    if (R.n[i]) det.appendChild(el("div", { cls: "since", text: "failing since " + str(R.n[i]) }));
    if (!error.startsWith("producer could not write")) {
      const cmd = repro(i);
      const copy = el("button", { type: "button", cls: "small", text: "copy", title: "copy the command" });
      const code = el("code", { text: cmd });
      copy.addEventListener("click", () => copyText(cmd, code, copy));
      det.appendChild(el("div", { cls: "repro" }, code, copy));
    }
    return el("tr", null, el("td", { cls: "est" }, name, el("small", { text: D.fams[D.estFam[e]] || "" })), outcome,
              el("td", { cls: "n", text: diff(R.a[i], s) }), el("td", { cls: "n", text: diff(R.q[i], s) }), det);
  }
  const CALL = { I: "identical", C: "close", M: "mismatch", E: "error", X: "missing", P: "the producer could not compute it",
                 O: "only the consumer has it", Y: "only the producer had it", ".": "no call" };
  function callsEl(text) {
    // Every method's outcome on every input: one letter each, then the calls that are not identical.
    const lines = text.split("\n"), box = el("details", { cls: "calls" }, el("summary", { text: "every call" }));
    const grid = lines[0] ? lines[0].split(",").map((p) => p.split("=")) : [];
    if (grid.length) {
      const head = el("tr", null, el("th", { text: "method" }));
      D.inputs.forEach((name) => head.appendChild(el("th", { text: name })));
      const body = el("tbody");
      grid.forEach(([method, letters]) => {
        const tr = el("tr", null, el("td", { text: method }));
        for (let k = 0; k < D.inputs.length; k++) {
          const c = letters.charAt(k) || ".";
          tr.appendChild(el("td", { cls: "call c" + (c === "." ? "none" : c), text: c === "." ? "" : c, title: CALL[c] || c }));
        }
        body.appendChild(tr);
      });
      box.appendChild(el("table", { cls: "callgrid" }, el("thead", null, head), body));
    }
    lines.slice(1).forEach((line) => box.appendChild(el("div", { cls: "callline", text: line })));
    return box;
  }
  function copyText(text, code, button) {
    const done = () => { button.textContent = "copied"; setTimeout(() => { button.textContent = "copy"; }, 1500); };
    const select = () => {
      const range = document.createRange();
      range.selectNodeContents(code);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      button.textContent = "selected";
    };
    try {
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, select);
      else select();
    } catch (err) { select(); }
  }
  function openDrawer(g) {
    drawerGroup = g;
    const prod = envs[G.p[g]], cons = envs[G.c[g]], fmt = D.formats[G.f[g]];
    const all = new Int32Array(NS);
    drawerRows = [];
    for (let i = G.s[g]; i < G.s[g + 1]; i++) { all[st[i]]++; if (rowPasses(i)) drawerRows.push(i); }
    const rank = (s) => (s < NA ? s : -1);  // worst first, n/a and pending last
    drawerRows.sort((a, b) => rank(st[b]) - rank(st[a]) || a - b);
    document.getElementById("d-title").textContent = fmt + ": " + prod.id + " → " + cons.id;
    document.getElementById("d-sub").textContent = "saved with scikit-learn " + prod.sklearn + ", Python " + prod.python +
      ", numpy " + prod.numpy + " on " + prod.arch + "; loaded with scikit-learn " + cons.sklearn + ", Python " +
      cons.python + ", numpy " + cons.numpy + " on " + cons.arch + ". " + num(drawerRows.length) + " of " +
      num(G.s[g + 1] - G.s[g]) + " estimators match the filters.";
    const counts = document.getElementById("d-counts");
    counts.textContent = "";
    counts.appendChild(countChips(all, 0));
    document.getElementById("d-rows").textContent = "";
    drawerShown = 0;
    moreRows();
    const drawer = document.getElementById("drawer");
    drawer.hidden = false;
    if (selectedCell) selectedCell.classList.remove("sel");
    selectedCell = document.querySelector('#grids td[data-g="' + g + '"]');
    if (selectedCell) selectedCell.classList.add("sel");
  }
  function moreRows() {
    const body = document.getElementById("d-rows"), more = document.getElementById("d-more");
    const end = Math.min(drawerRows.length, drawerShown + ROWS_PAGE);
    const frag = document.createDocumentFragment();
    for (let k = drawerShown; k < end; k++) frag.appendChild(rowEl(drawerRows[k]));
    body.appendChild(frag);
    drawerShown = end;
    const left = drawerRows.length - drawerShown;
    more.hidden = left <= 0;
    more.textContent = "show " + Math.min(left, ROWS_PAGE) + " more (" + num(left) + " left)";
  }
  function closeDrawer() {
    document.getElementById("drawer").hidden = true;
    drawerGroup = -1;
    if (selectedCell) selectedCell.classList.remove("sel");
    selectedCell = null;
  }

  // ---- filters ------------------------------------------------------------------------------------
  function chip(label, checked, swatch, onChange) {
    const box = el("input", { type: "checkbox", checked: checked });
    const lab = el("label", { cls: "chip" }, box, swatch ? el("i", { cls: "sw " + swatch }) : null, label);
    box.addEventListener("change", () => { lab.classList.toggle("off", !box.checked); onChange(box.checked); });
    return lab;
  }
  function toggle(set, value) { return (on) => { if (on) set.add(value); else set.delete(value); refresh(); }; }
  function setEstimator(e) {
    F.est = e;
    document.getElementById("f-est").value = e >= 0 ? D.est[e] : "";
    refresh();
    if (e >= 0) document.getElementById("overview").scrollIntoView({ block: "start" });
  }
  function buildFilters() {
    const formats = document.getElementById("f-formats");
    D.formats.forEach((name, f) => formats.appendChild(chip(name, true, null, toggle(F.fmt, f))));
    const statuses = document.getElementById("f-statuses");
    ST.forEach((name, s) => statuses.appendChild(chip(name, true, "s" + s, toggle(F.st, s))));
    const arch = document.getElementById("f-arch");
    archs.forEach((name) => arch.appendChild(chip(name, true, null, toggle(F.arch, name))));
    const fam = document.getElementById("f-family");
    D.fams.forEach((name, i) => fam.appendChild(new Option(name || "(none)", String(i))));
    fam.addEventListener("change", () => { F.fam = Number(fam.value); refresh(); });
    const list = document.getElementById("est-list"), input = document.getElementById("f-est");
    const index = new Map(D.est.map((name, i) => [name, i]));
    D.est.forEach((name) => list.appendChild(el("option", { value: name })));
    input.addEventListener("input", () => {
      const e = input.value === "" ? -1 : index.has(input.value) ? index.get(input.value) : null;
      if (e !== null && e !== F.est) { F.est = e; refresh(); }
    });
    document.getElementById("f-est-clear").addEventListener("click", () => setEstimator(-1));
    const change = document.getElementById("f-change");
    if (change) change.addEventListener("change", () => { F.ch = change.value; refresh(); });
    document.getElementById("f-reset").addEventListener("click", () => {
      document.querySelectorAll("#filters input[type=checkbox]").forEach((b) => { b.checked = true; b.parentNode.classList.remove("off"); });
      D.formats.forEach((_, f) => F.fmt.add(f));
      ST.forEach((_, s) => F.st.add(s));
      archs.forEach((a) => F.arch.add(a));
      fam.value = "-1"; F.fam = -1;
      if (change) { change.value = ""; F.ch = ""; }
      setEstimator(-1);
    });
    document.getElementById("filters").addEventListener("submit", (ev) => ev.preventDefault());
  }

  // ---- which formats survive this upgrade? ---------------------------------------------------------
  function buildUpgrade() {
    const ps = document.getElementById("up-producer"), cs = document.getElementById("up-consumer");
    envs.forEach((e) => {
      const p = new Option(e.id + (e.state === "ok" ? "" : " (" + failText(e) + ")"), String(e.i));
      p.disabled = e.state !== "ok";
      ps.appendChild(p);
      const c = new Option(e.id + (e.state === "ok" || e.state === "dump" ? "" : " (" + failText(e) + ")"), String(e.i));
      c.disabled = !(e.state === "ok" || e.state === "dump");
      cs.appendChild(c);
    });
    const producers = envs.filter((e) => e.state === "ok");
    const consumers = envs.filter((e) => e.state === "ok" || e.state === "dump");
    if (producers.length) ps.value = String(producers[0].i);
    if (consumers.length) cs.value = String(consumers[consumers.length - 1].i);
    ps.addEventListener("change", renderUpgrade);
    cs.addEventListener("change", renderUpgrade);
    renderUpgrade();
  }
  function verdict(counts, g) {
    let total = 0, bad = 0, known = 0, close = 0;
    for (let i = G.s[g]; i < G.s[g + 1]; i++) {
      if (isBad(st[i])) { bad++; if (R.k[i]) known++; }
      if (st[i] === WARN && closeW[i]) close++;
    }
    for (let s = 0; s < NS; s++) total += counts[s];
    const w = worstOf(counts, 0);
    const na = counts[NA] ? " (n/a for " + num(counts[NA]) + ")" : "";
    if (w === NA) return ["not applicable: the producer cannot write this format", "s10"];
    const pend = counts[PEND] ? "; " + num(counts[PEND]) + " not computed" : "";
    if (bad) return ["breaks for " + num(bad) + " of " + num(total) + " estimators" + (known === bad ? " (known)" : "") + pend, "s" + w];
    if (w === PEND) return ["not known yet: " + num(counts[PEND]) + " of " + num(total) + " cells not computed", "s11"];
    if (w === UNCOMP) return ["loads, but no output could be compared for " + num(counts[UNCOMP]) + " of " + num(total) + na, "s" + w];
    if (w === WARN) return ["survives with warnings, predictions " + (close ? "within tolerance" : "identical") + na, close ? "s2" : "s2 safe"];
    if (w === CLOSE) return ["survives: predictions within tolerance" + na, "s1"];
    return ["survives: predictions identical" + na, "s0"];
  }
  function renderUpgrade() {
    const box = document.getElementById("upgrade-table");
    box.textContent = "";
    const p = Number(document.getElementById("up-producer").value), c = Number(document.getElementById("up-consumer").value);
    if (!(p >= 0 && c >= 0)) { box.appendChild(el("p", { text: "No environment built: nothing to compare." })); return; }
    const tbody = el("tbody");
    D.formats.forEach((name, f) => {
      const g = findGroup(p, c, f);
      if (g < 0) {
        tbody.appendChild(el("tr", null, el("td", { text: name }), el("td", { text: "—" }), el("td"),
                             el("td", { text: "nothing to load" }), el("td")));
        return;
      }
      const counts = new Int32Array(NS);
      for (let i = G.s[g]; i < G.s[g + 1]; i++) counts[st[i]]++;
      const w = worstOf(counts, 0), [text, cls] = verdict(counts, g);
      const bar = el("span", { cls: "mix" });
      bar.style.background = mix(counts, 0);
      const tr = el("tr", { cls: "click", title: "open the estimators" }, el("td", null, el("b", { text: name })),
        el("td", null, el("span", { cls: "badge s" + w, text: ST[w] })), el("td", null, bar),
        el("td", { cls: "verdict" }, el("span", { cls: "badge " + cls, text: text })), el("td", null, countChips(counts, 0)));
      tr.addEventListener("click", () => openDrawer(g));
      tbody.appendChild(tr);
    });
    box.appendChild(el("table", { cls: "list" }, el("thead", null, el("tr", null, el("th", { text: "format" }),
      el("th", { text: "worst" }), el("th", { text: "mix" }), el("th", { text: "verdict" }), el("th", { text: "counts" }))), tbody));
  }

  // ---- start --------------------------------------------------------------------------------------
  buildFilters();
  buildUpgrade();
  refresh(() => { document.body.dataset.ready = "1"; });
  document.getElementById("grids").addEventListener("click", (ev) => {
    const td = ev.target.closest("td[data-g]");
    if (td) openDrawer(Number(td.dataset.g));
  });
  document.getElementById("grids").addEventListener("keydown", (ev) => {
    const td = ev.target.closest("td[data-g]");
    if (td && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); openDrawer(Number(td.dataset.g)); }
  });
  document.getElementById("d-close").addEventListener("click", closeDrawer);
  document.getElementById("d-more").addEventListener("click", moreRows);
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeDrawer(); });
})();
