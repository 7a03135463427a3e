// The live dashboard: polls the JSON sample, keeps the last minute of samples, and turns
// totals into rates here, since consecutive polls may reach different web processes.
"use strict";

(function () {
  const body = document.body;
  const endpoint = body.dataset.endpoint;
  const pollMs = Number(body.dataset.pollMs);
  const rateSeconds = Number(body.dataset.rateSeconds);
  const tokenHeader = body.dataset.tokenHeader;
  // Lets polls through without a database read (purchases/dashboard/access.py); the server
  // sends a new one whenever it checked the login again.
  let token = body.dataset.token;
  const keepSeconds = 60;
  const staleSeconds = 3;
  // A request the server never answers must not stop the loop.
  const requestTimeoutMs = 3000;
  const rates = ["accepted", "written", "counted"];
  const levels = ["backlog", "lag"];
  const samples = [];
  let lastUpdate = 0;
  let problem = "";
  let polls = 0;
  const numbers = new Intl.NumberFormat("en-US", {maximumFractionDigits: 0});
  const decimals = new Intl.NumberFormat("en-US", {maximumFractionDigits: 1});

  const $ = (id) => document.getElementById(id);
  const storeInput = $("store-input");
  const itemInput = $("item-input");

  function chosenAtStart(name) {
    const fromUrl = new URLSearchParams(location.search).get(name);
    return fromUrl || localStorage.getItem("tigle-dashboard-" + name) || "1";
  }

  function choose(input, name) {
    const value = input.value.trim();
    localStorage.setItem("tigle-dashboard-" + name, value);
    const url = new URL(location.href);
    url.searchParams.set(name, value);
    history.replaceState(null, "", url);
  }

  function format(value) {
    if (value === null || value === undefined) return "n/a";
    return Math.abs(value) < 10 && value % 1 !== 0 ? decimals.format(value) : numbers.format(value);
  }

  // The rate at sample i: its total against the oldest sample of the window before it.
  function rateAt(key, i) {
    const now = samples[i];
    let j = i;
    while (j > 0 && now.time - samples[j - 1].time <= rateSeconds) j--;
    const then = samples[j];
    if (j === i || now[key] === null || then[key] === null) return null;
    const rate = (now[key] - then[key]) / (now.time - then.time);
    return rate < 0 ? null : rate;  // a counter that went back: a restart, not a rate
  }

  function series(key) {
    const isRate = rates.includes(key);
    return samples.map((s, i) => ({time: s.time, value: isRate ? rateAt(key, i) : s[key]}));
  }

  // The last minute of points, drawn right to left from the newest; a faint line marks zero
  // across the whole minute, so a short history does not look like a broken chart.
  function sparkline(canvas, points) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (canvas.width !== width * ratio) {
      canvas.width = width * ratio;
      canvas.height = height * ratio;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const style = getComputedStyle(canvas);
    ctx.fillStyle = style.borderColor;
    ctx.fillRect(0, height - 1, width, 1);
    const known = points.filter((p) => p.value !== null);
    if (known.length < 2) return;
    const end = points[points.length - 1].time;
    const top = Math.max(...known.map((p) => p.value), 1);
    const x = (t) => width - ((end - t) / keepSeconds) * width;
    const y = (v) => height - 2 - (v / top) * (height - 6);
    ctx.beginPath();
    known.forEach((p, i) => (i ? ctx.lineTo(x(p.time), y(p.value)) : ctx.moveTo(x(p.time), y(p.value))));
    ctx.strokeStyle = style.color;
    ctx.lineWidth = 1.5;
    ctx.stroke();
    ctx.lineTo(x(known[known.length - 1].time), height);
    ctx.lineTo(x(known[0].time), height);
    ctx.closePath();
    ctx.globalAlpha = 0.15;
    ctx.fillStyle = style.color;
    ctx.fill();
    ctx.globalAlpha = 1;
  }

  function showTiles(data) {
    for (const key of [...rates, ...levels]) {
      const points = series(key);
      const latest = points[points.length - 1].value;
      const shown = rates.includes(key) && samples.length < 2 && data[key] !== null ? "…" : format(latest);
      $(key).textContent = shown;
      $("tile-" + key).classList.toggle("unknown", latest === null);
      sparkline($("spark-" + key), points);
    }
    for (const key of [...rates, ...levels]) {
      const note = $(key + "-note");
      note.dataset.usual ??= note.textContent;
      const missing = data.missing[key];
      note.textContent = missing ? missing.reason
        : key === "written" ? "last row id " + numbers.format(data[key])
        : rates.includes(key) ? "total " + numbers.format(data[key]) : note.dataset.usual;
      note.title = missing ? missing.detail : "";
      note.classList.toggle("error", Boolean(missing));
    }
  }

  function showHealth(health) {
    for (const [name, part] of Object.entries(health)) {
      const card = $("health-" + name);
      card.className = "part " + part.status;
      card.querySelector(".status").textContent = part.status;
      card.querySelector(".detail").textContent = part.detail;
      card.querySelector(".detail").title = part.detail;
    }
  }

  // The id the server reads from an input: digits from 1 up, else none.
  function chosenId(input) {
    const value = input.value.trim();
    return /^[0-9]+$/.test(value) && Number(value) >= 1 ? Number(value) : null;
  }

  function showRanking(tableId, ranking, input, noun) {
    if (ranking.id !== chosenId(input)) return;  // an answer for the id chosen before
    const tbody = $(tableId).querySelector("tbody");
    const empty = $(tableId + "-empty");
    const top = Math.max(1, ...ranking.rows.map((r) => r.quantity));
    tbody.replaceChildren(...ranking.rows.map((row, i) => {
      const tr = document.createElement("tr");
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = (100 * row.quantity / top).toFixed(1) + "%";
      for (const text of [i + 1, row.id, numbers.format(row.quantity)]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      tr.lastChild.className = "qty";
      const barCell = document.createElement("td");
      barCell.className = "bar-cell";
      barCell.appendChild(bar);
      tr.appendChild(barCell);
      return tr;
    }));
    let message = "";
    // The short reason in the table, as the tiles give it; the whole error on hover.
    if (ranking.error) message = "Analytics is not answering; the ranking comes back when it does.";
    else if (ranking.id === null) message = "Choose a " + noun + ".";
    else if (!ranking.rows.length) message = "No sales yet for " + noun + " " + ranking.id + ".";
    empty.textContent = message;
    empty.title = ranking.error || "";
    empty.classList.toggle("error", Boolean(ranking.error));
  }

  function show(data) {
    samples.push(data);
    while (samples.length && data.time - samples[0].time > keepSeconds) samples.shift();
    showTiles(data);
    showHealth(data.health);
    showRanking("top-items", data.store, storeInput, "store");
    showRanking("top-stores", data.item, itemInput, "item");
    lastUpdate = Date.now();
    polls += 1;
    body.dataset.polls = polls;
  }

  function freshness() {
    const age = (Date.now() - lastUpdate) / 1000;
    const stale = !lastUpdate || age > staleSeconds;
    $("freshness").classList.toggle("stale", stale);
    body.classList.toggle("stale", stale);
    const when = lastUpdate ? "updated " + age.toFixed(1) + " s ago" : "connecting…";
    $("updated").textContent = problem ? when + " · " + problem : when;
    $("updated").title = problem;
  }

  async function poll() {
    const started = Date.now();
    const query = new URLSearchParams({store: chosenId(storeInput) ?? "", item: chosenId(itemInput) ?? ""});
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), requestTimeoutMs);
    let note = "";
    let loggedOut = false;
    try {
      const response = await fetch(endpoint + "?" + query, {
        credentials: "same-origin", cache: "no-store", signal: abort.signal,
        headers: {Accept: "application/json", [tokenHeader]: token}});
      if (response.status === 403) {
        note = "logged out";
        loggedOut = true;
      } else if (!response.ok) {
        const answer = await response.json().catch(() => ({}));
        note = answer.message || "the web answered " + response.status;
      } else {
        const data = await response.json();
        if (data.token) token = data.token;
        show(data);
      }
    } catch (error) {
      note = "the web is not answering";
    } finally {
      clearTimeout(timer);
    }
    problem = note;
    $("login-again").hidden = !loggedOut;
    freshness();
    setTimeout(poll, Math.max(0, pollMs - (Date.now() - started)));
  }

  for (const [input, name] of [[storeInput, "store"], [itemInput, "item"]]) {
    input.value = chosenAtStart(name);
    input.addEventListener("input", () => choose(input, name));
  }
  setInterval(freshness, 250);
  poll();
})();
