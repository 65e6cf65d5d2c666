// Backlog dashboard: actions through the JSON API, live refresh, the throughput chart.
// Plain browser JavaScript, no build step. Loaded with the page's CSP nonce.
"use strict";
(function () {
  const base = document.body.dataset.base || "";
  const flash = document.getElementById("flash");

  function say(text, isError) {
    flash.textContent = text;
    flash.className = isError ? "error" : "ok";
    flash.hidden = false;
  }

  async function call(method, url, body) {
    const response = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const message = data.error ? data.error.message : response.statusText;
      throw new Error(message);
    }
    return data;
  }

  async function act(url, body, confirmText) {
    if (confirmText && !window.confirm(confirmText)) return;
    try {
      const data = await call("POST", url, body);
      const changed = Array.isArray(data.changed) ? data.changed.length + " job(s) changed" : "done";
      sessionStorage.setItem("backlog-flash", changed);
      window.location.reload();
    } catch (e) {
      say(e.message, true);
    }
  }

  const saved = sessionStorage.getItem("backlog-flash");
  if (saved) {
    sessionStorage.removeItem("backlog-flash");
    say(saved, false);
  }

  document.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (!target) return;
    if (target.dataset.post) {
      const body = target.dataset.body ? JSON.parse(target.dataset.body) : {};
      act(target.dataset.post, body, target.dataset.confirm);
    } else if (target.dataset.bulk) {
      const ids = Array.from(document.querySelectorAll("input.select:checked")).map((c) => Number(c.value));
      if (ids.length === 0) return say("Select jobs first.", true);
      act(base + "/api/jobs/actions/" + target.dataset.bulk, { ids: ids },
        target.dataset.bulk + " " + ids.length + " selected job(s)?");
    } else if (target.dataset.bulkAll) {
      const filter = target.dataset.filter || "";
      if (!filter) return say("Set a filter first: actions on every job need at least one criterion.", true);
      call("GET", base + "/api/jobs/count?" + filter).then((c) => {
        const more = c.capped ? " (more match: only the first " + c.cap + ")" : "";
        act(base + "/api/jobs/actions/" + target.dataset.bulkAll, { filter: filter },
          target.dataset.bulkAll + " " + c.count + " matching job(s)" + more + "?");
      }).catch((e) => say(e.message, true));
    } else if (target.dataset.copy) {
      const text = document.getElementById(target.dataset.copy).textContent;
      navigator.clipboard.writeText(text).then(() => say("Copied.", false), () => say("Copy failed.", true));
    } else if (target.dataset.editCron) {
      const spec = window.prompt("New schedule (cron expression or @every 5m):", target.dataset.spec);
      if (spec) act(base + "/api/cron/" + encodeURIComponent(target.dataset.editCron), { spec: spec });
    }
  });

  const selectAll = document.getElementById("select-all");
  if (selectAll) {
    selectAll.addEventListener("change", () => {
      document.querySelectorAll("input.select").forEach((c) => { c.checked = selectAll.checked; });
    });
  }

  const hideArgs = document.getElementById("hide-args");
  if (hideArgs) {
    hideArgs.checked = localStorage.getItem("backlog-hide-args") === "1";
    document.body.classList.toggle("hide-args", hideArgs.checked);
    hideArgs.addEventListener("change", () => {
      localStorage.setItem("backlog-hide-args", hideArgs.checked ? "1" : "0");
      document.body.classList.toggle("hide-args", hideArgs.checked);
    });
  }

  const limits = document.getElementById("limits-form");
  if (limits) {
    limits.addEventListener("submit", (event) => {
      event.preventDefault();
      const f = new FormData(limits);
      const num = (v) => (v === "" ? null : Number(v));
      const body = { max_running: num(f.get("max_running")) };
      body.rate_limit = f.get("rate_max") === "" ? null
        : { max: Number(f.get("rate_max")), period_secs: Number(f.get("rate_period") || 1) };
      act(base + "/api/queues/" + encodeURIComponent(f.get("queue")) + "/limits", body);
    });
  }

  const enqueueForm = document.getElementById("enqueue-form");
  if (enqueueForm) {
    enqueueForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const f = new FormData(enqueueForm);
      let args;
      try {
        args = JSON.parse(f.get("args") || "{}");
      } catch (e) {
        return say("Args must be JSON: " + e.message, true);
      }
      const body = { kind: f.get("kind"), args: args };
      if (f.get("queue")) body.queue = f.get("queue");
      if (f.get("priority")) body.priority = Number(f.get("priority"));
      call("POST", base + "/api/jobs", body)
        .then((r) => { window.location.href = base + "/jobs/" + r.id; })
        .catch((e) => say(e.message, true));
    });
  }

  // The chart: stacked bars of completed / discarded / cancelled per bucket.
  const chart = document.getElementById("chart");
  function draw(points) {
    if (!chart) return;
    const ctx = chart.getContext("2d");
    const w = chart.width, h = chart.height, pad = 24;
    ctx.clearRect(0, 0, w, h);
    const max = Math.max(1, ...points.map((p) => p.completed + p.failed + p.cancelled));
    const bw = (w - pad) / Math.max(1, points.length);
    const colors = { completed: "#2e7d32", failed: "#c62828", cancelled: "#757575" };
    points.forEach((p, i) => {
      let y = h - pad;
      for (const key of ["completed", "failed", "cancelled"]) {
        const bh = ((h - 2 * pad) * p[key]) / max;
        ctx.fillStyle = colors[key];
        ctx.fillRect(pad + i * bw, y - bh, Math.max(1, bw - 1), bh);
        y -= bh;
      }
    });
    ctx.fillStyle = "#444";
    ctx.font = "12px sans-serif";
    ctx.fillText(String(max), 2, pad);
    ctx.fillText("0", 2, h - pad);
  }
  const range = document.getElementById("range");
  if (chart) draw(JSON.parse(chart.dataset.history || "[]"));

  async function refreshOverview() {
    const data = await call("GET", base + "/api/overview?range=" + (range ? range.value : "hour"));
    for (const [state, n] of Object.entries(data.counts)) {
      const el = document.querySelector('[data-count="' + state + '"]');
      if (el) el.textContent = n;
    }
    draw(data.history);
    document.getElementById("bucket").textContent = data.range === "day" ? "hour" : "minute";
  }
  if (range) range.addEventListener("change", () => refreshOverview().catch((e) => say(e.message, true)));

  // Live refresh: the interval and pause survive page loads.
  const intervalSelect = document.getElementById("refresh-interval");
  const pauseButton = document.getElementById("refresh-pause");
  let paused = localStorage.getItem("backlog-paused") === "1";
  intervalSelect.value = localStorage.getItem("backlog-interval") || "5";
  pauseButton.textContent = paused ? "Resume" : "Pause";
  let timer = null;
  function schedule() {
    if (timer) clearInterval(timer);
    const seconds = Number(intervalSelect.value);
    if (paused || !seconds) return;
    timer = setInterval(() => {
      if (chart) {
        refreshOverview().catch(() => {});
      } else if (document.querySelectorAll("input.select:checked").length === 0 && !document.activeElement.matches("input, select")) {
        window.location.reload();
      }
    }, seconds * 1000);
  }
  intervalSelect.addEventListener("change", () => {
    localStorage.setItem("backlog-interval", intervalSelect.value);
    schedule();
  });
  pauseButton.addEventListener("click", () => {
    paused = !paused;
    localStorage.setItem("backlog-paused", paused ? "1" : "0");
    pauseButton.textContent = paused ? "Resume" : "Pause";
    schedule();
  });
  schedule();
})();
