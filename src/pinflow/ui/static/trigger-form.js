// The trigger dialog's form (ADR 0025): one field per Param of the DAG, kept in sync with the
// raw JSON tab. Plain JavaScript, no build step (ADR 0005); loaded before pinflow.js, which
// calls it through window.PinflowTriggerForm.
(() => {
  "use strict";

  const $ = (sel, root = document) => root.querySelector(sel);

  // --- the trigger form: one field per Param, kept in sync with the raw JSON ----------------
  //
  // The JSON holds only what differs from the defaults (a param left out takes its default),
  // so the form and the JSON say the same thing and keys the DAG does not declare survive.

  function showTab(body, which) {
    for (const [tab, panel] of [["form", "#run-form"], ["json", "#run-json"]]) {
      $("#tab-" + tab, body).setAttribute("aria-selected", String(tab === which));
      $(panel, body).hidden = tab !== which;
    }
  }

  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const shown = (v) => (typeof v === "string" ? v : JSON.stringify(v));

  function paramInput(name, p) {
    const id = "param-" + name;
    let input;
    if (Array.isArray(p.enum)) {
      input = document.createElement("select");
      const noDefault = p.default === null || p.default === undefined;
      if (!p.required || noDefault) input.append(new Option(!noDefault ? "(default)" : p.required ? "(choose one)" : "(none)", ""));
      p.enum.forEach((option, i) => input.append(new Option(shown(option), String(i))));
    } else if (p.type === "boolean") {
      input = Object.assign(document.createElement("input"), { type: "checkbox" });
    } else if (p.type === "array" || p.type === "object") {
      input = Object.assign(document.createElement("textarea"), { rows: 2, spellcheck: false });
    } else {
      input = document.createElement("input");
      input.type = p.type === "integer" || p.type === "number" ? "number" : "text";
      if (input.type === "number") {
        input.step = p.type === "integer" ? "1" : "any";
        if (p.minimum !== null && p.minimum !== undefined) input.min = String(p.minimum);
        if (p.maximum !== null && p.maximum !== undefined) input.max = String(p.maximum);
      }
    }
    Object.assign(input, { id, name });
    input.dataset.param = name;
    if (p.required) input.required = true;
    return input;
  }

  // The field's value as JSON, or undefined when it is empty (the param takes its default).
  function fieldValue(input, p) {
    if (Array.isArray(p.enum)) return input.value === "" ? undefined : p.enum[Number(input.value)];
    if (p.type === "boolean") return input.checked ? true : p.default === true ? false : undefined;
    const raw = input.value;
    if (raw.trim() === "") return undefined;
    if (p.type === "integer" && /^-?\d+$/.test(raw.trim())) return Number(raw);
    if (p.type === "number" && raw.trim() !== "" && !Number.isNaN(Number(raw))) return Number(raw);
    if (p.type === "array" || p.type === "object") {
      try { return JSON.parse(raw); } catch (err) { return raw; } // the server says what is wrong
    }
    return raw;
  }

  function setField(input, p, value) {
    if (Array.isArray(p.enum)) {
      const i = p.enum.findIndex((option) => same(option, value));
      input.value = i < 0 ? "" : String(i);
    } else if (p.type === "boolean") input.checked = value === true;
    else input.value = value === null || value === undefined ? "" : shown(value);
  }

  function paramsForm(body, params) {
    const form = $("#run-form", body);
    const text = $("#run-conf", body);
    const warning = $("#run-conf-warning", body);
    const names = Object.keys(params);
    form.replaceChildren();
    if (names.length === 0) {
      form.append(Object.assign(document.createElement("p"), { className: "muted", textContent: "This DAG declares no parameters: use the raw JSON to pass a configuration." }));
    }
    const inputs = {};
    for (const name of names) {
      const p = params[name];
      const label = Object.assign(document.createElement("label"), { className: p.type === "boolean" ? "check param" : "param" });
      label.append(Object.assign(document.createElement("span"), { textContent: name + (p.required ? " *" : ""), className: "param-name" }));
      inputs[name] = paramInput(name, p);
      label.append(inputs[name]);
      const hint = [p.description, "type " + p.type, p.default === null || p.default === undefined ? (p.required ? "required" : "") : "default " + shown(p.default)];
      const help = Object.assign(document.createElement("small"), { className: "help", id: "help-" + name, textContent: hint.filter(Boolean).join(" · ") });
      inputs[name].setAttribute("aria-describedby", help.id);
      label.append(help);
      form.append(label);
    }
    const current = () => { try { const c = JSON.parse(text.value || "{}"); return c && typeof c === "object" && !Array.isArray(c) ? c : null; } catch (err) { return null; } };
    const warn = (conf) => {
      const unknown = conf ? Object.keys(conf).filter((k) => !(k in params)) : [];
      warning.textContent = conf === null ? "The raw JSON is not a valid JSON object: fix it, or edit the form to replace it."
        : unknown.length ? "Not a parameter of this DAG: " + unknown.join(", ") + ". Such keys are passed to the run as they are; check their spelling." : "";
      warning.hidden = !warning.textContent;
    };
    const toJson = () => {
      const conf = current() || {};
      for (const name of names) {
        const value = fieldValue(inputs[name], params[name]);
        if (value === undefined || same(value, params[name].default)) delete conf[name];
        else conf[name] = value;
      }
      text.value = JSON.stringify(conf, null, Object.keys(conf).length ? 2 : 0);
      warn(conf);
    };
    const toForm = () => {
      const conf = current();
      warn(conf);
      if (conf === null) return;
      for (const name of names) setField(inputs[name], params[name], name in conf ? conf[name] : params[name].default);
    };
    form.addEventListener("input", toJson);
    form.addEventListener("change", toJson);
    text.addEventListener("input", toForm);
    $("#tab-form", body).addEventListener("click", () => showTab(body, "form"));
    $("#tab-json", body).addEventListener("click", () => showTab(body, "json"));
    toForm();
  }

  window.PinflowTriggerForm = { paramsForm, showTab };
})();
