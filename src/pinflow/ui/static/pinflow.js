// Pinflow's web UI script: dialogs and actions through the JSON API, the designer's live
// validation, live refresh of runs and logs. Plain JavaScript, no build step (ADR 0005).
// Beside it: trigger-form.js (the Start Run dialog's params form) and theme.js (ADR 0029).
//
// Authentication: the session cookie is HttpOnly and only opens pages. For the API this
// script asks /ui/session/token for a short-lived token, keeps it in memory and sends it as
// "Authorization: Bearer"; the API never reads the cookie, so cross-site requests can do nothing.
//
// Loading states (ADR 0029): while a request is in flight the control that asked for it is
// disabled and aria-busy, the box it fills is aria-busy, and a bar shows at the top of the page;
// the stylesheet shows spinners only when the wait lasts.
(() => {
  "use strict";

  const POLL_MS = 700;
  const FLASH_KEY = "pinflow.flash";
  const enc = encodeURIComponent;
  const $ = (sel, root = document) => root.querySelector(sel);
  let [token, tokenExpiry] = [null, 0];
  let inFlight = 0;
  const { paramsForm, showTab } = window.PinflowTriggerForm; // trigger-form.js, loaded first

  // --- loading states ----------------------------------------------------------------------

  // ``promise``, with the page marked busy until it settles.
  async function tracked(promise) {
    inFlight += 1;
    document.documentElement.dataset.busy = "";
    try {
      return await promise;
    } finally {
      inFlight -= 1;
      if (inFlight === 0) delete document.documentElement.dataset.busy;
    }
  }

  // Run ``work`` with ``el`` (a control, or a box being filled) busy; a control is disabled too.
  // A dialog's plan is asked for again on every change of its fields, and answers can come back
  // out of order. ``newest()`` gives an asker that resolves to STALE for any answer but the one
  // to the latest question, so the plan shown is always the one for what the fields say now.
  const STALE = Symbol("stale");
  function newest() {
    let asked = 0;
    return async (ask) => {
      const mine = ++asked;
      const answer = await ask();
      return mine === asked ? answer : STALE;
    };
  }

  async function busyWhile(el, work) {
    if (!el) return work();
    const control = "disabled" in el; // a button, not a box
    el.setAttribute("aria-busy", "true");
    if (control) el.disabled = true;
    try {
      return await work();
    } finally {
      el.removeAttribute("aria-busy");
      if (control) el.disabled = false;
    }
  }

  // --- the API ---------------------------------------------------------------------------

  async function bearer(renew) {
    if (!renew && token && Date.now() < tokenExpiry) return token;
    const res = await fetch("/ui/session/token", {
      headers: { "X-Pinflow-UI": "1" }, credentials: "same-origin", redirect: "manual",
    });
    if (!res.ok) {
      window.location.assign("/ui/login?next=" + enc(location.pathname + location.search));
      throw new Error("Your session has ended: log in again.");
    }
    const body = await res.json();
    [token, tokenExpiry] = [body.access_token, Date.now() + (body.expires_in - 30) * 1000];
    return token;
  }

  async function api(method, path, body, accept = "application/json") {
    const send = async (renew) => fetch(path, {
      method,
      credentials: "omit", // the API authenticates the Bearer header, never the cookie
      headers: {
        Authorization: "Bearer " + (await bearer(renew)),
        Accept: accept,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let res = await tracked(send(false));
    if (res.status === 401) res = await tracked(send(true));
    const isJson = (res.headers.get("content-type") || "").includes("json");
    const data = res.status === 204 ? null : isJson ? await res.json() : await res.text();
    return { ok: res.ok, status: res.status, data };
  }

  function messageOf(r) {
    const d = r.data;
    if (typeof d === "string" && d) return d;
    if (d && typeof d.message === "string") {
      // The message often lists its problems already (the server's format_problems): add only
      // the ones it does not mention, so each problem is said once.
      const problems = (d.problems || []).filter((p) => !d.message.includes(p.message));
      const listed = problems.map((p) => (p.location ? p.location + ": " : "") + p.message);
      return [d.message, ...listed].join("\n");
    }
    if (d && typeof d.detail === "string") return d.detail;
    if (d && Array.isArray(d.detail)) return d.detail.map((e) => (e.loc || []).join(".") + ": " + e.msg).join("; ");
    return "The request failed (HTTP " + r.status + ").";
  }

  // A call that must succeed: its answer, or an Error carrying the server's message.
  async function call(method, path, body) {
    const r = await api(method, path, body);
    if (!r.ok) throw new Error(messageOf(r));
    return r.data;
  }

  // --- messages and dialogs ----------------------------------------------------------------

  function flash(text, danger) {
    const box = $("#flash");
    if (!box) return;
    box.textContent = text;
    box.className = "alert" + (danger ? " alert-danger" : " alert-success");
    box.hidden = false;
  }

  // Navigate (or reload), then say what happened on the next page.
  function goWith(url, text) {
    sessionStorage.setItem(FLASH_KEY, text);
    if (url) location.assign(url);
    else location.reload();
  }
  const reloadWith = (text) => goWith(null, text);

  function fill(root, values) {
    for (const el of root.querySelectorAll("[data-slot]")) el.textContent = values[el.dataset.slot] ?? "";
    for (const el of root.querySelectorAll("[data-if]")) el.hidden = !values[el.dataset.if] || values[el.dataset.if] === "0";
    for (const el of root.querySelectorAll("[data-slot-attrs]")) {
      for (const key of el.dataset.slotAttrs.split(" ")) el.dataset[key] = values[key] ?? "";
    }
  }

  const closeDialog = () => { const d = $("#dialog"); if (d && d.open) d.close(); };

  function dialogError(text) {
    const box = $("#dialog-error");
    box.textContent = text || "";
    box.hidden = !text;
  }

  // Show the dialog of template ``id``; ``onConfirm(body)`` may throw (its message is shown and
  // the dialog stays open) or return false to keep it open (it opened another one).
  function openDialog(id, values, onConfirm, onCancel) {
    const d = $("#dialog");
    const tpl = document.getElementById(id);
    const body = $("#dialog-body");
    body.replaceChildren(tpl.content.cloneNode(true));
    fill(body, values);
    $("#dialog-title").textContent = tpl.dataset.title;
    const confirm = $("#dialog-confirm");
    confirm.textContent = tpl.dataset.confirm || "Confirm";
    confirm.className = "btn " + (tpl.dataset.danger ? "btn-danger" : "btn-primary");
    confirm.disabled = false;
    $("#dialog-cancel").textContent = tpl.dataset.cancel || "Cancel";
    dialogError("");
    confirm.onclick = async (event) => {
      event.preventDefault();
      dialogError("");
      try {
        if ((await busyWhile(confirm, () => onConfirm(body))) !== false) closeDialog();
      } catch (err) {
        dialogError(err.message);
      }
    };
    $("#dialog-cancel").onclick = () => { closeDialog(); if (onCancel) onCancel(); };
    d.oncancel = () => { if (onCancel) onCancel(); }; // the Escape key
    if (!d.open) d.showModal();
    return body;
  }

  // --- version actions (seed 001) ----------------------------------------------------------

  const wf = (b, rest = "") => "/api/workflows/" + enc(b.dataset.id) + rest;
  const page = (id) => "/ui/workflows/" + enc(id);
  const onDetail = () => Boolean($("#detail-actions"));

  function startRun(b, kind) {
    const body = openDialog("tpl-start-run", { ...b.dataset, kind }, async (dialogBody) => {
      let conf;
      try {
        conf = JSON.parse($("#run-conf", dialogBody).value || "{}");
      } catch (err) {
        throw new Error("The configuration is not valid JSON: " + err.message);
      }
      const r = await call("POST", wf(b, "/runs"), { conf });
      goWith("/ui/dags/" + enc(r.run.dagId) + "/runs/" + enc(r.run.runId), r.message + ".");
    });
    call("GET", wf(b))
      .then((v) => paramsForm(body, v.variables || {}))
      .catch((err) => { $("#run-form", body).textContent = err.message; showTab(body, "json"); });
  }

  function askToDeprecateSource(published) {
    return call("GET", "/api/workflows/" + enc(published.sourceWorkflowId)).then((src) => {
      closeDialog();
      openDialog("tpl-deprecate-previous", { name: src.name, version: src.version }, async () => {
        await call("POST", "/api/workflows/" + enc(src.id) + "/deprecate");
        reloadWith("Published. The previous version (v" + src.version + ") is deprecated.");
      }, () => reloadWith("Published. The previous version stays active."));
      return false;
    });
  }

  const actions = {
    "new-version": (b) => openDialog("tpl-new-version", b.dataset, async () => {
      const r = await call("POST", wf(b, "/create-version"));
      goWith(page(r.newWorkflow.id) + "/designer", r.message + ": edit it, then publish it.");
    }),
    publish: (b) => openDialog("tpl-publish", b.dataset, async () => {
      const r = await call("POST", wf(b, "/publish"), {});
      if (r.sourceStillActive && r.sourceWorkflowId) return askToDeprecateSource(r);
      reloadWith(r.message + ".");
    }),
    deprecate: (b) => openDialog("tpl-deprecate", b.dataset, async () => {
      const r = await call("POST", wf(b, "/deprecate"));
      reloadWith(r.message + ".");
    }),
    revert: (b) => openDialog("tpl-revert", b.dataset, async (body) => {
      const r = await call("POST", wf(b, "/revert-to-draft"), { confirmationName: $("#confirm-name", body).value });
      reloadWith(r.message + ".");
    }),
    delete: (b) => openDialog("tpl-delete", b.dataset, async () => {
      const r = await call("DELETE", wf(b));
      reloadWith(r.message + (onDetail() ? ": it can be restored." : ": \"Show deleted\" lists it."));
    }),
    restore: (b) => openDialog("tpl-restore", b.dataset, async () => reloadWith((await call("POST", wf(b, "/restore"))).message + ".")),
    purge: (b) => openDialog("tpl-purge", b.dataset, async () => goWith("/ui/workflows", (await call("DELETE", wf(b, "?permanent=true"))).message + ".")),
    "toggle-pause": async (b) => {
      const pause = b.getAttribute("aria-checked") !== "true";
      b.disabled = true;
      try {
        const r = await call("PATCH", "/api/v2/dags/" + enc(b.dataset.dag) + "?update_mask=is_paused", { is_paused: pause });
        b.setAttribute("aria-checked", r.is_paused ? "true" : "false");
        b.textContent = r.is_paused ? "Paused" : "Active";
        b.title = r.is_paused ? "Paused: click to unpause" : "Running its schedule: click to pause";
        b.closest("tr").dataset.paused = r.is_paused ? "yes" : "";
        flash("DAG " + b.dataset.dag + (r.is_paused ? " paused." : " unpaused."), false);
      } finally {
        b.disabled = false;
      }
    },
    canary: (b) => canary(b),
    "start-run": (b) => startRun(b, "run"),
    "test-run": (b) => startRun(b, "test run"),
    "clear-history": (b) => dagOperation(b, "tpl-clear-history", ""),
    deregister: (b) => dagOperation(b, "tpl-deregister", "deregister=true"),
    "restore-dag": (b) => openDialog("tpl-restore-dag", b.dataset, async () => {
      await call("POST", "/api/v2/dags/" + enc(b.dataset.dag) + "/restore");
      reloadWith("DAG " + b.dataset.dag + " restored.");
    }),
    "clear-task": (b) => clearTask(b),
    "clear-failed": (b) => clearTasks(b.dataset.dag, [{ run: b.dataset.run, taskIds: null }], "the failed tasks", "run " + b.dataset.run),
    "select-tasks": () => { selecting = !selecting; if (!selecting) picked.clear(); showSelection(); },
    "clear-selected": (b) => clearSelected(b),
    "mark-task": (b) => markTask(b),
    "mark-run": (b) => markRun(b),
    "show-tries": (b) => showTries(b),
    "show-log": (b) => showLog(b),
  };

  // --- DAG operations (seed 000): each with its impact preview -----------------------------

  async function dagOperation(b, template, flag) {
    const dag = b.dataset.dag;
    const impact = await call("GET", "/api/v2/dags/" + enc(dag) + "/impact");
    const values = { ...impact, dag, in_flight: impact.runs_in_flight.join(", ") };
    openDialog(template, values, async (body) => {
      const force = $("#force", body);
      const query = [flag, force && force.checked ? "force=true" : ""].filter(Boolean).join("&");
      await call("DELETE", "/api/v2/dags/" + enc(dag) + (query ? "?" + query : ""));
      if (flag) goWith("/ui/workflows", "DAG " + dag + " deregistered: \"Show deleted\" lists it.");
      else reloadWith("History of " + dag + " cleared.");
    });
  }

  // --- clearing tasks: the dry-run plan first ----------------------------------------------

  const PLAN_ORDER = [["re_executed", "Re-executed"], ["new", "New"], ["removed", "Removed"], ["reused", "Reused"]];

  async function versionLabel(id) {
    if (!id) return "none";
    const r = await api("GET", "/api/workflows/" + enc(id));
    return r.ok ? "v" + r.data.version + " (" + r.data.status + ")" : id.slice(0, 8);
  }

  const cell = (row, text, cls) => Object.assign(row.insertCell(), { textContent: text, className: cls || "" });

  // One run's plan; ``single`` gives its parts the ids a one-run dialog has always had.
  async function renderPlan(box, plan, single = true) {
    box.replaceChildren();
    const move = Object.assign(document.createElement("p"), { className: "plan-version" });
    const [from, to] = await Promise.all([versionLabel(plan.from_version_id), versionLabel(plan.to_version_id)]);
    move.textContent = plan.rebinds
      ? "Version: " + from + " → " + to + " (the run is re-bound to the current version)."
      : "Version: " + from + ", unchanged (a plain state reset).";
    const table = Object.assign(document.createElement("table"), { className: "table plan-tasks" });
    if (single) [move.id, table.id] = ["plan-version", "plan-tasks"];
    for (const [action, label] of PLAN_ORDER) {
      for (const t of plan.tasks.filter((x) => x.action === action)) {
        const row = table.insertRow();
        row.dataset.plan = action;
        cell(row, t.task_id);
        cell(row, label, "plan-" + action);
        cell(row, t.state_before || "—");
      }
    }
    box.append(move, table);
  }

  // Clear ``taskIds`` (null: the failed ones) in each of ``runs``: one dry run per run first,
  // the plans shown together, then one clear per run (each its own transaction).
  function clearTasks(dag, runs, what, where) {
    const request = (body, run, dryRun) => ({
      dry_run: dryRun,
      dag_run_id: run.run,
      task_ids: run.taskIds,
      only_failed: run.taskIds === null,
      include_downstream: $("#clear-downstream", body).checked,
      reset_dag_runs: true,
    });
    const path = "/api/v2/dags/" + enc(dag) + "/clearTaskInstances";
    const latest = newest();
    const preview = async (body) => {
      const box = $("#clear-plan", body);
      box.textContent = "Computing the plan…";
      $("#dialog-confirm").disabled = true;
      const ask = () => Promise.all(runs.map((run) => call("POST", path, request(body, run, true))));
      const answers = await latest(() => busyWhile(box, ask));
      if (answers === STALE) return;
      const plans = answers.map((r, i) => [runs[i].run, r.plan[0]]).filter(([, plan]) => plan);
      $("#dialog-confirm").disabled = plans.length === 0;
      if (plans.length === 0) { box.textContent = "Nothing to clear."; return; }
      if (runs.length === 1) { await renderPlan(box, plans[0][1]); return; }
      const parts = await Promise.all(plans.map(async ([run, plan]) => {
        const part = Object.assign(document.createElement("section"), { className: "plan-run" });
        part.dataset.run = run;
        const inner = document.createElement("div");
        await renderPlan(inner, plan, false);
        part.append(Object.assign(document.createElement("h3"), { textContent: "Run " + run }), inner);
        return part;
      }));
      box.replaceChildren(...parts);
    };
    const body = openDialog("tpl-clear-tasks", { what, where }, async (dialogBody) => {
      const done = [];
      try {
        for (const run of runs) {
          await call("POST", path, request(dialogBody, run, false));
          done.push(run.run);
        }
      } catch (err) {
        throw new Error(err.message + (done.length ? " (already cleared: " + done.join(", ") + ")" : ""));
      }
      reloadWith(runs.length === 1 ? "Cleared: the run is queued again." : "Cleared: " + runs.length + " runs are queued again.");
    });
    const rerun = () => preview(body).catch((err) => dialogError(err.message));
    $("#clear-downstream", body).addEventListener("change", rerun);
    rerun();
  }

  // One task, or one element of a mapped task (Airflow's [task_id, map_index] pair).
  function clearTask(b) {
    const { dag, run, task } = b.dataset;
    const mapIndex = Number(b.dataset.mapIndex ?? -1);
    const taskIds = mapIndex >= 0 ? [[task, mapIndex]] : [task];
    const what = mapIndex >= 0 ? task + "[" + mapIndex + "] (this element only)" : task;
    clearTasks(dag, [{ run, taskIds }], what, "run " + run);
  }

  // --- canary re-runs (ADR 0030): the dry-run plan first, then one action -----------------

  const CANARY_LABELS = { reused: "Reused", rerun: "Re-run", new: "New", removed: "Removed" };

  function renderCanaryPlan(box, plan) {
    if (plan.runs.length === 0) { box.textContent = plan.sourceLabel + " has no such runs to replay."; return; }
    const head = Object.assign(document.createElement("p"), { id: "canary-head" });
    head.textContent = plan.targetLabel + " replaying " + plan.runs.length + " run(s) of " + plan.sourceLabel
      + " · changed tasks: " + (plan.changedTasks.join(", ") || "none");
    const parts = plan.runs.map((run) => {
      const part = Object.assign(document.createElement("section"), { className: "plan-run" });
      part.dataset.run = run.sourceRunId;
      const title = run.sourceRunId + " (" + run.sourceState + ") → " + run.canaryRunId;
      const table = Object.assign(document.createElement("table"), { className: "table plan-tasks" });
      for (const t of run.tasks) {
        const row = table.insertRow();
        row.dataset.task = t.taskId;
        row.dataset.plan = t.action;
        cell(row, t.taskId);
        cell(row, CANARY_LABELS[t.action] || t.action, "plan-" + t.action);
        cell(row, t.reason, "muted");
      }
      part.append(Object.assign(document.createElement("h3"), { textContent: title }), table);
      if (run.problem) part.append(Object.assign(document.createElement("p"), { className: "alert alert-danger", textContent: run.problem }));
      return part;
    });
    box.replaceChildren(head, ...parts);
  }

  function canary(b) {
    const request = (body, dryRun) => ({
      fromVersionId: $("#canary-from", body).value || null,
      last: Number($("#canary-last", body).value || 5),
      failedOnly: $("#canary-failed", body).checked,
      reuse: $("#canary-reuse", body).checked,
      dryRun,
    });
    const body = openDialog("tpl-canary", b.dataset, async (dialogBody) => {
      const r = await call("POST", wf(b, "/canary"), request(dialogBody, false));
      goWith(page(b.dataset.id) + "/canary", "Canary started: " + r.runs.length + " run(s) of " + r.sourceLabel + ".");
    });
    const latest = newest();
    const preview = async () => {
      // The previous plan stays until the new one is there: the dialog keeps its size, so a
      // click on its fields does not land elsewhere while the plan is recomputed.
      const box = $("#canary-plan", body);
      // Confirm stays as it was too: leaving the number field by clicking Confirm fires its
      // change, and a button disabled on mousedown would swallow the click.
      box.setAttribute("aria-busy", "true");
      const plan = await latest(() => call("POST", wf(b, "/canary"), request(body, true)));
      if (plan === STALE) return;
      dialogError("");
      box.removeAttribute("aria-busy");
      renderCanaryPlan(box, plan);
      $("#dialog-confirm").disabled = plan.runs.length === 0 || plan.runs.some((r) => r.problem);
    };
    const rerun = () => preview().catch((err) => { $("#dialog-confirm").disabled = true; dialogError(err.message); });
    for (const id of ["#canary-from", "#canary-last", "#canary-failed", "#canary-reuse"]) $(id, body).addEventListener("change", rerun);
    rerun();
  }

  // --- the grid: select task instances of several runs, clear them at once -------------------

  const picked = new Map(); // "run\u0000task" -> { run, task }
  let selecting = false;

  function showSelection() {
    const grid = $("#runs-grid");
    if (grid) grid.classList.toggle("selecting", selecting);
    for (const a of document.querySelectorAll("#runs-grid a.cell[data-task]")) {
      const on = picked.has(a.dataset.run + "\u0000" + a.dataset.task);
      a.classList.toggle("selected", on);
      if (selecting) a.setAttribute("aria-pressed", String(on)); else a.removeAttribute("aria-pressed");
    }
    const count = $("#selection-count");
    if (count) count.textContent = selecting ? picked.size + " selected" : "";
    const clear = $("#clear-selected");
    if (clear) { clear.hidden = !selecting; clear.disabled = picked.size === 0; }
    const toggle = $("#select-tasks");
    if (toggle) {
      toggle.setAttribute("aria-pressed", String(selecting));
      toggle.textContent = selecting ? "Done selecting" : "Select tasks to clear";
    }
  }

  function pickCell(event) {
    const a = event.target.closest("#runs-grid a.cell[data-task]");
    if (!selecting || !a) return;
    event.preventDefault();
    if (!a.dataset.clearable) { flash(a.dataset.task + " is " + a.dataset.state + " in " + a.dataset.run + ": only finished tasks can be cleared.", true); return; }
    const key = a.dataset.run + "\u0000" + a.dataset.task;
    if (picked.has(key)) picked.delete(key); else picked.set(key, { run: a.dataset.run, task: a.dataset.task });
    showSelection();
  }

  function clearSelected(b) {
    const byRun = new Map();
    for (const { run, task } of picked.values()) byRun.set(run, [...(byRun.get(run) || []), task]);
    const runs = [...byRun].map(([run, taskIds]) => ({ run, taskIds }));
    const where = runs.length === 1 ? "run " + runs[0].run : runs.length + " runs";
    clearTasks(b.dataset.dag, runs, picked.size + " task instance(s)", where);
  }

  // --- marking a task or a run: the task instances that would change, first ---------------

  const runPath = (dag, run) => "/api/v2/dags/" + enc(dag) + "/dagRuns/" + enc(run);

  function markTask(b) {
    const { dag, run, task } = b.dataset;
    const mapIndex = Number(b.dataset.mapIndex);
    const label = task + (mapIndex >= 0 ? "[" + mapIndex + "]" : "");
    const path = runPath(dag, run) + "/taskInstances/" + enc(task);
    const query = "?map_index=" + mapIndex;
    const request = (body) => ({
      new_state: $("#mark-state", body).value,
      include_upstream: $("#mark-upstream", body).checked,
      include_downstream: $("#mark-downstream", body).checked,
    });
    const body = openDialog("tpl-mark-task", { label, run }, async (dialogBody) => {
      const r = await call("PATCH", path + query, request(dialogBody));
      reloadWith("Marked " + r.task_instances.map(tiLabel).join(", ") + " " + request(dialogBody).new_state + ".");
    });
    $("#mark-state", body).value = b.dataset.state === "success" ? "failed" : "success";
    const latest = newest();
    const preview = async () => {
      const box = $("#mark-plan", body);
      box.textContent = "Computing…";
      $("#dialog-confirm").disabled = true;
      const asked = request(body); // what the plan is for, even if the fields change meanwhile
      const r = await latest(() => busyWhile(box, () => call("PATCH", path + "/dry_run" + query, asked)));
      if (r === STALE) return;
      $("#dialog-confirm").disabled = r.task_instances.length === 0;
      if (r.task_instances.length === 0) { box.textContent = "Nothing to change: they have this state already."; return; }
      const table = Object.assign(document.createElement("table"), { className: "table", id: "mark-tasks" });
      for (const ti of r.task_instances) {
        const row = table.insertRow();
        row.dataset.task = tiLabel(ti);
        cell(row, tiLabel(ti));
        cell(row, (ti.state || "none") + " → " + asked.new_state);
      }
      box.replaceChildren(table);
    };
    const rerun = () => preview().catch((err) => dialogError(err.message));
    for (const id of ["#mark-state", "#mark-upstream", "#mark-downstream"]) $(id, body).addEventListener("change", rerun);
    rerun();
  }

  const tiLabel = (ti) => ti.task_id + (ti.map_index >= 0 ? "[" + ti.map_index + "]" : "");

  const RUN_MARKS = {
    success: "every task not yet success, skipped or removed becomes success",
    failed: "its queued and running tasks become failed, the ones not started skipped; finished tasks keep their state",
  };

  function markRun(b) {
    const { dag, run, state } = b.dataset;
    openDialog("tpl-mark-run", { run, state, tasks: RUN_MARKS[state] }, async () => {
      const r = await call("PATCH", runPath(dag, run) + "?update_mask=state", { state });
      reloadWith("Run " + r.dag_run_id + " marked " + r.state + ".");
    });
  }

  // --- tries and logs ----------------------------------------------------------------------

  let logTimer = null;

  async function showTries(b) {
    const box = $("#tries");
    const res = await busyWhile(box, () => tracked(fetch(b.dataset.url, { credentials: "same-origin" })));
    if (!res.ok) throw new Error("Could not load the tries (HTTP " + res.status + ").");
    box.innerHTML = await res.text(); // our own template, escaped on the server
    $("#log").hidden = true;
    box.scrollIntoView({ block: "nearest" });
  }

  async function showLog(b) {
    clearTimeout(logTimer);
    const pre = $("#log");
    const r = await busyWhile(pre.hidden ? null : pre, () => api("GET", b.dataset.logUrl, undefined, "text/plain"));
    pre.textContent = r.ok ? r.data : messageOf(r);
    pre.hidden = false;
    const runLive = $("#run-live [data-live]");
    if (b.dataset.running && runLive && runLive.dataset.live === "1") {
      logTimer = setTimeout(() => showLog(b).catch(() => {}), POLL_MS * 2);
    }
  }

  // --- live refresh: re-fetch a fragment while it says it is live --------------------------

  function live(container) {
    let last = container.innerHTML;
    const tick = async () => {
      const inner = container.querySelector("[data-live]");
      if (!inner || inner.dataset.live !== "1") return;
      try {
        const res = await fetch(container.dataset.liveUrl, { credentials: "same-origin" });
        if (res.redirected) { location.assign(res.url); return; }
        if (res.ok) {
          const html = await res.text();
          if (html !== last) { container.innerHTML = html; last = html; showSelection(); }
        }
      } catch (err) { /* the server restarts or the network blips: try at the next tick */ }
      setTimeout(tick, POLL_MS);
    };
    setTimeout(tick, POLL_MS);
  }

  // --- the designer ------------------------------------------------------------------------

  function problemItems(list, items, kind) {
    for (const p of items) {
      list.append(Object.assign(document.createElement("li"), { className: kind, textContent: (p.location ? p.location + ": " : "") + p.message }));
    }
  }

  function designer(root) {
    const text = $("#designer-text", root);
    const status = $("#designer-status", root);
    const save = $("#designer-save", root);
    const editable = Boolean(root.dataset.editable);
    let [timer, seq, latest] = [null, 0, null];
    const check = async () => {
      const n = ++seq;
      status.textContent = "Checking…";
      const body = { yaml: text.value, workflowId: root.dataset.workflowId };
      const r = await busyWhile(status, () => call("POST", "/ui/api/designer/validate", body));
      if (n !== seq) return null;
      latest = r;
      const list = $("#designer-problems", root);
      list.replaceChildren();
      problemItems(list, r.errors, "error");
      problemItems(list, r.warnings, "warning");
      if (r.valid) $("#designer-graph", root).innerHTML = r.graph; // rendered by our template
      status.textContent = !r.valid ? r.errors.length + " error(s): fix them to save."
        : r.publishable ? "Valid: ready to publish." : r.warnings.length + " problem(s) to fix before publishing (a draft may be saved).";
      save.disabled = !(editable && r.valid);
      return r;
    };
    text.addEventListener("input", () => {
      clearTimeout(timer);
      latest = null;
      save.disabled = true;
      timer = setTimeout(() => check().catch((err) => { status.textContent = err.message; }), 250);
    });
    save.addEventListener("click", async () => {
      try {
        const checked = latest || (await check());
        if (!checked || !checked.valid) return;
        const patch = () => call("PATCH", "/api/workflows/" + enc(root.dataset.workflowId), checked.spec);
        const r = await busyWhile(save, patch);
        status.textContent = r.snapshotCreated ? "Saved: a new snapshot was created." : "Saved: nothing changed.";
      } catch (err) {
        status.textContent = err.message;
      } finally {
        save.disabled = !editable;
      }
    });
  }

  // --- wiring ------------------------------------------------------------------------------

  document.addEventListener("click", pickCell);
  document.addEventListener("click", (event) => {
    const b = event.target.closest("[data-action]");
    const handler = b && actions[b.dataset.action];
    if (!handler || b.tagName !== "BUTTON") return;
    event.preventDefault();
    if (b.getAttribute("aria-busy") === "true") return; // its previous click is still at work
    busyWhile(b, () => handler(b)).catch((err) => flash(err.message, true));
  });

  // A plain form (filters, login, logout) on its way: say so, and refuse a second submit.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (event.defaultPrevented || form.method === "dialog") return;
    form.setAttribute("aria-busy", "true");
    // After this tick: a submitter disabled now would leave its name out of the request.
    setTimeout(() => { for (const el of form.querySelectorAll("[type=submit]")) el.disabled = true; });
  });
  // Back to a page kept by the browser (the back button): its forms are idle again.
  window.addEventListener("pageshow", () => {
    for (const form of document.querySelectorAll("form[aria-busy]")) {
      form.removeAttribute("aria-busy");
      for (const el of form.querySelectorAll("[type=submit]")) el.disabled = false;
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    const pending = sessionStorage.getItem(FLASH_KEY);
    if (pending) { sessionStorage.removeItem(FLASH_KEY); flash(pending, false); }
    for (const el of document.querySelectorAll("[data-autosubmit]")) {
      el.addEventListener("change", () => el.form.requestSubmit());
    }
    for (const el of document.querySelectorAll("[data-live-url]")) live(el);
    const d = $("#designer");
    if (d) designer(d);
  });

  // For the page scripts of other modules (e.g. retirement.js): the authenticated API call
  // and the page's messages.
  window.pinflow = Object.freeze({ call, flash, reloadWith });
})();
